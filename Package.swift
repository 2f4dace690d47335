// swift-tools-version:6.2
import PackageDescription

// The dependency set is deliberate: CI builds from scratch on 2 cores, so
// only swift-argument-parser, Hummingbird (the repository's HTTP server,
// with TLS), GRDB (the farm's SQLite state), TOMLKit (its configuration
// file), swift-mustache (the dashboard's templates) and swift-prometheus
// (its metrics; swift-metrics and swift-atomics come with Hummingbird
// anyway) come from outside; archives, digests and Ed25519 use the
// system's libarchive and libcrypto, and the PostgreSQL engine of the
// farm's state Debian's libpq, through pkg-config.
let package = Package(
    name: "wheelfarm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wheelfarm", targets: ["wheelfarm"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")
    ],
    targets: [
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CSupport"),
        .target(name: "WheelfarmBasics", dependencies: ["CCrypto", "CSupport"], exclude: ["README.md"]),
        .target(name: "PackagingModel", dependencies: ["WheelfarmBasics", .product(name: "TOMLKit", package: "TOMLKit")], exclude: ["README.md"]),
        .target(name: "ELFInspection", exclude: ["README.md"]),
        .target(name: "WheelArchive", dependencies: ["CArchive", "WheelfarmBasics", "PackagingModel", "ELFInspection"], exclude: ["README.md"]),
        .target(name: "WheelAudit", dependencies: ["ELFInspection", "WheelArchive", "PackagingModel", "WheelfarmBasics"], exclude: ["README.md"]),
        .target(name: "PackageIndex", dependencies: ["PackagingModel", "WheelfarmBasics"], exclude: ["README.md"]),
        .target(name: "BuildSandbox", dependencies: ["WheelfarmBasics", "CSeccomp"], exclude: ["README.md"]),
        .target(name: "Signing", dependencies: ["CCrypto", "WheelfarmBasics"], exclude: ["README.md"]),
        .target(name: "Repository", dependencies: ["CSupport", "WheelArchive", "PackagingModel", "WheelfarmBasics"], exclude: ["README.md"]),
        .target(
            name: "RepositoryServer",
            dependencies: [
                "Repository", "PackagingModel", "WheelfarmBasics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird")
            ], exclude: ["README.md"]),
        .target(
            name: "WheelBuilder", dependencies: ["BuildSandbox", "PackageIndex", "WheelAudit", "WheelArchive", "PackagingModel", "Signing", "WheelfarmBasics"],
            exclude: ["README.md"]),
        .target(
            name: "FarmStore", dependencies: ["WheelfarmBasics", "CPostgres", .product(name: "GRDB", package: "GRDB.swift")], exclude: ["README.md"]),
        .target(
            name: "FarmCore",
            dependencies: [
                "FarmStore", "WheelBuilder", "BuildSandbox", "WheelAudit", "Signing", "PackageIndex", "PackagingModel", "WheelArchive", "Repository",
                "WheelfarmBasics",
                .product(name: "TOMLKit", package: "TOMLKit")
            ], exclude: ["README.md"]),
        .target(
            name: "FarmWeb",
            dependencies: [
                "FarmCore", "FarmStore", "Repository", "RepositoryServer", "PackagingModel", "WheelfarmBasics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ], exclude: ["README.md"]),
        .target(
            name: "WheelfarmCommands",
            dependencies: [
                "FarmCore", "FarmStore", "WheelBuilder", "PackageIndex", "BuildSandbox", "WheelAudit", "WheelArchive", "PackagingModel", "Signing",
                "WheelfarmBasics",
                "Repository", "RepositoryServer", "FarmWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ], exclude: ["README.md"]),
        .executableTarget(name: "wheelfarm", dependencies: ["WheelfarmCommands"]),
        // The sandbox's last step before a build's command: loads its seccomp filter. Static, so it runs in every root.
        // (An AddressSanitizer build, WHEELFARM_ASAN=1, cannot link it statically: the unit suites need no sandbox.)
        .executableTarget(
            name: "wheelfarm-launch",
            linkerSettings: Context.environment["WHEELFARM_ASAN"] == "1" ? [] : [.unsafeFlags(["-static-executable"])]),
        // Fuzz harnesses of the host-side parsers (ELF, wheel/zip, METADATA, RECORD, requirements
        // and markers, patches): ci/fuzz.sh builds them with libFuzzer; a normal build replays files.
        .executableTarget(
            name: "wheelfarm-fuzz", dependencies: ["ELFInspection", "PackagingModel", "WheelArchive", "WheelBuilder", "WheelfarmBasics"]),
        // Fakes shipped for tests: a scripted sandbox, an index in memory, fixture images and wheels, a manual clock.
        .target(
            name: "WheelfarmTesting", dependencies: ["WheelBuilder", "BuildSandbox", "PackageIndex", "PackagingModel", "WheelArchive", "WheelfarmBasics"],
            exclude: ["README.md"]),
        .target(name: "TestSupport", dependencies: ["WheelfarmBasics", "WheelArchive", "PackagingModel"], path: "Tests/TestSupport"),
        .testTarget(name: "WheelfarmBasicsTests", dependencies: ["WheelfarmBasics"]),
        .testTarget(name: "PackagingModelTests", dependencies: ["PackagingModel", "WheelfarmBasics"]),
        .testTarget(name: "ELFInspectionTests", dependencies: ["ELFInspection", "WheelfarmBasics", "TestSupport"]),
        .testTarget(name: "WheelArchiveTests", dependencies: ["WheelArchive", "WheelfarmBasics", "TestSupport", "PackagingModel"]),
        .testTarget(name: "WheelAuditTests", dependencies: ["WheelAudit", "WheelArchive", "WheelfarmBasics", "PackagingModel", "TestSupport"]),
        .testTarget(name: "PackageIndexTests", dependencies: ["PackageIndex", "PackagingModel", "WheelfarmBasics", "TestSupport"]),
        .testTarget(
            name: "WheelBuilderTests",
            dependencies: [
                "WheelBuilder", "WheelfarmTesting", "Signing", "BuildSandbox", "PackageIndex", "PackagingModel", "WheelAudit", "WheelArchive",
                "WheelfarmBasics", "TestSupport"
            ]),
        .testTarget(name: "BuildSandboxTests", dependencies: ["BuildSandbox", "WheelAudit", "WheelfarmBasics", "TestSupport", "WheelfarmCommands"]),
        .testTarget(name: "RepositoryTests", dependencies: ["Repository", "RepositoryServer", "Signing", "WheelfarmBasics", "TestSupport"]),
        .testTarget(
            name: "FarmTests",
            dependencies: [
                "FarmCore", "FarmStore", "WheelfarmCommands", "WheelBuilder", "WheelfarmBasics", "PackagingModel", "TestSupport", "Repository",
                "RepositoryServer", "Signing", "PackageIndex",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .testTarget(
            name: "WheelfarmCommandsTests",
            dependencies: [
                "WheelfarmCommands", "FarmCore", "WheelBuilder", "WheelfarmTesting", "WheelfarmBasics", "Repository",
                "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .testTarget(
            name: "FarmWebTests",
            dependencies: ["FarmWeb", "FarmCore", "FarmStore", "Repository", "RepositoryServer", "WheelfarmBasics", "TestSupport", "Signing"],
            exclude: ["browser"]),
        .testTarget(name: "SigningTests", dependencies: ["Signing", "WheelfarmBasics", "TestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "WheelfarmCommands", "FarmCore", "Signing", .product(name: "ArgumentParser", package: "swift-argument-parser"), "WheelAudit", "WheelArchive",
                "WheelfarmBasics", "PackagingModel", "TestSupport", "WheelBuilder"
            ])
    ],
    swiftLanguageModes: [.v6]
)
