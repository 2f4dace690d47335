import WheelfarmCommands

@main
struct WheelfarmMain {
    static func main() async { await Wheelfarm.main() }
}
