import Foundation
import Testing

@testable import DeveltraceKit

/// A complete build of one series from Debian's linux-source (tinyconfig +
/// modules, modversions, BTF for modules) and the headers package its own
/// `make bindeb-pkg` cut from it, prepared by `tools/prepare-complete SERIES`.
/// 6.12's is of the `install-extmod-build` era (no `.config`, `scripts`
/// pruned, host tools rebuilt).
struct CompleteBuild: Sendable {
    var series: String

    static let v6_1 = CompleteBuild(series: "6.1")
    static let v6_12 = CompleteBuild(series: "6.12")

    var top: String { DebianPair.cache + "/complete-" + series }
    var tree: String { top + "/linux" }
    var prepared: Bool { FileManager.default.fileExists(atPath: top + "/pkgs/.deb-done") }
    var runs: Bool { prepared || DebianPair.required }

    var headers: String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: top + "/pkgs")) ?? []
        return names.first { $0.hasPrefix("linux-headers-") && $0.hasSuffix(".deb") }.map { top + "/pkgs/" + $0 }
    }

    /// Its `bindeb-pkg` headers checked against the build with `modules`;
    /// the build tree must come out untouched.
    func checkHeaders(modules: [String]) throws -> CheckResult {
        try #require(prepared, "the complete \(series) build is not prepared in \(top)")
        let headers = try #require(headers, "no linux-headers .deb in \(top)/pkgs")
        let treeBefore = try Harness.fingerprintShallow(tree)
        let options = CheckOptions(
            buildTree: tree, candidates: [headers], modules: modules, corpus: "", jobs: 2, maxRounds: 10, timeout: .seconds(900))
        let result = try CheckRunner(options: options).run()
        #expect(try Harness.fingerprintShallow(tree) == treeBefore, "the full tree is never written")
        return result
    }
}

extension Machine {
    @Suite(.enabled(if: CompleteBuild.v6_1.runs, "run tools/prepare-complete-6.1 first")) struct CheckComplete {
        @Test(
            "bindeb-pkg headers of a complete BTF build: vmlinux missing (divergent), then resolve_btfids (fatal); acpi-call skipped"
        )
        func bindebHeaders() throws {
            // acpi-call wants CONFIG_ACPI, which this build leaves out: it is
            // skipped with its reason, not counted as a failure.
            let result = try CompleteBuild.v6_1.checkHeaders(
                modules: [DebianPair.cache + "/dkms/acpi-call", DebianPair.cache + "/dkms/vpoll"])
            #expect(result.samples.map(\.name) == ["acpi-call", "vpoll"])
            let skipped = try #require(result.samples.first { $0.name == "acpi-call" })
            // DKMS's own words (3.0.10 does not say which directive).
            #expect(
                skipped.reference.hasPrefix("skipped: ")
                    && skipped.reference.hasSuffix("includes a BUILD_EXCLUSIVE directive which does not match this kernel/arch/config."),
                "\(skipped.reference) \(skipped.log ?? "")")
            #expect(result.exitStatus == 1, "a skipped sample is not a broken one (3)")
            let sample = try #require(result.samples.first { $0.name == "vpoll" })
            #expect(sample.reference == "succeeded", "\(sample.log ?? "")")
            #expect(sample.candidate == "succeeded", "closure restores both: \(sample.log ?? "")")
            let found = result.findings.filter { $0.class != .dependency }.map {
                "\($0.class.rawValue) \($0.path) \($0.severity.rawValue) \($0.round)"
            }
            #expect(
                found == [
                    "missing tools/bpf/resolve_btfids/resolve_btfids fatal 2", "missing vmlinux divergent 1",
                ])
            // The kernel's own bindeb-pkg headers declare nothing. With
            // vmlinux there, Makefile.modfinal runs pahole for each module's
            // .BTF (eweOS, Gentoo, Armbian: `pahole: not found`), and the
            // packaged resolve_btfids needs libelf.so.1: both fatal when
            // hidden. The compiler comes with dkms (the harness).
            let dependencies = Dictionary(
                uniqueKeysWithValues: result.findings.filter { $0.class == .dependency }.map { ($0.path, $0.severity) })
            #expect(dependencies["pahole"] == .fatal, "\(dependencies)")
            #expect(dependencies["libelf1"] == .fatal, "\(dependencies)")
            #expect(dependencies["gcc-12"] == nil && dependencies["make"] == nil, "harness: \(dependencies)")
            #expect((sample.dependencyRebuilds ?? 0) >= 2)
            // `[ -f vmlinux ]` is the evidence: a stat that failed.
            let vmlinux = try #require(result.findings.first { $0.path == "vmlinux" })
            #expect(vmlinux.evidence.contains { $0.build == "candidate" && $0.errno == "ENOENT" && $0.syscall.contains("stat") })
        }

        /// pahole 1.24 (`-j`) writes a module's `.BTF` in thread order, so two
        /// builds from the same inputs differ in bytes (seen on gost-crypto's
        /// modules, a different one each time): that must not count.
        @Test("the complete tree as its own candidate: nothing found, every module identical despite pahole -j")
        func selfCandidate() throws {
            try #require(CompleteBuild.v6_1.prepared, "the complete 6.1 build is not prepared in \(CompleteBuild.v6_1.top)")
            let work = try Harness.workDirectory("complete-self")
            defer { try? FileManager.default.removeItem(at: work) }
            let copy = work.appendingPathComponent("linux")
            #expect(try Harness.runProcess(["/bin/cp", "-al", CompleteBuild.v6_1.tree, copy.path]) == 0)
            let options = CheckOptions(
                buildTree: CompleteBuild.v6_1.tree, candidates: [copy.path], modules: [DebianPair.cache + "/dkms/gost-crypto"], corpus: "",
                jobs: 2, maxRounds: 10, timeout: .seconds(900))
            let result = try CheckRunner(options: options).run()
            let sample = try #require(result.samples.first)
            #expect(sample.candidate == "succeeded", "\(sample.log ?? "")")
            #expect(sample.modules.count == 6, "gost-crypto builds six modules")
            #expect(sample.modules.allSatisfy { $0.value.isIdentical }, "\(sample.modules)")
            #expect(result.findings.filter { $0.class != .unused }.isEmpty)
        }
    }
}
