import Foundation
import Testing

@testable import DeveltraceKit

/// A pair `tools/prepare-debian LABEL` put in the cache: its reference tree
/// and its flavour, -common and kbuild `.deb`s.
struct PreparedDebianPair: Sendable {
    let label: String
    var top: String { DebianPair.cache + "/debian-" + label }
    var tree: String { top + "/linux" }
    var prepared: Bool { FileManager.default.fileExists(atPath: tree + "/.develtrace-prepared") }
    var runs: Bool { prepared || DebianPair.required }

    var debs: [String] {
        let directory = top + "/debs"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("linux-headers-") || $0.hasPrefix("linux-kbuild-") }.sorted().map { directory + "/" + $0 }
    }

    /// Debian 12's arm64 pair, checked from this amd64 machine as distributions
    /// check their arm64 packages: `linux-headers-6.1.0-N-arm64` (an arm64
    /// package), the same `-common` and the amd64 `linux-kbuild-6.1` (Multi-Arch:
    /// foreign), against linux-source-6.1 with the arm64 headers' .config,
    /// cross-built (`tools/prepare-debian 6.1-arm64`).
    static let arm64 = PreparedDebianPair(label: "6.1-arm64")
}

extension Machine {
    @Suite(.enabled(if: PreparedDebianPair.arm64.runs, "run tools/prepare-debian 6.1-arm64 first")) struct CheckDebianArm64 {
        @Test(
            "the arm64 pair with --arch arm64: modules identical; module.lds relocated under arch/arm64; syncconfig reaches other architectures' Kconfig; the cross compiler is not a missing dependency"
        )
        func arm64Pair() throws {
            try #require(PreparedDebianPair.arm64.prepared, "the arm64 pair is not prepared in \(PreparedDebianPair.arm64.top)")
            try #require(PreparedDebianPair.arm64.debs.count == 3, "three .debs: \(PreparedDebianPair.arm64.debs)")
            let treeBefore = try Harness.fingerprintShallow(PreparedDebianPair.arm64.tree)
            var options = CheckOptions(
                buildTree: PreparedDebianPair.arm64.tree, candidates: PreparedDebianPair.arm64.debs,
                modules: [
                    DebianPair.cache + "/dkms/v4l2loopback", Harness.fixtures.appendingPathComponent("modules/symbols").path,
                    Harness.fixtures.appendingPathComponent("hooks/syncconfig").path,
                ], corpus: "", jobs: 2, maxRounds: 10, timeout: .seconds(900))
            options.architecture = try TargetArchitecture.named("arm64", crossCompile: nil)
            // What fails syncconfig is not asked here: its round's 1,600
            // Kconfig files would take 24 rebuilds to tell apart.
            options.maxRebuilds = 0
            let result = try CheckRunner(options: options).run()

            #expect(result.inputs.architecture == "arm64 (CROSS_COMPILE=aarch64-linux-gnu-)")
            #expect(result.inputs.kernelRelease.hasSuffix("-arm64"))
            for sample in result.samples {
                #expect(sample.reference == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.candidate == "succeeded", "\(sample.name): \(sample.log ?? "")")
            }
            for name in ["v4l2loopback", "symbols"] {
                let sample = try #require(result.samples.first { $0.name == name })
                #expect(!sample.modules.isEmpty && sample.modules.values.allSatisfy { $0.isIdentical }, "\(name): \(sample.modules)")
            }
            // Debian moves the linker script under the architecture.
            let lds = try #require(result.findings.first { $0.path == "scripts/module.lds" })
            #expect(lds.class == .relocated && lds.detail?.contains("arch/arm64/module.lds") == true, "\(lds)")
            // crypto/Kconfig sources every architecture's crypto/Kconfig:
            // only syncconfig reaches them, and without them it stops.
            for path in ["arch/x86/crypto/Kconfig", "arch/arm/crypto/Kconfig", "arch/arm64/Kconfig"] {
                let finding = result.findings.first { $0.path == path }
                #expect(finding?.class == .missing && finding?.samples == ["syncconfig"], "\(path): \(String(describing: finding))")
            }
            // linux-kbuild-6.1's tools are amd64 programs and run here.
            #expect(!result.findings.contains { $0.class == .unrunnable })
            // The flavour depends on gcc-12 (arm64's); the cross build's
            // gcc-12-aarch64-linux-gnu stands in for it.
            let dependencies = result.findings.filter { $0.class == .dependency }.map(\.path)
            #expect(!dependencies.contains { $0.hasSuffix("-aarch64-linux-gnu") }, "\(dependencies)")
            #expect(try Harness.fingerprintShallow(PreparedDebianPair.arm64.tree) == treeBefore)
        }
    }
}
