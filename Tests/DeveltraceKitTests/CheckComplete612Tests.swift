import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    @Suite(.enabled(if: CompleteBuild.v6_12.runs, "run tools/prepare-complete 6.12 first")) struct CheckComplete612 {
        @Test(
            "6.12 bindeb-pkg headers of a complete BTF build: vmlinux and .config missing; resolve_btfids, rebuilt by the packaging, is no longer"
        )
        func bindebHeaders() throws {
            let builtIn = Harness.fixtures.appendingPathComponent("modules")
            // symbols greps .config for CONFIG_MODULE_SIG, as DKMS's signing
            // does; asm and kconfig are plain M= builds.
            let result = try CompleteBuild.v6_12.checkHeaders(
                modules: ["asm", "kconfig", "symbols"].map { builtIn.appendingPathComponent($0).path })
            #expect(result.inputs.kernelRelease.hasPrefix("6.12."))
            for sample in result.samples {
                #expect(sample.reference == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.candidate == "succeeded", "closure restores what was missing: \(sample.name): \(sample.log ?? "")")
                #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "\(sample.name): \(sample.modules)")
            }
            let found = result.findings.filter { $0.class != .dependency }.map { "\($0.class.rawValue) \($0.path) \($0.round)" }
            #expect(found == ["missing .config 1", "missing vmlinux 1"], "\(found)")
            // bindeb-pkg's headers declare no compiler, and these are plain
            // M= builds (no dkms to bring one): the compiler's packages are
            // fatal when hidden; pahole too, once vmlinux is back (round 2).
            let dependencies = result.findings.filter { $0.class == .dependency }
            for package in ["gcc-12", "cpp-12", "binutils", "pahole"] {
                #expect(dependencies.first { $0.path == package }?.severity == .fatal, "\(package): \(dependencies.map(\.path))")
            }
            #expect(dependencies.first { $0.path == "pahole" }?.round == 2)
            #expect(!dependencies.contains { ["make", "bash", "dash", "libc6"].contains($0.path) })
            // `[ -f vmlinux ]` in Makefile.modfinal: without it, no .BTF.
            let vmlinux = try #require(result.findings.first { $0.path == "vmlinux" })
            #expect(vmlinux.severity == .divergent)
            #expect(vmlinux.evidence.contains { $0.build == "candidate" && $0.errno == "ENOENT" && $0.syscall.contains("stat") })
            let config = try #require(result.findings.first { $0.path == ".config" })
            #expect(config.samples == ["symbols"], "only the sample that reads it")
            // It shares round 1 with vmlinux; rebuilt without it alone, the
            // modules do not change (CONFIG_MODULE_SIG is off here).
            #expect(config.severity == .benign)
            #expect(result.samples.first { $0.name == "symbols" }?.severityRebuilds == 2)
            // 6.1's bindeb-pkg lacked resolve_btfids (fatal once vmlinux came
            // back); 6.12's rebuilds the host tools into the package.
            #expect(!result.findings.contains { $0.path.hasPrefix("tools/bpf/resolve_btfids") })
            #expect(result.exitStatus == 1)
        }
    }
}
