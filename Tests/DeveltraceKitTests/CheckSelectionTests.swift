import Foundation
import Testing

@testable import DeveltraceKit

extension CompleteBuild {
    /// Cuts a distribution's selection from this build with its script in
    /// `tools/` (`fedora`, `arch`, `debian`) into `directory`; returns the
    /// candidate to check (Fedora's `.rpm`, the others' installed root).
    func select(_ rule: String, into directory: URL) throws -> String {
        try #require(prepared, "the complete \(series) build is not prepared in \(top)")
        let script = Harness.packageRoot.appendingPathComponent("tools/select-\(rule)").path
        var arguments = [script, tree]
        if rule == "debian" {
            let debs = DebianPair.cache + "/debian-\(series)/debs"
            let source = try #require(
                (try FileManager.default.contentsOfDirectory(atPath: debs)).first { $0.hasPrefix("linux-source-") })
            arguments.append(debs + "/" + source)
        }
        arguments.append(directory.path)
        let run = try Harness.capture(arguments, in: Harness.packageRoot)
        try #require(run.status == 0, "tools/select-\(rule): \(run.stderr)")
        if rule == "fedora" {
            let rpm = try #require(
                (try FileManager.default.contentsOfDirectory(atPath: directory.path)).first { $0.hasSuffix(".rpm") })
            return directory.appendingPathComponent(rpm).path
        }
        return directory.appendingPathComponent("root").path
    }

    /// `candidate` checked against this build with `modules`; the build
    /// tree must come out untouched, by the selection script and the builds.
    func check(candidate: String, modules: [String]) throws -> CheckResult {
        var options = CheckOptions(
            buildTree: tree, candidates: [candidate], modules: modules, corpus: "", jobs: 2, maxRounds: 10, timeout: .seconds(900))
        // The selection rules are about files; the packaged forms
        // (bindeb-pkg) declare no compiler, and holding each package out
        // would rebuild every sample several times.
        options.systemDependencies = false
        return try CheckRunner(options: options).run()
    }

    static func hook(_ name: String) -> String { Harness.fixtures.appendingPathComponent("hooks/\(name)").path }
    static func builtIn(_ name: String) -> String { Harness.fixtures.appendingPathComponent("modules/\(name)").path }
}

extension Machine {
    /// Distributions' selection rules cut from one complete build
    /// (tools/select-*), with the hook samples that reach what plain `M=`
    /// builds never do.
    @Suite(.enabled(if: CompleteBuild.v6_1.runs, "run tools/prepare-complete-6.1 first")) struct CheckCompleteSelection {
        @Test(
            "raspberrypi/linux #5468, void-packages #44807: Arch's rule drops other architectures' Kconfig, crypto/Kconfig sources them: fatal once syncconfig runs, unseen by M= builds"
        )
        func archDropsOtherArchitecturesKconfig() throws {
            let work = try Harness.workDirectory("select-arch-6.1")
            defer { try? FileManager.default.removeItem(at: work) }
            let before = try Harness.fingerprintShallow(CompleteBuild.v6_1.tree)
            let candidate = try CompleteBuild.v6_1.select("arch", into: work)
            let result = try CompleteBuild.v6_1.check(
                candidate: candidate, modules: [CompleteBuild.builtIn("asm"), CompleteBuild.hook("syncconfig")])
            #expect(try Harness.fingerprintShallow(CompleteBuild.v6_1.tree) == before, "the full tree is never written")
            for sample in result.samples {
                #expect(sample.reference == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.candidate == "succeeded", "closure restores what was missing: \(sample.name): \(sample.log ?? "")")
            }
            // The plain M= build needs none of it.
            #expect(!result.findings.contains { $0.class == .missing && $0.samples.contains("asm") })
            for arch in ["arm", "arm64", "mips", "powerpc", "s390", "sparc"] {
                let kconfig = try #require(result.findings.first { $0.path == "arch/\(arch)/crypto/Kconfig" }, "\(arch)")
                #expect(kconfig.class == .missing && kconfig.samples == ["syncconfig"])
                // Held out alone, syncconfig fails without it.
                #expect(kconfig.severity == .fatal, "\(arch): \(kconfig.severity)")
                #expect(kconfig.evidence.contains { $0.build == "reference" && $0.errno == "ok" })
            }
            // syncconfig stops at the first one crypto/Kconfig sources; after
            // three failed rounds closure adds what the reference read, so the
            // later ones have the reference's evidence only.
            let first = try #require(result.findings.first { $0.path == "arch/arm/crypto/Kconfig" })
            #expect(first.evidence.contains { $0.build == "candidate" && $0.errno == "ENOENT" }, "\(first.evidence)")
            // syncconfig rewrites the configuration inside the package.
            #expect(result.findings.contains { $0.class == .treeWrite && $0.path == "include/config/auto.conf" })
            #expect(result.exitStatus == 1)
        }

        @Test(
            "Fedora's kernel-devel rule deletes every .cmd under scripts: a DKMS hook's make scripts rebuilds each host program into the package"
        )
        func fedoraMakeScriptsRebuildsHostPrograms() throws {
            let work = try Harness.workDirectory("select-fedora-6.1")
            defer { try? FileManager.default.removeItem(at: work) }
            let candidate = try CompleteBuild.v6_1.select("fedora", into: work)
            #expect(candidate.hasSuffix(".x86_64.rpm"))
            let result = try CompleteBuild.v6_1.check(candidate: candidate, modules: [CompleteBuild.hook("make-scripts")])
            let sample = try #require(result.samples.first)
            #expect(sample.reference == "succeeded" && sample.candidate == "succeeded", "\(sample.log ?? "")")
            #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "\(sample.modules)")
            let fixdep = try #require(result.findings.first { $0.path == "scripts/basic/fixdep" })
            #expect(fixdep.class == .treeWrite)
            let cmd = try #require(result.findings.first { $0.path == "scripts/basic/.fixdep.cmd" && $0.class == .missing })
            // Without it kbuild rebuilds fixdep, and the build goes on.
            #expect(cmd.severity == .benign)
            // No vmlinux in kernel-devel: modules lose .BTF.
            #expect(result.findings.first { $0.path == "vmlinux" }?.severity == .divergent)
            #expect(result.findings.filter { $0.class == .missing && $0.severity == .fatal }.isEmpty)
        }
    }
}

extension Machine {
    @Suite(.enabled(if: CompleteBuild.v6_12.runs, "run tools/prepare-complete 6.12 first")) struct CheckCompleteSelection612 {
        @Test(
            "6.12's bindeb-pkg headers without .config (aaed5c7739be, dkms #464): a DKMS hook's make scripts fails; held out one by one, auto.conf.cmd and the pruned scripts/dtc are what it needs"
        )
        func upstreamHeadersWithoutConfig() throws {
            let headers = try #require(CompleteBuild.v6_12.headers, "no linux-headers .deb in \(CompleteBuild.v6_12.top)/pkgs")
            let result = try CompleteBuild.v6_12.check(
                candidate: headers, modules: [CompleteBuild.builtIn("symbols"), CompleteBuild.hook("make-scripts")])
            for sample in result.samples {
                #expect(sample.reference == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.candidate == "succeeded", "closure restores it: \(sample.name): \(sample.log ?? "")")
            }
            // Round 1 fails at once: `Configuration file ".config" not found!`.
            let config = try #require(result.findings.first { $0.path == ".config" && $0.class == .missing })
            #expect(config.samples.contains("make-scripts") && config.samples.contains("symbols"))
            #expect(config.evidence.contains { $0.sample == "make-scripts" && $0.build == "candidate" && $0.errno == "ENOENT" })
            // Held out of the last round, .config alone changes nothing once
            // include/config/auto.conf.cmd is there; without auto.conf.cmd
            // kbuild must remake the configuration and fails even with .config.
            #expect(config.severity == .benign)
            #expect(result.findings.first { $0.path == "include/config/auto.conf.cmd" }?.severity == .fatal)
            // install-extmod-build prunes scripts/dtc; make scripts descends into it.
            #expect(result.findings.first { $0.path == "scripts/dtc/Makefile" }?.severity == .fatal)
            // The packaging rebuilt the host programs and dropped their .cmd
            // files: make scripts rebuilds them into the installed package.
            #expect(result.findings.contains { $0.class == .treeWrite && $0.path == "scripts/basic/fixdep" })
            #expect(result.exitStatus == 1)
        }
    }
}
