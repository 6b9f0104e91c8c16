import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// `develtrace check` on bad input: one clear line naming the input, and
    /// the documented exit status.
    @Suite struct CheckCommandLine {
        static func work() throws -> URL {
            let url = try Harness.workDirectory("check-cli")
            try FileManager.default.createDirectory(at: url.appendingPathComponent("notbuilt"), withIntermediateDirectories: true)
            try "all:\n".write(to: url.appendingPathComponent("notbuilt/Makefile"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(at: url.appendingPathComponent("empty"), withIntermediateDirectories: true)
            try "this is not a debian package".write(to: url.appendingPathComponent("corrupt.deb"), atomically: true, encoding: .utf8)
            let brokenDkms = url.appendingPathComponent("broken-dkms")
            try FileManager.default.createDirectory(at: brokenDkms, withIntermediateDirectories: true)
            try "PACKAGE_NAME=\"x\"\nif then fi (\n".write(
                to: brokenDkms.appendingPathComponent("dkms.conf"), atomically: true, encoding: .utf8)
            let brokenModule = url.appendingPathComponent("broken-module")
            try FileManager.default.createDirectory(at: brokenModule, withIntermediateDirectories: true)
            try "int broken( { syntax error\n".write(to: brokenModule.appendingPathComponent("broken.c"), atomically: true, encoding: .utf8)
            try "obj-m := broken.o\n".write(to: brokenModule.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
            return url
        }

        @Test(
            "bad input exits 2 with one line that names it",
            arguments: [
                ("--build-tree", "/nonexistent/linux", "/nonexistent/linux: no such file or directory"),
                ("--build-tree", "notbuilt", "notbuilt: not a built kernel tree: .config is absent"),
                ("--candidate", "empty", "empty: no kbuild directory found"),
                ("--candidate", "corrupt.deb", "corrupt.deb: cannot be unpacked"),
                ("--candidate", "/nonexistent/candidate", "/nonexistent/candidate: no such file or directory"),
                ("--module", "empty", "empty: not a module source directory"),
                ("--module", "broken-dkms", "broken-dkms/dkms.conf does not evaluate"),
                ("--candidate", MiniKernel.tree.path, "the candidate is the build tree"),
            ])
        func badInput(option: String, value: String, message: String) throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            let candidate = try MiniKernel.candidate("cli-bad-\(UUID().uuidString.prefix(8))", "")
            defer { try? FileManager.default.removeItem(at: candidate) }
            var arguments = [
                "check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", MiniKernel.module,
            ]
            let index = arguments.firstIndex(of: option)!
            arguments[index + 1] = value
            let report = work.appendingPathComponent("report-\(UUID().uuidString.prefix(8)).json")
            let run = try CommandLine.run(arguments + ["--output", report.path], in: work)
            #expect(run.status == 2, "\(run.stderr)")
            #expect(run.stderr.contains(message), "\(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "one line: \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: report.path), "no empty report is left")
        }

        @Test(
            "a bad --arch exits 2 with one line before any build",
            arguments: [
                (["--arch", "vax"], "--arch vax: not a kernel architecture develtrace knows"),
                (
                    ["--arch", "arm64", "--cross-compile", "nosuch-linux-gnu-"],
                    "--arch arm64: no cross compiler nosuch-linux-gnu-gcc on PATH"
                ),
                (["--cross-compile", "aarch64-linux-gnu-"], "--cross-compile needs --arch"),
            ])
        func badArchitecture(extra: [String], message: String) throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            let report = work.appendingPathComponent("report.json")
            let run = try CommandLine.run(
                [
                    "check", "--build-tree", MiniKernel.tree.path, "--candidate", MiniKernel.tree.path + "/include", "--module",
                    MiniKernel.module,
                ]
                    + extra + ["--output", report.path], in: work)
            #expect(run.status == 2, "\(run.stderr)")
            #expect(run.stderr.contains(message), "\(run.stderr)")
            // The message, then at most ArgumentParser's usage hint.
            #expect(run.stderr.split(separator: "\n").first?.contains(message) == true, "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: report.path))
        }

        @Test("a sample that does not build against the full tree exits 3, blamed on the sample")
        func brokenSample() throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            let run = try CommandLine.run(
                [
                    "check", "--build-tree", MiniKernel.tree.path, "--candidate", try MiniKernel.candidate("cli-broken", "").path,
                    "--module", "broken-module",
                    "--quiet",
                ],
                in: work)
            #expect(run.status == 3, "\(run.stderr)")
            let text = String(decoding: run.stdout, as: UTF8.self)
            #expect(text.contains("broken-module (kbuild): reference failed"), "\(text)")
            #expect(text.contains("syntax error") || text.contains("error:"), "the log tail is shown")
        }

        @Test("a broken sample does not hide the findings of the samples that build: exit 1, both reported")
        func brokenSampleBesideFindings() throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            let candidate = try MiniKernel.candidate("cli-broken-findings", "rm include/linux/mini.h")
            defer { try? FileManager.default.removeItem(at: candidate) }
            let run = try CommandLine.run(
                [
                    "check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", "broken-module",
                    "--module", MiniKernel.module, "--format", "json", "--quiet",
                ],
                in: work)
            #expect(run.status == 1, "\(run.stderr)")
            let result = try JSONDecoder().decode(CheckResult.self, from: run.stdout)
            #expect(result.exitStatus == 1)
            #expect(result.findings.contains { $0.class == .missing && $0.path == "include/linux/mini.h" })
            #expect(result.samples.first { $0.name == "broken-module" }?.referenceState == .failed)
            #expect(result.samples.first { $0.name == "hello" }?.referenceState == .succeeded)
        }

        @Test("a re-check reuses the recorded reference build until a file it read changes; --no-cache builds it again")
        func recordedReference() throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            // A tree of this test's own: it is changed below.
            let tree = try MiniKernel.candidate("cli-cache-tree", "")
            let candidate = try MiniKernel.candidate("cli-cache", "rm include/linux/mini.h")
            defer {
                try? FileManager.default.removeItem(at: tree)
                try? FileManager.default.removeItem(at: candidate)
            }
            let cache = work.appendingPathComponent("recorded")
            func check(_ extra: [String] = []) throws -> CheckResult {
                let run = try CommandLine.run(
                    [
                        "check", "--build-tree", tree.path, "--candidate", candidate.path, "--module", MiniKernel.module, "--format",
                        "json",
                        "--quiet", "--cache-dir", cache.path,
                    ] + extra, in: work)
                #expect(run.status == 1, "\(run.stderr)")
                return try JSONDecoder().decode(CheckResult.self, from: run.stdout)
            }
            let findings = { (result: CheckResult) in result.findings.map { "\($0.class.rawValue) \($0.path) \($0.severity.rawValue)" } }
            let first = try check()
            #expect(first.samples.first?.referenceRecorded == nil)
            #expect(findings(first) == ["missing include/linux/mini.h fatal"])
            let second = try check()
            #expect(second.samples.first?.referenceRecorded != nil, "recorded, then reused")
            #expect(findings(second) == findings(first))
            #expect(second.samples.first?.treeFilesUsed == first.samples.first?.treeFilesUsed)
            // A header the reference build read, rewritten in place.
            #expect(
                try Harness.runProcess(["/bin/sh", "-c", "cat include/linux/mini.h > h && cat h > include/linux/mini.h && rm h"], in: tree)
                    == 0)
            #expect(try check().samples.first?.referenceRecorded == nil, "a file it read changed")
            #expect(try check(["--no-cache"]).samples.first?.referenceRecorded == nil)
            #expect(try check().samples.first?.referenceRecorded != nil, "recorded again after the change")
        }

        @Test(
            "a dkms.conf that complains at its top level and ends on a failing test builds, as DKMS carries on (it was \"broken\", exit 2)")
        func noisyDkmsConf() throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            let noisy = work.appendingPathComponent("noisy-dkms")
            #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.module, noisy.path]) == 0)
            // ddcci's warning on stderr; 6.12's `[ "$VERSION" -ge 3 ]` on an empty VERSION (status 2).
            try """
            PACKAGE_NAME="noisy"
            PACKAGE_VERSION="1.0"
            BUILT_MODULE_NAME[0]="module"
            DEST_MODULE_LOCATION[0]="/updates"
            echo "BACKLIGHT_CLASS_DEVICE disabled in this kernel, not building module." >&2
            [ "$VERSION" -ge 3 ]

            """.write(to: noisy.appendingPathComponent("dkms.conf"), atomically: true, encoding: .utf8)
            let candidate = try MiniKernel.candidate("cli-noisy", "")
            defer { try? FileManager.default.removeItem(at: candidate) }
            let run = try CommandLine.run(
                [
                    "check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", noisy.path, "--format",
                    "json", "--quiet",
                ],
                in: work)
            #expect(run.status == 0, "\(run.stderr)")
            let result = try JSONDecoder().decode(CheckResult.self, from: run.stdout)
            #expect(result.samples.first?.reference == "succeeded", "\(result.samples.first?.log ?? "")")
            #expect(result.samples.first?.candidate == "succeeded")
        }

        @Test("json output is stable and carries the schema version")
        func jsonOutput() throws {
            try #require(FileManager.default.isExecutableFile(atPath: CommandLine.executable), "swift build first")
            let candidate = try MiniKernel.candidate("cli-json", "rm include/linux/mini.h")
            defer { try? FileManager.default.removeItem(at: candidate) }
            let work = try Self.work()
            defer { try? FileManager.default.removeItem(at: work) }
            var outputs: [Data] = []
            for i in 0..<2 {
                let output = work.appendingPathComponent("result-\(i).json")
                let run = try CommandLine.run(
                    [
                        "check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", MiniKernel.module,
                        "--format", "json", "--output", output.path, "--quiet",
                    ], in: work)
                #expect(run.status == 1, "\(run.stderr)")
                outputs.append(try Data(contentsOf: output))
            }
            let object = try #require(try JSONSerialization.jsonObject(with: outputs[0]) as? [String: Any])
            #expect(object["schemaVersion"] as? Int == 1)
            let findings = try #require(object["findings"] as? [[String: Any]])
            #expect(findings.contains { $0["path"] as? String == "include/linux/mini.h" && $0["class"] as? String == "missing" })
            let evidence = try #require(findings.first?["evidence"] as? [[String: Any]])
            #expect(evidence.first?["errno"] as? String == "ENOENT")
            #expect(evidence.first?["argv"] as? [String] != nil)
            // Two runs give the same findings in the same order (pids, temporary
            // file names in argv and the output path may differ).
            func summary(_ data: Data) throws -> [String] {
                let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                let findings = try #require(object["findings"] as? [[String: Any]])
                return findings.map {
                    "\($0["class"] ?? "") \($0["path"] ?? "") \($0["severity"] ?? "") \($0["round"] ?? "") \($0["samples"] ?? "")"
                }
            }
            #expect(try summary(outputs[0]) == summary(outputs[1]))
            let keys = { (data: Data) in
                String(decoding: data, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("  \"") }.map {
                    $0.split(separator: ":")[0]
                }
            }
            #expect(keys(outputs[0]) == keys(outputs[1]))
        }
    }
}

extension Machine.CheckCommandLine {
    @Test("report renders a saved result; a file that is not one exits 2")
    func report() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Machine.CommandLine.executable), "swift build first")
        let work = try Self.work()
        defer { try? FileManager.default.removeItem(at: work) }
        let saved = Harness.fixtures.appendingPathComponent("golden/check-result.json").path
        let list = try Machine.CommandLine.run(["report", saved, "--format", "list"], in: work)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(String(decoding: list.stdout, as: UTF8.self) == "include/linux/mini.h\n")
        let markdown = try Machine.CommandLine.run(["report", saved, "--format", "markdown", "--output", "bug.md"], in: work)
        #expect(markdown.status == 0)
        #expect(try String(contentsOf: work.appendingPathComponent("bug.md"), encoding: .utf8).hasPrefix("# "))
        let bad = try Machine.CommandLine.run(["report", "corrupt.deb"], in: work)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("corrupt.deb: not a develtrace check result"))
    }

    @Test("a report that cannot be written exits 2 naming the file (it exited 0: OutputSink dropped write errors)")
    func reportWriteError() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Machine.CommandLine.executable), "swift build first")
        let work = try Self.work()
        defer { try? FileManager.default.removeItem(at: work) }
        let saved = Harness.fixtures.appendingPathComponent("golden/check-result.json").path
        let full = try Machine.CommandLine.run(["report", saved, "--format", "json", "--output", "/dev/full"], in: work)
        #expect(full.status == 2, "\(full.stderr)")
        #expect(full.stderr == "develtrace: cannot write /dev/full: No space left on device\n", "\(full.stderr)")
        let directory = try Machine.CommandLine.run(["report", saved, "--output", work.path], in: work)
        #expect(directory.status == 2)
        #expect(directory.stderr.contains("cannot write \(work.path): Is a directory"), "\(directory.stderr)")
    }
}

extension Machine.CheckCommandLine {
    @Test("--fail-on chooses what fails the check")
    func failOn() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Machine.CommandLine.executable), "swift build first")
        let candidate = try MiniKernel.candidate("cli-fail-on", "sed -i 's/ARCH_WORD 8/ARCH_WORD 16/' arch/x86/include/asm/arch.h")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let work = try Self.work()
        defer { try? FileManager.default.removeItem(at: work) }
        let base = ["check", "--quiet", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", MiniKernel.module]
        // A divergent `different` file does not fail the default gate…
        #expect(try Machine.CommandLine.run(base, in: work).status == 0)
        // …but does when asked, at its severity or a lower threshold…
        #expect(try Machine.CommandLine.run(base + ["--fail-on", "different"], in: work).status == 1)
        #expect(try Machine.CommandLine.run(base + ["--fail-on", "different:divergent"], in: work).status == 1)
        // …and not above it.
        #expect(try Machine.CommandLine.run(base + ["--fail-on", "different:fatal"], in: work).status == 0)
        let bad = try Machine.CommandLine.run(base + ["--fail-on", "differnt"], in: work)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--fail-on differnt"))
    }
}

extension Unit {
    @Suite struct GateTests {
        static func finding(_ kind: FindingClass, _ severity: Severity) -> Finding {
            Finding(path: "a", class: kind, severity: severity, samples: [], round: 1, detail: nil, evidence: [])
        }

        @Test("the standard gate: any missing file, any fatal finding but unused")
        func standard() {
            #expect(Gate.standard.fails([Self.finding(.missing, .benign)]))
            #expect(Gate.standard.fails([Self.finding(.extra, .fatal)]))
            #expect(!Gate.standard.fails([Self.finding(.extra, .divergent), Self.finding(.relocated, .benign)]))
            #expect(!Gate.standard.fails([Self.finding(.unused, .benign)]))
            #expect(!Gate.standard.fails([]))
        }

        @Test("rules parse CLASS and CLASS:SEVERITY", arguments: ["missing", "tree-write:fatal", "different:divergent"])
        func parse(text: String) {
            #expect(Gate.Rule(text)?.description == text)
        }

        @Test("bad rules do not parse", arguments: ["", "missng", "missing:bad", ":fatal"])
        func badRules(text: String) {
            #expect(Gate.Rule(text) == nil)
        }
    }
}

extension Machine.CheckCommandLine {
    @Test(
        "a module directory with a space and a non-UTF-8 byte builds; a non-UTF-8 --output is written byte for byte; an unwritable one fails first"
    )
    func awkwardPaths() throws {
        let work = try Harness.workDirectory("check-cli-awkward")
        defer { try? FileManager.default.removeItem(at: work) }
        let module = work.appendingPathComponent("my module")
        try FileManager.default.copyItem(atPath: MiniKernel.module, toPath: module.path)
        // The same module again, under a name that is not UTF-8.
        #expect(try Harness.runProcess(["/bin/sh", "-c", "cp -r \"$0\" \"$(printf '%s\\377' \"$0\")\"", module.path]) == 0)
        let candidate = try MiniKernel.candidate("cli-awkward", "")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let name = Array(work.path.utf8) + Array("/report-".utf8) + [0xFF, 0xFE] + Array(".json".utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell passes the raw bytes: Foundation's arguments are strings.
        process.arguments = [
            "-c",
            "exec \"$0\" check --quiet --format json --build-tree \"$1\" --candidate \"$2\" --module \"$3\" --module \"$(printf '%s\\377' \"$3\")\" --output \"$(printf '%s/report-\\377\\376.json' \"$4\")\"",
            Machine.CommandLine.executable, MiniKernel.tree.path, candidate.path, module.path, work.path,
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        var status = stat()
        let path = RawPath(bytes: name)
        #expect(path.withCString { stat($0, &status) } == 0 && status.st_size > 100, "the report is at its exact name")
        let report = try #require(FileReading.bytes(of: path) as [UInt8]?)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report)) as? [String: Any])
        let samples = object["samples"] as? [[String: Any]] ?? []
        #expect(samples.count == 2 && samples.allSatisfy { $0["candidate"] as? String == "succeeded" }, "\(samples)")

        let unwritable = try Machine.CommandLine.run(
            [
                "check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", module.path, "--output",
                "/nonexistent/report.json",
            ], in: work)
        #expect(unwritable.status == 2)
        #expect(unwritable.stderr == "develtrace: cannot write /nonexistent/report.json: No such file or directory\n")
    }

    @Test("SIGTERM to a check tears every sandbox down and exits 143")
    func terminated() throws {
        let work = try Harness.workDirectory("check-cli-sigterm")
        defer { try? FileManager.default.removeItem(at: work) }
        let marker = "\(UInt32.random(in: 1000...9999)).\(UInt32.random(in: 100...999))"
        let sample = work.appendingPathComponent("slow-dkms")
        try FileManager.default.createDirectory(at: sample, withIntermediateDirectories: true)
        // What DKMS wants of a package before it runs MAKE: a module name, a
        // destination, and sources beside dkms.conf.
        try """
        PACKAGE_NAME=slow
        PACKAGE_VERSION=1
        BUILT_MODULE_NAME[0]=slow
        DEST_MODULE_LOCATION[0]=/updates
        MAKE[0]="sleep \(marker)"

        """.write(to: sample.appendingPathComponent("dkms.conf"), atomically: true, encoding: .utf8)
        try "obj-m := slow.o\n".write(to: sample.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
        let candidate = try MiniKernel.candidate("cli-sigterm", "")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Machine.CommandLine.executable)
        process.arguments = [
            "check", "--quiet", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", sample.path,
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        Machine.Lifecycle.waitUntil { !Harness.processes(containing: "sleep \(marker)").isEmpty }
        #expect(!Harness.processes(containing: "sleep \(marker)").isEmpty, "the build started")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 143)
        Machine.Lifecycle.waitUntil { Harness.processes(containing: "sleep \(marker)").isEmpty }
        #expect(Harness.processes(containing: "sleep \(marker)").isEmpty, "no process of the run is left")
        #expect(Harness.develtraceMounts().isEmpty, "no mount is left")
    }
}
