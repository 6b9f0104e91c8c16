import Foundation
import Testing

@testable import DeveltraceKit

/// A full mini tree built once per test run (`Fixtures/minikernel`, after
/// `make prepare`), and candidates cut from it with one defect each.
enum MiniKernel {
    static let tree: URL = {
        let url = Harness.packageRoot.appendingPathComponent(".build/test-work/minikernel-full")
        // On a fresh clone nothing has made .build/test-work yet.
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: url)
        _ = try? Harness.runProcess(["/bin/cp", "-a", Harness.fixtures.appendingPathComponent("minikernel").path, url.path])
        _ = try? Harness.runProcess(["/usr/bin/make", "-s", "-C", url.path, "prepare"])
        return url
    }()

    static var module: String { Harness.fixtures.appendingPathComponent("minikernel-modules/hello").path }

    /// A copy of the full tree, changed by `mutate` (run in the copy).
    static func candidate(_ name: String, _ mutate: String) throws -> URL {
        let url = Harness.packageRoot.appendingPathComponent(".build/test-work/minikernel-\(name)")
        try? FileManager.default.removeItem(at: url)
        #expect(try Harness.runProcess(["/bin/cp", "-a", tree.path, url.path]) == 0)
        if !mutate.isEmpty { #expect(try Harness.runProcess(["/bin/sh", "-ec", mutate], in: url) == 0) }
        return url
    }

    static func check(_ candidate: URL, maxRounds: Int = 10) throws -> CheckResult {
        let options = CheckOptions(
            buildTree: tree.path, candidates: [candidate.path], modules: [module], corpus: "", jobs: 1, maxRounds: maxRounds,
            timeout: .seconds(300))
        return try CheckRunner(options: options).run()
    }
}

struct ExpectedFinding: Hashable, CustomStringConvertible, Sendable {
    var kind: FindingClass
    var path: String
    var severity: Severity
    init(_ kind: FindingClass, _ path: String, _ severity: Severity) {
        self.kind = kind
        self.path = path
        self.severity = severity
    }
    var description: String { "\(kind.rawValue) \(path) \(severity.rawValue)" }
}

extension Machine {
    @Suite struct CheckSynthetic {
        static let cases: [(String, String, [ExpectedFinding])] = [
            ("clean", "", []),
            ("missing-header", "rm include/linux/mini.h", [.init(.missing, "include/linux/mini.h", .fatal)]),
            (
                "closure", "rm include/linux/mini.h include/linux/extra.h",
                [.init(.missing, "include/linux/mini.h", .fatal), .init(.missing, "include/linux/extra.h", .fatal)]
            ),
            ("missing-host-tool", "rm scripts/basic/fixdep", [.init(.missing, "scripts/basic/fixdep", .fatal)]),
            ("relocated", "mv scripts/module.lds arch/x86/module.lds", [.init(.relocated, "scripts/module.lds", .benign)]),
            (
                "different", "sed -i 's/ARCH_WORD 8/ARCH_WORD 16/' arch/x86/include/asm/arch.h",
                [.init(.different, "arch/x86/include/asm/arch.h", .divergent)]
            ),
            (
                "extra-shadow",
                "mkdir -p arch/x86/include/linux && sed 's/EXTRA_VALUE 7/EXTRA_VALUE 9/' include/linux/extra.h > arch/x86/include/linux/extra.h",
                [.init(.extra, "arch/x86/include/linux/extra.h", .divergent)]
            ),
            (
                "tree-write", "rm scripts/mod/modpost",
                [.init(.missing, "scripts/mod/modpost", .benign), .init(.treeWrite, "scripts/mod/modpost", .benign)]
            ),
            (
                "unrunnable", "rm scripts/basic/fixdep && echo 'not a program' > scripts/basic/fixdep && chmod 644 scripts/basic/fixdep",
                [.init(.unrunnable, "scripts/basic/fixdep", .fatal)]
            ),
            (
                // Cross-built packages that shipped host tools of the target
                // (linux-surface 6.13, BPI-R3 6.6, Armbian 5.15).
                "foreign-host-tool", "aarch64-linux-gnu-gcc -o scripts/basic/fixdep scripts/basic/fixdep.c",
                [.init(.unrunnable, "scripts/basic/fixdep", .fatal)]
            ),
            (
                // A build that runs a program the host lacks (eweOS, Gentoo,
                // Armbian: `pahole: not found` at Makefile.modfinal).
                "program-not-found",
                #"printf 'ifneq ($(M),)\n$(M)/module.ko: banner\n.PHONY: banner\nbanner:\n\ttoilet module\nendif\n' >> Makefile"#,
                [.init(.dependency, "toilet", .fatal), .init(.different, "Makefile", .fatal)]
            ),
        ]

        @Test("each defect gives exactly its findings", arguments: cases.map(\.0))
        func defect(name: String) throws {
            let (_, mutation, expected) = Self.cases.first { $0.0 == name }!
            let candidate = try MiniKernel.candidate(name, mutation)
            let treeBefore = try Harness.fingerprint(MiniKernel.tree)
            let candidateBefore = try Harness.fingerprint(candidate)
            let result = try MiniKernel.check(candidate)
            let found = Set(result.findings.filter { $0.class != .unused }.map { ExpectedFinding($0.class, $0.path, $0.severity) })
            #expect(found == Set(expected), "\(result.samples.map { "\($0.name): \($0.candidate) \($0.log ?? "")" })")
            #expect(result.samples.count == 1)
            #expect(result.samples.first?.reference == "succeeded")
            for finding in result.findings {
                #expect(!finding.evidence.isEmpty, "\(finding.path) has evidence")
            }
            if name == "foreign-host-tool" {
                // Named by its ELF header, whatever execve said.
                #expect(
                    result.findings.first?.detail?.hasPrefix("an ELF program for AArch64; this machine runs x86-64") == true,
                    "\(result.findings.first?.detail ?? "")")
            }
            if name == "program-not-found" {
                // Named with its package when apt's Contents index is here.
                let finding = result.findings.first { $0.class == .dependency }
                let detail = finding?.detail ?? ""
                #expect(detail.hasPrefix("the build looked for the program toilet (in "), "\(detail)")
                if ArchiveContents.available(architecture: "amd64") != nil {
                    #expect(detail.contains("the archive ships it in toilet"), "\(detail)")
                }
                #expect(finding?.evidence.first?.errno == "ENOENT")
                #expect(finding?.evidence.first?.path.hasSuffix("/toilet") == true)
            }
            #expect(result.exitStatus == (expected.contains { $0.kind == .missing || $0.severity == .fatal } ? 1 : 0))
            // Input trees are never written.
            #expect(try Harness.fingerprint(MiniKernel.tree) == treeBefore)
            #expect(try Harness.fingerprint(candidate) == candidateBefore)
            try? FileManager.default.removeItem(at: candidate)
        }

        @Test("closure: the second header is added after the first and the build then succeeds")
        func closureRounds() throws {
            let candidate = try MiniKernel.candidate("closure-rounds", "rm include/linux/mini.h include/linux/extra.h")
            defer { try? FileManager.default.removeItem(at: candidate) }
            let result = try MiniKernel.check(candidate)
            let sample = try #require(result.samples.first)
            #expect(sample.candidate == "succeeded")
            #expect(sample.rounds == 3)
            let missing = result.findings.filter { $0.class == .missing }
            #expect(missing.map(\.path).sorted() == ["include/linux/extra.h", "include/linux/mini.h"])
            #expect(missing.first { $0.path == "include/linux/mini.h" }?.round == 1)
            #expect(missing.first { $0.path == "include/linux/extra.h" }?.round == 2, "found once the first was restored")
            let probe = missing.first { $0.path == "include/linux/mini.h" }?.evidence.first
            #expect(probe?.build == "candidate")
            #expect(probe?.errno == "ENOENT")
            #expect(probe?.argv.first?.hasSuffix("cc1") == true)
        }
    }
}

extension Machine.CheckSynthetic {
    @Test("unused: candidate files no sample used are counted, and listed on request")
    func unused() throws {
        let candidate = try MiniKernel.candidate("unused", "echo '#define UNUSED 1' > include/linux/never-included.h")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let options = CheckOptions(
            buildTree: MiniKernel.tree.path, candidates: [candidate.path], modules: [MiniKernel.module], corpus: "", jobs: 1,
            timeout: .seconds(300))
        var listing = options
        listing.listUnused = true
        let counted = try CheckRunner(options: options).run()
        let listed = try CheckRunner(options: listing).run()
        let unused = listed.findings.filter { $0.class == .unused }.map(\.path)
        #expect(unused.contains("include/linux/never-included.h"))
        #expect(unused.contains("scripts/basic/fixdep.c"))
        #expect(!unused.contains("include/linux/mini.h"), "used by the sample")
        #expect(!unused.contains("scripts/mod/modpost"), "executed by the sample")
        #expect(counted.unusedFiles == unused.count)
        #expect(!counted.findings.contains { $0.class == .unused })
        #expect(listed.exitStatus == 0, "unused files do not fail the gate")
    }
}

extension Machine.CheckSynthetic {
    @Test("a candidate of another release than the reference tree: a warning, each built for its own, still checked")
    func otherRelease() throws {
        let candidate = try MiniKernel.candidate("other-release", "echo 9.9.9-other > include/config/kernel.release")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let result = try MiniKernel.check(candidate)
        #expect(result.warnings.contains { $0.contains("release 1.0.0-mini and the candidate 9.9.9-other") }, "\(result.warnings)")
        #expect(result.samples.allSatisfy { $0.candidate == "succeeded" }, "\(result.samples.map { $0.log ?? "" })")
        #expect(result.findings.filter { $0.class == .missing }.isEmpty)
        #expect(result.exitStatus == 0)
    }
}

extension Unit {
    @Suite struct ModuleComparisonTests {
        @Test("vermagic can be left out of .modinfo, and only vermagic")
        func withoutVermagic() {
            let modinfo = Array("license=GPL\0vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions \0name=hello\0".utf8)
            let stripped = ModuleComparison.withoutVermagic(modinfo)
            #expect(String(decoding: stripped, as: UTF8.self) == "license=GPL\0name=hello\0")
            let other = Array("license=GPL\0vermagic=6.1.192 SMP mod_unload modversions \0name=hello\0".utf8)
            #expect(ModuleComparison.withoutVermagic(other) == stripped)
            #expect(ModuleComparison.vermagic(other) == "6.1.192 SMP mod_unload modversions ")
            // srcversion hashes the module's source text: always left out, named.
            let sourced = Array("license=GPL\0srcversion=462ADD91FC86E9B3AC2A194\0name=hello\0".utf8)
            #expect(String(decoding: ModuleComparison.without(["srcversion"], sourced), as: UTF8.self) == "license=GPL\0name=hello\0")
            #expect(ModuleComparison.modinfo("srcversion", sourced) == "462ADD91FC86E9B3AC2A194")
        }
    }
}

extension Machine.CheckSynthetic {
    @Test("a build log that cannot be opened is an error naming it, not the build's output on develtrace's stdout")
    func unopenableBuildLog() throws {
        let sample = try Sample(directory: MiniKernel.module)
        let scratch = Harness.packageRoot.appendingPathComponent(".build/test-work/unopenable-log")
        try? FileManager.default.removeItem(at: scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // A directory where the log goes: open(O_WRONLY) fails with EISDIR.
        let log = scratch.appendingPathComponent("reference-\(sample.name).log")
        try FileManager.default.createDirectory(at: log, withIntermediateDirectories: true)
        let build = SampleBuild(
            sample: sample, kernelRelease: "6.1.0-mini", kbuildDir: RawPath(MiniKernel.tree.path), sandbox: SandboxConfiguration(),
            scratch: RawPath(scratch.path), label: "reference", cpu: nil, timeout: .seconds(60))
        let error = try #require(throws: SandboxError.self) { try build.run(cancel: CancellationHandle()) }
        #expect(error.description == "cannot prepare \(log.path) in the scratch directory: Is a directory")
        #expect(RunFailure(error).exitStatus == 2)
    }
}

extension Machine.CheckSynthetic {
    /// Closure adds a round's files together, so the round's outcome is
    /// theirs together; on Debian's 6.12 pair every finding of round 1 was
    /// divergent because one of them changed the modules.
    @Test("two files missing in one round, one changing the module: leave-one-out rebuilds tell which (divergent, benign)")
    func causalSeverity() throws {
        let work = try Harness.workDirectory("causal-severity")
        defer { try? FileManager.default.removeItem(at: work) }
        let full = work.appendingPathComponent("full")
        #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.tree.path, full.path]) == 0)
        try "#define OPT_A 42\n".write(to: full.appendingPathComponent("include/linux/opt_a.h"), atomically: true, encoding: .utf8)
        try "/* nothing a module uses */\n".write(
            to: full.appendingPathComponent("include/linux/opt_b.h"), atomically: true, encoding: .utf8)
        let candidate = work.appendingPathComponent("candidate")
        #expect(try Harness.runProcess(["/bin/cp", "-a", full.path, candidate.path]) == 0)
        try FileManager.default.removeItem(at: candidate.appendingPathComponent("include/linux/opt_a.h"))
        try FileManager.default.removeItem(at: candidate.appendingPathComponent("include/linux/opt_b.h"))
        let module = work.appendingPathComponent("optional")
        try FileManager.default.createDirectory(at: module, withIntermediateDirectories: true)
        try """
        #if __has_include(<linux/opt_a.h>)
        #include <linux/opt_a.h>
        int optional_a = OPT_A;
        #endif
        #if __has_include(<linux/opt_b.h>)
        #include <linux/opt_b.h>
        #endif
        int optional(void) { return 1; }

        """.write(to: module.appendingPathComponent("optional.c"), atomically: true, encoding: .utf8)
        try "obj-m := optional.o\n".write(to: module.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)

        let options = CheckOptions(
            buildTree: full.path, candidates: [candidate.path], modules: [module.path], corpus: "", jobs: 1, maxRounds: 10,
            timeout: .seconds(300))
        let result = try CheckRunner(options: options).run()
        let found = Set(result.findings.map { "\($0.class.rawValue) \($0.path) \($0.severity.rawValue) \($0.round)" })
        #expect(found == ["missing include/linux/opt_a.h divergent 1", "missing include/linux/opt_b.h benign 1"], "\(found)")
        let sample = try #require(result.samples.first)
        #expect(sample.severityRebuilds == 2)
        #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "the last round has both")
    }
}
