import Foundation
import PackagingModel
import WheelfarmBasics

/// A unified diff (what `diff -u` and `git diff` write), applied to an extracted source tree
/// with `patch -p1` semantics: the first path component is stripped, each hunk's old lines are
/// looked for at their stated line and then ever further away from it (an earlier hunk or a
/// newer release may have moved them), and no fuzz is allowed. Applied in Swift rather than
/// with `patch` because the tree comes from a stranger's sdist: no path may leave the tree or go
/// through a symbolic link, and a patch that does not apply changes nothing.
public struct SourcePatch: Sendable {
    /// One file's part of the diff.
    public struct FileChange: Sendable, Equatable {
        /// The path after stripping, relative to the tree.
        public var path: String
        /// The file is created (old side `/dev/null`).
        public var creates: Bool
        /// The file is removed (new side `/dev/null`).
        public var deletes: Bool
        public var hunks: [Hunk]
    }

    /// One `@@ -a,b +c,d @@` block.
    public struct Hunk: Sendable, Equatable {
        /// 1-based line of the old file where the hunk starts.
        public var oldStart: Int
        /// The hunk's header line number in the patch, for messages.
        public var patchLine: Int
        public var old: [String]
        public var new: [String]
        /// A `\ No newline at end of file` followed the old (or the new) side's last line.
        public var oldEndsWithoutNewline = false
        public var newEndsWithoutNewline = false
        /// `-0,0` or `+0,0`: the old or the new file is empty, which `diff -N` writes for a
        /// file created or removed (with a 1970 date where `/dev/null` would be).
        public var fromNothing = false
        public var toNothing = false
    }

    /// Why a patch was refused.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The file changes, in the patch's order.
    public let files: [FileChange]
    /// The name the messages use (the patch's file name).
    public let name: String

    /// Parses a unified diff; `strip` path components are removed from its file names.
    public init(text: String, name: String, strip: Int = 1) throws {
        self.name = name
        // CRLF patches (of CRLF sources) read like LF ones: lines are compared without their endings.
        let lines = TextLines.split(text).map(String.init)
        var files: [FileChange] = []
        var index = 0
        func fail(_ message: String, line: Int) -> Failure { Failure(description: "patch \(name), line \(line): \(message)") }
        while index < lines.count {
            guard lines[index].hasPrefix("--- "), index + 1 < lines.count, lines[index + 1].hasPrefix("+++ ") else {
                // Anything between file sections (`diff --git`, `index`, prose) is not part of the change.
                index += 1
                continue
            }
            let oldName = Self.fileName(lines[index].dropFirst(4))
            let newName = Self.fileName(lines[index + 1].dropFirst(4))
            let creates = oldName == "/dev/null"
            let deletes = newName == "/dev/null"
            if creates && deletes { throw fail("both sides are /dev/null", line: index + 1) }
            let named = deletes ? oldName : newName
            guard let path = Self.stripped(named, strip) else {
                throw fail("\(named.prefix(200)) is not a relative path inside the tree after stripping \(strip) component(s)", line: index + 2)
            }
            index += 2
            var hunks: [Hunk] = []
            while index < lines.count, lines[index].hasPrefix("@@ ") {
                guard let header = Self.hunkHeader(lines[index]) else {
                    throw fail("malformed hunk header \(lines[index].prefix(120))", line: index + 1)
                }
                let (oldCount, newCount) = (header.oldCount, header.newCount)
                var hunk = Hunk(oldStart: header.oldCount == 0 ? header.oldStart + 1 : header.oldStart, patchLine: index + 1, old: [], new: [])
                hunk.fromNothing = header.oldStart == 0 && header.oldCount == 0
                hunk.toNothing = header.newStart == 0 && header.newCount == 0
                index += 1
                while hunk.old.count < oldCount || hunk.new.count < newCount {
                    guard index < lines.count else { throw fail("the hunk ends early", line: hunk.patchLine) }
                    let line = lines[index]
                    let body = String(line.dropFirst())
                    switch line.first {
                    case " ", nil:
                        hunk.old.append(body)
                        hunk.new.append(body)
                    case "-": hunk.old.append(body)
                    case "+": hunk.new.append(body)
                    case "\\": break
                    default: throw fail("unexpected line in a hunk: \(line.prefix(120))", line: index + 1)
                    }
                    if hunk.old.count > oldCount || hunk.new.count > newCount {
                        throw fail("the hunk has more lines than its header says", line: hunk.patchLine)
                    }
                    index += 1
                    // The marker belongs to the line just read: the last of the old side, the new side, or both.
                    if index < lines.count, lines[index].hasPrefix("\\") {
                        if line.first != "+" { hunk.oldEndsWithoutNewline = true }
                        if line.first != "-" { hunk.newEndsWithoutNewline = true }
                        index += 1
                    }
                }
                hunks.append(hunk)
            }
            if hunks.isEmpty && !creates { throw fail("\(path) has no hunks", line: index) }
            files.append(FileChange(path: path, creates: creates, deletes: deletes, hunks: hunks))
        }
        if files.isEmpty { throw Failure(description: "patch \(name): no file changes found (is it a unified diff?)") }
        self.files = files
    }

    /// Applies every change under `root`, or none: each file's new text is made in memory
    /// first, and written only when every hunk of every file has found its place.
    /// - Returns: the changed paths, relative to `root`.
    @discardableResult
    public func apply(to root: String) throws -> [String] {
        var results: [(path: String, content: String?, mode: Int)] = []
        for file in files {
            let full = try Self.safePath(file.path, under: root, patch: name)
            var info = stat()
            let exists = lstat(full, &info) == 0
            if exists && (info.st_mode & S_IFMT) != S_IFREG {
                throw Failure(description: "patch \(name): \(file.path) is not a regular file in the sources")
            }
            let single = file.hunks.count == 1 ? file.hunks.first : nil
            let creates = file.creates || (single?.fromNothing == true && !exists)
            let deletes = file.deletes || single?.toNothing == true
            if creates && exists { throw Failure(description: "patch \(name): \(file.path) is created by the patch but already exists") }
            if !creates && !exists { throw Failure(description: "patch \(name): \(file.path) is not in the sources") }
            var before = ""
            if exists {
                guard let text = Files.readText(full, limit: 64 << 20) else {
                    throw Failure(description: "patch \(name): \(file.path) is not a UTF-8 text file of at most 64 MiB")
                }
                before = text
            }
            var text = Self.Text(before)
            var offset = 0
            for (number, hunk) in file.hunks.enumerated() {
                guard let at = text.find(hunk.old, near: hunk.oldStart - 1 + offset) else {
                    throw Failure(
                        description: "patch \(name): hunk #\(number + 1) for \(file.path) (line \(hunk.patchLine) of the patch, @@ -\(hunk.oldStart)) "
                            + "does not apply: its lines are not in the file")
                }
                text.lines.replaceSubrange(at..<(at + hunk.old.count), with: hunk.new)
                if at + hunk.new.count == text.lines.count { text.endsWithNewline = !hunk.newEndsWithoutNewline }
                offset = at + hunk.new.count - (hunk.oldStart - 1 + hunk.old.count)
            }
            results.append((full, deletes ? nil : text.joined, exists ? Int(info.st_mode & 0o777) : 0o644))
        }
        for (full, content, mode) in results {
            if let content {
                try Files.makeDirectories(Paths.parent(full))
                try Files.writeAtomically(Array(content.utf8), to: full, mode: mode)
            } else {
                try FileManager.default.removeItem(atPath: full)
            }
        }
        return files.map(\.path)
    }

    /// A file as lines, remembering whether it ended with a newline.
    struct Text {
        var lines: [String]
        var endsWithNewline: Bool
        /// The file's line ending (`\r\n` for a CRLF file), kept when the file is written back.
        var newline: String

        init(_ content: String) {
            var lines = TextLines.split(content).map(String.init)
            let ends = content.last.map { $0 == "\n" || $0 == "\r\n" || $0 == "\r" } ?? true
            endsWithNewline = ends
            if ends { lines.removeLast() }
            self.lines = lines
            newline = TextLines.usesCRLF(content) ? "\r\n" : "\n"
        }

        var joined: String { lines.joined(separator: newline) + (endsWithNewline && !lines.isEmpty ? newline : "") }

        /// Where `old` is, looking first at `expected` and then ever further away from it.
        func find(_ old: [String], near expected: Int) -> Int? {
            // A hunk without old lines (a new file, or lines added with no context) goes where it says.
            if old.isEmpty { return min(max(expected, 0), lines.count) }
            let last = lines.count - old.count
            guard last >= 0 else { return nil }
            let start = min(max(expected, 0), last)
            for distance in 0...max(start, last - start) {
                for at in [start - distance, start + distance] where at >= 0 && at <= last {
                    if Array(lines[at..<(at + old.count)]) == old { return at }
                }
            }
            return nil
        }
    }

    /// The name on a `---`/`+++` line without its timestamp or quotes.
    static func fileName(_ field: Substring) -> String {
        var name = String(field.split(separator: "\t", maxSplits: 1).first ?? "")
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
        return name.trimmingCharacters(in: .whitespaces)
    }

    /// The path with `strip` leading components removed, if what remains stays inside the tree.
    static func stripped(_ name: String, _ strip: Int) -> String? {
        guard !name.hasPrefix("/") || strip > 0 else { return nil }
        let parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count > strip else { return nil }
        let kept = Array(parts.dropFirst(strip))
        guard kept.allSatisfy({ $0 != ".." && $0 != "." && !$0.contains("\0") }) else { return nil }
        return kept.joined(separator: "/")
    }

    /// `@@ -a[,b] +c[,d] @@`; a missing count is 1.
    static func hunkHeader(_ line: String) -> (oldStart: Int, oldCount: Int, newStart: Int, newCount: Int)? {
        let fields = line.split(separator: " ")
        guard fields.count >= 4, fields[0] == "@@", fields[1].hasPrefix("-"), fields[2].hasPrefix("+"), fields[3].hasPrefix("@@") else { return nil }
        func range(_ text: Substring) -> (Int, Int)? {
            let parts = text.dropFirst().split(separator: ",", omittingEmptySubsequences: false)
            guard let start = Int(parts[0]), start >= 0 else { return nil }
            guard parts.count > 1 else { return (start, 1) }
            guard parts.count == 2, let count = Int(parts[1]), count >= 0 else { return nil }
            return (start, count)
        }
        guard let old = range(fields[1]), let new = range(fields[2]) else { return nil }
        return (old.0, old.1, new.0, new.1)
    }

    /// The full path of `relative` under `root`, refusing any existing component that is a
    /// symbolic link or not a folder: the sdist decides what the tree holds.
    static func safePath(_ relative: String, under root: String, patch: String) throws -> String {
        var path = root
        let parts = relative.split(separator: "/").map(String.init)
        for (index, part) in parts.enumerated() {
            path += "/" + part
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFLNK { throw Failure(description: "patch \(patch): \(relative) goes through a symbolic link in the sources") }
            if index < parts.count - 1 && kind != S_IFDIR { throw Failure(description: "patch \(patch): \(relative) goes through a file") }
        }
        return path
    }
}
