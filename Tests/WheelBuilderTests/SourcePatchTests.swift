import Foundation
import TestSupport
@_spi(AnyProgram) import WheelfarmBasics
import XCTest

@testable import WheelBuilder

/// Patches as `diff -ruN` and `git diff` write them, applied to trees made here; the result is
/// compared with the tree the diff was made from.
final class SourcePatchTests: XCTestCase {
    var work: TemporaryDirectory!

    override func setUp() async throws { work = try TemporaryDirectory(prefix: "wf-patch") }
    override func tearDown() { work = nil }

    func write(_ files: [String: String], under root: String) throws {
        for (path, text) in files {
            try FileManager.default.createDirectory(atPath: Paths.parent("\(root)/\(path)"), withIntermediateDirectories: true)
            try Files.writeAtomically(Array(text.utf8), to: "\(root)/\(path)")
        }
    }

    /// `diff -ruN a b` run in the work folder: the patch from `old` to `new`.
    func diff(_ old: [String: String], _ new: [String: String]) throws -> String {
        try write(old, under: "\(work.path)/a")
        try write(new, under: "\(work.path)/b")
        let result = try ProcessRunner.run("sh", ["-c", "cd \(work.path) && diff -ruN a b"])
        XCTAssertEqual(result.status, 1, "diff found differences: \(result.stderr)")
        return result.stdout
    }

    func testModifiedCreatedAndDeletedFilesMatchTheTreeTheDiffWasMadeFrom() throws {
        let old = [
            "setup.py": "from setuptools import setup\nsetup()\n", "src/mod.c": (1...40).map { "line \($0)" }.joined(separator: "\n") + "\n",
            "gone.txt": "bye\n", "noeol.txt": "a\nb"
        ]
        var new = old
        new["src/mod.c"] = (1...40).map { $0 == 3 ? "changed 3" : $0 == 30 ? "changed 30" : "line \($0)" }.joined(separator: "\n") + "\nline 41\n"
        new["src/new.h"] = "#define NEW 1\n"
        new["gone.txt"] = nil
        new["noeol.txt"] = "a\nc\n"
        let patch = try diff(old, new)
        try write(old, under: "\(work.path)/tree")
        let changed = try SourcePatch(text: patch, name: "t.patch").apply(to: "\(work.path)/tree")
        XCTAssertEqual(Set(changed), ["src/mod.c", "src/new.h", "gone.txt", "noeol.txt"])
        XCTAssertEqual(try ProcessRunner.run("diff", ["-r", "\(work.path)/b", "\(work.path)/tree"]).status, 0)
    }

    func testHunksAreFoundWhereLinesMovedAndModesAreKept() throws {
        let body = (1...12).map { "echo \($0)" }
        let old = ["run.sh": (["#!/bin/sh"] + body).joined(separator: "\n") + "\n"]
        let new = ["run.sh": (["#!/bin/sh"] + body.map { $0 == "echo 8" ? "echo eight" : $0 }).joined(separator: "\n") + "\n"]
        let patch = try diff(old, new)
        // The release being patched has five more lines at the top: the hunk is found 5 lines on.
        let header = Array(repeating: "# header", count: 5)
        try write(["run.sh": (["#!/bin/sh"] + header + body).joined(separator: "\n") + "\n"], under: "\(work.path)/tree")
        chmod("\(work.path)/tree/run.sh", 0o755)
        try SourcePatch(text: patch, name: "t.patch").apply(to: "\(work.path)/tree")
        XCTAssertEqual(
            try String(contentsOfFile: "\(work.path)/tree/run.sh", encoding: .utf8),
            (["#!/bin/sh"] + header + body.map { $0 == "echo 8" ? "echo eight" : $0 }).joined(separator: "\n") + "\n")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "\(work.path)/tree/run.sh"))
    }

    func testAHunkThatDoesNotApplyNamesItselfAndChangesNothing() throws {
        let old = ["a.txt": "one\ntwo\n", "b.txt": "three\nfour\n"]
        let patch = try diff(old, ["a.txt": "one\n2\n", "b.txt": "three\n4\n"])
        try write(["a.txt": "one\ntwo\n", "b.txt": "something else\n"], under: "\(work.path)/tree")
        XCTAssertThrowsError(try SourcePatch(text: patch, name: "fix.patch").apply(to: "\(work.path)/tree")) { error in
            XCTAssertTrue("\(error)".hasPrefix("patch fix.patch: hunk #1 for b.txt (line "), "\(error)")
        }
        // a.txt's hunk applied in memory only: the tree is as it was.
        XCTAssertEqual(try String(contentsOfFile: "\(work.path)/tree/a.txt", encoding: .utf8), "one\ntwo\n")
    }

    func testPathsLeavingTheTreeOrThroughSymlinksAreRefused() throws {
        let escape = "--- a/../outside.txt\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+x\n"
        XCTAssertThrowsError(try SourcePatch(text: escape, name: "e.patch")) { error in
            XCTAssertTrue("\(error)".contains("not a relative path inside the tree"), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: "\(work.path)/tree", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(work.path)/elsewhere", withIntermediateDirectories: true)
        try write(["victim.txt": "keep\n"], under: "\(work.path)/elsewhere")
        try FileManager.default.createSymbolicLink(atPath: "\(work.path)/tree/link", withDestinationPath: "\(work.path)/elsewhere")
        let through = "--- a/link/victim.txt\n+++ b/link/victim.txt\n@@ -1 +1 @@\n-keep\n+owned\n"
        XCTAssertThrowsError(try SourcePatch(text: through, name: "s.patch").apply(to: "\(work.path)/tree")) { error in
            XCTAssertTrue("\(error)".contains("goes through a symbolic link"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: "\(work.path)/elsewhere/victim.txt", encoding: .utf8), "keep\n")
    }

    func testGitStyleHeadersAndMalformedPatches() throws {
        let git = """
            diff --git a/x.py b/x.py
            index 1111111..2222222 100644
            --- a/x.py
            +++ b/x.py
            @@ -1 +1 @@
            -print(1)
            \\ No newline at end of file
            +print(2)

            """
        try write(["x.py": "print(1)"], under: "\(work.path)/tree")
        try SourcePatch(text: git, name: "g.patch").apply(to: "\(work.path)/tree")
        XCTAssertEqual(try String(contentsOfFile: "\(work.path)/tree/x.py", encoding: .utf8), "print(2)\n")
        XCTAssertThrowsError(try SourcePatch(text: "just prose\n", name: "p.patch"))
        XCTAssertThrowsError(try SourcePatch(text: "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n x\n", name: "short.patch")) { error in
            XCTAssertTrue("\(error)".contains("the hunk ends early"), "\(error)")
        }
    }

    /// A CRLF patch of CRLF sources (what `diff` makes of a tree checked out on Windows) applies,
    /// and the file keeps its CRLF line endings.
    func testACRLFPatchAppliesToCRLFSources() throws {
        let old = ["src/win.c": "int a;\r\nint b;\r\nint c;\r\n"]
        let new = ["src/win.c": "int a;\r\nint B;\r\nint c;\r\n"]
        let patch = try diff(old, new)
        XCTAssertTrue(patch.contains("\r\n"))
        try write(old, under: "\(work.path)/tree")
        _ = try SourcePatch(text: "\u{FEFF}" + patch, name: "crlf.patch").apply(to: "\(work.path)/tree")
        XCTAssertEqual(try String(contentsOfFile: "\(work.path)/tree/src/win.c", encoding: .utf8), "int a;\r\nint B;\r\nint c;\r\n")
    }
}

/// `recipe check`'s findings, each with its file and line.
final class RecipeCheckTests: XCTestCase {
    func testUnknownKeysAreNamedWithTheirLineAndAGuess() throws {
        let text = """
            {"packages": ["libffi-dev"],
             "enviroment": {"A": "1"},
             "resources": {"memory": 4},
             "overrides": [{"versions": "<2", "test_comand": "true"}],
             "//": "comments are fine"}
            """
        let problems = RecipeCheck.problems(in: text, file: "r/cffi.json")
        XCTAssertEqual(
            problems,
            [
                "r/cffi.json:2: unknown key \"enviroment\" (did you mean \"environment\"?)",
                "r/cffi.json:4: unknown key \"test_comand\" in overrides[0] (did you mean \"test_command\"?)",
                "r/cffi.json:3: unknown key \"memory\" in resources"
            ])
        XCTAssertEqual(RecipeCheck.problems(in: #"{"packages": "libffi-dev"}"#, file: "r/x.json"), ["r/x.json: packages: expected Array<Any>"])
        XCTAssertEqual(RecipeCheck.problems(in: #"{"extends": "mine"}"#, file: "r/x.json"), ["r/x.json:1: \"extends\" can only be \"builtin\""])
        XCTAssertTrue(RecipeCheck.problems(in: "{\n\"packages\": [,]\n}", file: "r/x.json").first?.hasPrefix("r/x.json: not valid JSON") == true)
    }

    func testTheShippedRecipesAreValid() throws {
        let result = try RecipeCheck.check(directory: "\(TestSupport.repositoryRoot)/recipes")
        XCTAssertGreaterThan(result.files, 0)
        XCTAssertEqual(result.problems, [])
    }
}
