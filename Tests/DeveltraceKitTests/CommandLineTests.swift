import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// The `develtrace trace` command as a user runs it.
    @Suite struct CommandLine {
        static var executable: String { Harness.packageRoot.appendingPathComponent(".build/debug/develtrace").path }

        struct Run {
            var status: Int32
            var stdout: Data
            var stderr: String
        }

        /// Runs develtrace in `directory`, with recorded reference builds
        /// kept there (a test's own, gone with its directory), not in the
        /// user's cache.
        static func run(_ arguments: [String], in directory: URL) throws -> Run {
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_CACHE_HOME"] = directory.appendingPathComponent(".cache").path
            let run = try Harness.capture([executable] + arguments, in: directory, environment: environment)
            return Run(status: run.status, stdout: run.stdout, stderr: run.stderr)
        }

        @Test("jsonl carries a non-UTF-8 path exactly (pathBase64)")
        func jsonLinesKeepBytes() throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.executable), "swift build first")
            let program = try Harness.fixtureProgram("multi")
            let work = try Harness.workDirectory("cli-jsonl")
            defer { try? FileManager.default.removeItem(at: work) }
            let output = work.appendingPathComponent("trace.jsonl")
            let run = try Self.run(["trace", "--format", "jsonl", "--output", output.path, "--", program, work.path], in: work)
            #expect(run.status == 0, "\(run.stderr)")
            let expected = Array(work.path.utf8) + Array("/bad-".utf8) + [0xFF, 0xFE] + Array("-name.h".utf8)
            var kinds: [String: Int] = [:]
            var found = false
            for line in try Data(contentsOf: output).split(separator: 10) {
                let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
                let kind = try #require(object["kind"] as? String)
                kinds[kind, default: 0] += 1
                if kind == "access", let encoded = object["pathBase64"] as? String, Base64.decode(encoded) == expected {
                    found = true
                    #expect((object["path"] as? String)?.contains("\u{FFFD}") == true)
                }
            }
            #expect(found, "the non-UTF-8 name is in the trace byte for byte")
            #expect(kinds["access", default: 0] > 50)
            #expect(kinds["process", default: 0] >= 5)
            #expect(kinds["exit"] == 1)
        }

        @Test(
            "bad options and bad sandbox paths exit 2 with one clear line",
            arguments: [
                (["trace", "--bind", "/nonexistent/develtrace-src:/srv/x", "--", "/bin/true"], "/nonexistent/develtrace-src"),
                (["trace", "--timeout", "-3", "--", "/bin/true"], "--timeout"),
                (["trace"], "Give the command to trace"),
                (["trace", "--format", "yaml", "--", "/bin/true"], "yaml"),
                (["trace", "--hide", "relative/path", "--", "/bin/true"], "relative/path: sandbox paths must be absolute"),
                // It exited 0 (a CleanExit).
                (
                    ["trace", "--output", "/nonexistent/develtrace-out/t.jsonl", "--", "/bin/true"],
                    "cannot write /nonexistent/develtrace-out/t.jsonl: No such file or directory"
                ),
                // It exited 0: write errors were dropped.
                (["trace", "--output", "/dev/full", "--", "/bin/true"], "cannot write /dev/full: No space left on device"),
                (["trace", "--stats", "/dev/full", "--", "/bin/true"], "cannot write /dev/full: No space left on device"),
                (["trace", "--untraced", "--no-sandbox", "--", "/bin/true"], "--untraced runs the command in the sandbox"),
            ])
        func badInput(arguments: [String], mentions: String) throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.executable), "swift build first")
            let work = try Harness.workDirectory("cli-bad")
            defer { try? FileManager.default.removeItem(at: work) }
            let run = try Self.run(arguments, in: work)
            #expect(run.status == 2, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(mentions), "\(run.stderr)")
            #expect(!run.stderr.contains("Fatal error"))
        }

        @Test("text output: one line per access and a summary; the status passes through")
        func textOutput() throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.executable), "swift build first")
            let work = try Harness.workDirectory("cli-text")
            defer { try? FileManager.default.removeItem(at: work) }
            let run = try Self.run(["trace", "--", "/bin/sh", "-c", "cat /develtrace-nothing-here 2>/dev/null; exit 7"], in: work)
            #expect(run.status == 7)
            let text = String(decoding: run.stdout, as: UTF8.self)
            #expect(text.contains("openat read ENOENT /develtrace-nothing-here\n"))
            #expect(text.contains("exit status 7 (completed)"))
        }
    }
}

extension Machine.CommandLine {
    /// bench-trace's "sandbox alone" row: the same sandbox, nothing traced.
    @Test("--untraced: the command's status, no access and no process in the trace, and still the sandbox (a write to the host is caught)")
    func untraced() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable), "swift build first")
        let work = try Harness.workDirectory("cli-untraced")
        defer { try? FileManager.default.removeItem(at: work) }
        let target = work.appendingPathComponent("written-by-the-command")
        let output = work.appendingPathComponent("trace.jsonl")
        let script = "cat /etc/hostname >/dev/null; echo x > \(target.path); test -e \(target.path) || exit 9; exit 5"
        let run = try Self.run(
            ["trace", "--untraced", "--format", "jsonl", "--output", output.path, "--", "/bin/sh", "-c", script], in: work)
        #expect(run.status == 5, "\(run.stderr)")
        var kinds: [String: Int] = [:]
        for line in try Data(contentsOf: output).split(separator: 10) {
            let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
            kinds[object["kind"] as? String ?? "", default: 0] += 1
        }
        #expect(kinds["access"] == nil && kinds["process"] == nil, "\(kinds)")
        #expect(kinds["exit"] == 1)
        // The command saw its write (the overlay of the working directory);
        // the host did not get it, and the trace lists it.
        #expect(!FileManager.default.fileExists(atPath: target.path))
        #expect(kinds["write", default: 0] >= 1, "\(kinds)")

        // Traced, the same command gives accesses and processes.
        let traced = try Self.run(["trace", "--format", "jsonl", "--output", output.path, "--", "/bin/sh", "-c", script], in: work)
        #expect(traced.status == 5)
        #expect(String(decoding: try Data(contentsOf: output), as: UTF8.self).contains("\"kind\":\"access\""))
    }

    @Test("trace --help shows the help instead of running --help")
    func help() throws {
        let run = try Self.run(["trace", "--help"], in: Harness.packageRoot)
        #expect(run.status == 0)
        #expect(String(decoding: run.stdout, as: UTF8.self).hasPrefix("OVERVIEW: Run a command in the sandbox"))
    }

    @Test(
        "every way to ask for help prints it and exits 0 (once an internal error)",
        arguments: [["--help"], ["check", "--help"], ["help", "check"], ["merge", "-h"], ["report", "--help"]])
    func helpEverywhere(arguments: [String]) throws {
        let run = try Self.run(arguments, in: Harness.packageRoot)
        #expect(run.status == 0, "\(run.stderr)")
        let text = String(decoding: run.stdout, as: UTF8.self)
        #expect(text.hasPrefix("OVERVIEW: ") && text.contains("USAGE: develtrace"), "\(text)")
        #expect(!run.stderr.contains("internal error"))
    }
}
