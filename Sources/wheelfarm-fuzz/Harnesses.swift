import ELFInspection
import Foundation
import PackagingModel
import WheelArchive
import WheelBuilder
import WheelfarmBasics

/// The fuzz harnesses of the host-side parsers: each takes arbitrary bytes and must return
/// (or throw) without crashing, whatever they are. `ci/fuzz.sh` builds this with libFuzzer
/// (`-sanitize=fuzzer,address`); a normal build replays files through the same harnesses.
enum Harness: String, CaseIterable {
    case elf, wheel, metadata, record, requirement, marker, patch

    /// The harness named by `WHEELFARM_FUZZ_TARGET`.
    static var selected: Harness? {
        ProcessInfo.processInfo.environment["WHEELFARM_FUZZ_TARGET"].flatMap(Harness.init(rawValue:))
    }

    func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .elf:
            if let elf = try? ELFFile(bytes: bytes) {
                _ = elf.isPythonExtension(fileName: "x.so")
                _ = elf.dynamicSymbols.count
            }
        case .wheel:
            // The zip reader and the wheel's checks read from a file, as they do a build's output.
            let path = Self.scratch + "/fuzz-1.0-py3-none-any.whl"
            guard (try? Files.writeAtomically(bytes, to: path)) != nil else { return }
            if let wheel = try? Wheel(path: path, selection: .everything) { _ = wheel.binaries.count }
            _ = try? Wheel(path: path, selection: .binariesAndMetadata)
        case .metadata:
            let metadata = MetadataFile(parsing: text)
            _ = metadata.values("Requires-Dist").map { Requirement($0) }
        case .record:
            _ = try? RecordFile(parsing: text)
        case .requirement:
            for line in text.split(whereSeparator: \.isNewline) {
                _ = Requirement.validated(String(line))
                if let requirement = Requirement(String(line)) {
                    _ = requirement.applies(in: Marker.Environment(pythonFullVersion: "3.11.2", machine: "x86_64"))
                }
            }
            _ = PackageVersion(text)
        case .marker:
            if let marker = try? Marker(parsing: text) {
                _ = marker.evaluate(Marker.Environment(pythonFullVersion: "3.11.2", machine: "x86_64"))
            }
        case .patch:
            guard let patch = try? SourcePatch(text: text, name: "fuzz.patch") else { return }
            // Applied to a small tree of its own, made afresh each time.
            let root = Self.scratch + "/tree"
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
            try? Files.writeAtomically(Array("one\ntwo\nthree\r\nfour\n".utf8), to: root + "/src/a.c")
            _ = try? patch.apply(to: root)
        }
    }

    /// A folder of this process's own for harnesses that need files.
    static let scratch: String = {
        let path = NSTemporaryDirectory() + "/wheelfarm-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()
}

#if WHEELFARM_FUZZ
    /// libFuzzer's entry point.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        guard let harness = Harness.selected else {
            FileHandle.standardError.write(Data("set WHEELFARM_FUZZ_TARGET to one of \(Harness.allCases.map(\.rawValue))\n".utf8))
            exit(2)
        }
        harness.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
#else
    /// Without libFuzzer: `wheelfarm-fuzz TARGET FILE...` runs each file through the harness
    /// (the seed corpora in `ci/fuzz/corpus/` replay this way in the unit tests).
    @main
    enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let harness = Harness(rawValue: name) else {
                print("usage: wheelfarm-fuzz {\(Harness.allCases.map(\.rawValue).joined(separator: "|"))} FILE...")
                exit(64)
            }
            var count = 0
            for path in arguments.dropFirst() {
                guard let bytes = try? Files.readBytes(path) else { continue }
                harness.run(bytes)
                count += 1
            }
            print("\(harness.rawValue): \(count) inputs, no crash")
        }
    }
#endif
