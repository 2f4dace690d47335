import Foundation
import TOMLKit

/// The `[build-system]` table of a pyproject.toml (PEP 517/518), with the defaults pip applies
/// to projects that have none.
public struct BuildSystem: Equatable, Sendable {
    /// Static build requirements.
    public var requires: [String]
    /// The backend, `module:object`.
    public var backend: String
    /// In-tree backend locations.
    public var backendPath: [String]

    /// What pip assumes for a project with only setup.py.
    public static let legacyDefault = BuildSystem(requires: ["setuptools>=40.8.0"], backend: "setuptools.build_meta:__legacy__", backendPath: [])

    /// Creates a value.
    public init(requires: [String], backend: String, backendPath: [String]) {
        self.requires = requires
        self.backend = backend
        self.backendPath = backendPath
    }

    /// Reads `[build-system]` from pyproject.toml text with a real TOML parser (CRLF line
    /// endings and a byte-order mark are read as pip reads them); nil when the file has no such
    /// table, which gets pip's legacy default. A file that is not TOML, or a table whose values
    /// have the wrong types, is an error naming the line and column: never a silent default.
    public init?(pyproject text: String) throws {
        let table: TOMLTable
        do { table = try TOMLTable(string: String(TextLines.withoutBOM(text))) } catch let error as TOMLParseError {
            throw PackagingError.malformedPyproject(
                "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw PackagingError.malformedPyproject("\(error)")
        }
        guard let value = table["build-system"] else { return nil }
        guard let system = value.table else { throw PackagingError.malformedPyproject("build-system is not a table") }
        func strings(_ key: String) throws -> [String]? {
            guard let value = system[key] else { return nil }
            guard let array = value.array else { throw PackagingError.malformedPyproject("build-system.\(key) is not an array of strings") }
            let items = array.compactMap(\.string)
            guard items.count == array.count else { throw PackagingError.malformedPyproject("build-system.\(key) holds something other than strings") }
            return items
        }
        requires = try strings("requires") ?? []
        if let backend = system["build-backend"] {
            guard let name = backend.string else { throw PackagingError.malformedPyproject("build-system.build-backend is not a string") }
            self.backend = name
        } else {
            backend = BuildSystem.legacyDefault.backend
        }
        backendPath = try strings("backend-path") ?? []
    }
}
