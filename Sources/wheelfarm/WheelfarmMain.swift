import WheelfarmCommands

@main
struct WheelfarmMain {
    static func main() { Wheelfarm.main() }
}
