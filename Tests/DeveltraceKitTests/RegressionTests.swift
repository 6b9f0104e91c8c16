import Foundation
import Testing

@testable import DeveltraceKit

/// Devel-package defects distributions really shipped (the README's table,
/// each with the bug report it comes from), re-created in the real Debian 6.1
/// packages: each must be pinpointed with the right class and severity, and
/// nothing else may be reported (beyond Debian's own known differences).
extension Machine {
    @Suite(.enabled(if: DebianPair.runs, "run tools/prepare-debian-6.1 first")) struct Regressions {
        static let kbuild = "usr/lib/linux-kbuild-6.1"
        static var release: String {
            (try? String(contentsOfFile: DebianPair.cache + "/debian-6.1/release", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "6.1.0-0-amd64"
        }
        static var flavour: String { "usr/src/linux-headers-\(release)" }
        static var common: String { "usr/src/linux-headers-\(release.replacingOccurrences(of: "-amd64", with: ""))-common" }

        /// What Debian's packages always differ in, and that is fine.
        static let debianBaseline = Baseline(
            source: "debian",
            entries: [
                .init(class: .relocated, path: "scripts/module.lds"), .init(class: .extra, path: ".kernelvariables"),
                .init(class: .extra, path: "scripts/mod/modpost.real-lsb-64"),
            ], isPattern: false)

        /// The three packages unpacked once; each case works on a copy.
        static let unpacked: URL = {
            let root = Harness.packageRoot.appendingPathComponent(".build/test-work/debian-good")
            try? FileManager.default.removeItem(at: root)
            try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            for deb in DebianPair.debs { _ = try? Harness.runProcess(["/usr/bin/dpkg-deb", "-x", deb, root.path]) }
            return root
        }()

        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            /// Shell run in the candidate root; $K, $F, $C, $T are the
            /// linux-kbuild, flavour and common dirs and the full tree. The
            /// candidate is a hard-linked copy: a file changed in place must
            /// first be made its own (`own FILE`), or replaced.
            var mutation: String
            var sample: String
            var expected: [String]
            var testDescription: String { name }
            /// Where its classification record lives (`Fixtures/recorded/SLUG`).
            var slug: String {
                let words = name.lowercased().split { !($0.isLetter || $0.isNumber) }
                return String(words.joined(separator: "-").prefix(60))
            }
        }

        /// `DEVELTRACE_RECORD_CLASSIFICATION=1 swift test --filter Regressions`
        /// records each case's classification (`ClassificationRecord`,
        /// gzip'd) into `Fixtures/recorded`, for the `RecordedRegressions`
        /// unit tests.
        static let recording = ProcessInfo.processInfo.environment["DEVELTRACE_RECORD_CLASSIFICATION"] == "1"
        static let records = Harness.fixtures.appendingPathComponent("recorded")

        static let cases: [Case] = [
            Case(
                name: "objtool missing (Bottlerocket #819, meta-balena #1303)", mutation: "rm $K/tools/objtool/objtool",
                sample: "acpi-call", expected: ["missing tools/objtool/objtool fatal"]),
            Case(
                name: "module.lds missing (Armbian #3103, meta-balena #2289)", mutation: "rm $F/arch/x86/module.lds", sample: "acpi-call",
                expected: ["missing scripts/module.lds fatal"]),
            Case(
                name: "module.lds is the unpreprocessed module.lds.S (iomemory-vsl4 #33)",
                mutation: "cp --remove-destination $T/scripts/module.lds.S $F/arch/x86/module.lds", sample: "acpi-call",
                expected: ["different scripts/module.lds divergent"]),
            Case(
                name: "genksyms missing (Armbian #220)", mutation: "rm $K/scripts/genksyms/genksyms", sample: "symbols",
                expected: ["missing scripts/genksyms/genksyms fatal"]),
            Case(
                name: "generated asm header missing (QubesOS #1192)", mutation: "rm $F/arch/x86/include/generated/asm/rwonce.h",
                sample: "acpi-call", expected: ["missing arch/x86/include/generated/asm/rwonce.h fatal"]),
            Case(
                name: "generated header missing where only the flavour has include/generated (closure must place it)",
                mutation: "rm $F/include/generated/bounds.h", sample: "vpoll", expected: ["missing include/generated/bounds.h fatal"]),
            Case(
                name: "pahole-flags.sh missing (Debian/Kali 5.16, rtl8812au #946)", mutation: "rm $K/scripts/pahole-flags.sh",
                sample: "acpi-call", expected: ["missing scripts/pahole-flags.sh benign"]),
            Case(
                name: "check-local-export missing (Debian 5.19, RTL88x2BU #143)", mutation: "rm $K/scripts/check-local-export",
                sample: "acpi-call", expected: ["missing scripts/check-local-export fatal"]),
            Case(
                name: "orc header missing (Fedora 6.5, Debian 6.3 skew; 6.1 has orc_types.h)",
                mutation: "rm $C/arch/x86/include/asm/orc_types.h", sample: "acpi-call",
                expected: ["missing arch/x86/include/asm/orc_types.h fatal"]),
            Case(
                // Debian 12's dkms (3.0.10), run for real: it tests
                // BUILD_EXCLUSIVE_CONFIG only where .config exists, so
                // acpi-call (CONFIG_ACPI) still builds; and without .config it
                // cannot read CONFIG_MODULE_SIG_HASH, so it signs with sha512
                // where the kernel's is sha256: the module differs.
                name: ".config missing (upstream 6.12 packages, dkms #464)", mutation: "rm $F/.config", sample: "acpi-call",
                expected: ["missing .config divergent"]),
            Case(
                // Debian's dkms signs with linux-kbuild's sign-file (then the
                // kbuild dir's): without it, "modules won't be signed", and
                // they do not load under Secure Boot.
                name: "sign-file missing: DKMS leaves the modules unsigned",
                mutation: "rm $K/scripts/sign-file", sample: "acpi-call", expected: ["missing scripts/sign-file divergent"]),
            Case(
                // 7.2's sign-file.c takes struct module_signature from the
                // header; 6.1's defines it itself, so a PRE_BUILD hook that
                // reads the header stands in for the hook's `make scripts`.
                name: "module_signature.h missing where a DKMS hook needs it (void-packages #62525)",
                mutation: "rm $C/include/linux/module_signature.h", sample: "hooks/pre-build",
                expected: ["missing include/linux/module_signature.h fatal"]),
            Case(
                name: "Module.symvers missing: modules lose their CRCs", mutation: "rm $F/Module.symvers", sample: "acpi-call",
                expected: ["missing Module.symvers divergent"]),
            Case(
                // Cross-built packages that shipped the target's host tools
                // (linux-surface 6.13, BPI-R3 6.6, Armbian 5.15): fixdep built
                // for arm64 from the tree's own source, with the cross compiler.
                name: "fixdep built for arm64 in an amd64 package (linux-surface 6.13, BPI-R3 6.6)",
                mutation:
                    "aarch64-linux-gnu-gcc -O2 -o $K/scripts/basic/fixdep.arm64 $T/scripts/basic/fixdep.c && mv -f $K/scripts/basic/fixdep.arm64 $K/scripts/basic/fixdep",
                sample: "acpi-call", expected: ["unrunnable scripts/basic/fixdep fatal"]),
            Case(
                // The same for modpost (Armbian 5.15): Debian's modpost, the
                // wrapper that picks modpost.real-*, replaced by an arm64 modpost.
                name: "modpost built for arm64 in an amd64 package (Armbian 5.15)",
                mutation:
                    "aarch64-linux-gnu-gcc -O2 -I$T/scripts/mod -o $K/scripts/mod/modpost.arm64 $T/scripts/mod/modpost.c $T/scripts/mod/file2alias.c $T/scripts/mod/sumversion.c && mv -f $K/scripts/mod/modpost.arm64 $K/scripts/mod/modpost",
                sample: "acpi-call", expected: ["unrunnable scripts/mod/modpost fatal"]),
            Case(
                name: "an extra header shadows the real one",
                mutation:
                    "mkdir -p $C/arch/x86/include/linux && sed 's/^#define MODULE_NAME_LEN.*/#define MODULE_NAME_LEN 32/' $C/include/linux/module.h > $C/arch/x86/include/linux/module.h",
                sample: "acpi-call", expected: ["extra arch/x86/include/linux/module.h divergent"]),
        ]

        @Test("a historical packaging defect is pinpointed", arguments: cases)
        func regression(_ regression: Case) throws {
            try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
            let good = Self.unpacked
            let candidate = Harness.packageRoot.appendingPathComponent(".build/test-work/debian-regression")
            try? FileManager.default.removeItem(at: candidate)
            defer { try? FileManager.default.removeItem(at: candidate) }
            // Hard links: a tenth of the time of a copy (develtrace never writes
            // into a candidate, and the mutations replace what they change).
            #expect(try Harness.runProcess(["/bin/cp", "-al", good.path, candidate.path]) == 0)
            let own = "own() { cp -p \"$1\" \"$1.own\" && mv -f \"$1.own\" \"$1\"; }"
            let script = "K=\(Self.kbuild) F=\(Self.flavour) C=\(Self.common) T=\(DebianPair.tree); \(own); \(regression.mutation)"
            #expect(try Harness.runProcess(["/bin/sh", "-ec", script], in: candidate) == 0, "the mutation applies")

            let sample =
                regression.sample == "symbols"
                ? Harness.fixtures.appendingPathComponent("modules/symbols").path
                : regression.sample.hasPrefix("hooks/")
                    ? Harness.fixtures.appendingPathComponent(regression.sample).path : DebianPair.cache + "/dkms/" + regression.sample
            var options = CheckOptions(
                buildTree: DebianPair.tree, candidates: [candidate.path], modules: [sample], corpus: "", jobs: 2, maxRounds: 10,
                timeout: .seconds(900))
            options.baseline = Self.debianBaseline
            // Each regression is about files; the system-dependency
            // experiments would cost a rebuild each.
            options.systemDependencies = false
            if Self.recording {
                let directory = Self.records.appendingPathComponent(regression.slug)
                try? FileManager.default.removeItem(at: directory)
                options.recordClassification = RawPath(directory.path)
            }
            let result = try CheckRunner(options: options).run()
            if Self.recording {
                let directory = Self.records.appendingPathComponent(regression.slug)
                for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".json") {
                    #expect(try Harness.runProcess(["/bin/gzip", "-9", "-n", "-f", directory.appendingPathComponent(file).path]) == 0)
                }
            }
            let reference = result.samples.map(\.reference)
            #expect(reference == ["succeeded"], "\(result.samples.first?.log ?? "")")
            let found = result.findings.filter { $0.baseline == .new }.map { "\($0.class.rawValue) \($0.path) \($0.severity.rawValue)" }
            #expect(found == regression.expected)
            // Closure restores what was missing: then the candidate builds
            // (an unrunnable tool is not missing, so it stays broken).
            if !regression.expected.contains(where: { $0.hasPrefix("unrunnable") }) {
                #expect(result.samples.map(\.candidate) == ["succeeded"], "\(result.samples.first?.log ?? "")")
            }
            // A program of another machine is named by its ELF header.
            for finding in result.findings where finding.class == .unrunnable && regression.name.contains("built for arm64") {
                #expect(
                    finding.detail?.hasPrefix("an ELF program for AArch64; this machine runs x86-64") == true, "\(finding.detail ?? "")")
            }
            #expect(
                !regression.name.contains("built for arm64") || result.findings.contains { $0.class == .unrunnable },
                "an arm64 tool is named as such")
            // The evidence names the process and the call.
            for finding in result.findings where finding.baseline == .new {
                let evidence = try #require(finding.evidence.first { $0.build == "candidate" })
                #expect(!evidence.argv.isEmpty)
                #expect(!evidence.syscall.isEmpty)
            }
        }
    }
}
