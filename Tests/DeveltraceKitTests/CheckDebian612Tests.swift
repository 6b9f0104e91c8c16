import Foundation
import Testing

@testable import DeveltraceKit

/// The Debian 12 6.12 kernel (bookworm-security) that `tools/prepare-debian
/// 6.12` puts in the cache: the packages of the newest version whose four
/// packages are all in the archive, and a reference tree with the headers'
/// .config, checked identical after `olddefconfig`.
extension PreparedDebianPair {
    static let v6_12 = PreparedDebianPair(label: "6.12")

    /// Every DKMS sample the preparation downloads (bookworm's versions) and
    /// the built-in corpus.
    static var everySample: [String] {
        let dkms = DebianPair.cache + "/dkms"
        let builtIn = Harness.fixtures.appendingPathComponent("modules").path
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dkms)) ?? []).sorted().map { dkms + "/" + $0 }
        let fixtures = ((try? FileManager.default.contentsOfDirectory(atPath: builtIn)) ?? []).sorted().map { builtIn + "/" + $0 }
        return names + fixtures
    }
}

extension Machine {
    @Suite(.enabled(if: PreparedDebianPair.v6_12.runs, "run tools/prepare-debian 6.12 first")) struct CheckDebian612 {
        @Test(
            "Debian's 6.12 packages: the samples that build find nothing fatal; bookworm's DKMS packages too old for 6.12 are broken samples that do not hide findings"
        )
        func debianPackages() throws {
            try #require(PreparedDebianPair.v6_12.prepared, "the Debian 6.12 pair is not prepared in \(PreparedDebianPair.v6_12.top)")
            try #require(PreparedDebianPair.v6_12.debs.count == 3, "three .debs: \(PreparedDebianPair.v6_12.debs)")
            let treeBefore = try Harness.fingerprintShallow(PreparedDebianPair.v6_12.tree)
            let options = CheckOptions(
                buildTree: PreparedDebianPair.v6_12.tree, candidates: PreparedDebianPair.v6_12.debs,
                modules: PreparedDebianPair.everySample, corpus: "", jobs: 2, maxRounds: 10,
                timeout: .seconds(900))
            let result = try CheckRunner(options: options).run()

            #expect(result.inputs.kernelRelease.hasPrefix("6.12."))
            #expect(result.inputs.kernelRelease.hasSuffix("+deb12-amd64"))
            #expect(result.inputs.layout.hasPrefix("split"))
            #expect(!result.warnings.contains { $0.contains("release") }, "\(result.warnings)")
            let built = result.samples.filter { $0.referenceState == .succeeded }
            let broken = result.samples.filter { $0.referenceState.isBroken }
            // The built-in corpus builds against any kernel; so does acpi-call.
            let builtNames = Set(built.map(\.name))
            #expect(
                builtNames.isSuperset(of: ["acpi-call", "asm", "ccflags", "kconfig", "multiobj", "symbols", "tracepoint"]), "\(builtNames)")
            for sample in built {
                #expect(sample.candidate == "succeeded", "\(sample.name): \(sample.log ?? "")")
                // Both sides have BTF: the reference carries the headers' vmlinux.
                #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "\(sample.name): \(sample.modules)")
                #expect(sample.treeFilesUsed.count > 500, "\(sample.name)")
            }
            for sample in broken {
                #expect(sample.candidate == "not built", "\(sample.name)")
                #expect(sample.log?.contains("error") == true, "\(sample.name): the log tail says why")
            }
            // Nothing the package lacks changes or breaks a build that works.
            #expect(
                result.findings.allSatisfy { $0.severity == .benign }, "\(result.findings.map { "\($0.class) \($0.path) \($0.severity)" })")
            // 6.12's flavour depends on gcc-12 directly and its kbuild on
            // pahole (6.1's did neither): neither is a dependency finding.
            let dependencies = result.findings.filter { $0.class == .dependency }.map(\.path)
            #expect(!dependencies.contains("gcc-12") && !dependencies.contains("pahole"), "\(dependencies)")
            // Debian's wrappers and variables, which no full tree has.
            #expect(result.findings.contains { $0.class == .extra && $0.path == ".kernelvariables" })
            #expect(result.findings.contains { $0.class == .relocated && $0.path == "scripts/module.lds" })
            // A broken sample never hides a finding that fails the gate.
            let failing = result.findings.contains { result.failsGate($0) }
            #expect(result.exitStatus == (failing ? 1 : (broken.isEmpty ? 0 : 3)))
            #expect(try Harness.fingerprintShallow(PreparedDebianPair.v6_12.tree) == treeBefore)
        }
    }
}
