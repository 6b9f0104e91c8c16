import Foundation
import Testing

@testable import DeveltraceKit

/// The real Debian 12 kernel packages and reference tree that
/// `tools/prepare-debian-6.1` puts in the cache. CI prepares them and sets
/// DEVELTRACE_REQUIRE_REAL=1, so their absence fails instead of skipping.
enum DebianPair {
    static let cache =
        ProcessInfo.processInfo.environment["DEVELTRACE_CACHE"]
        ?? (geteuid() == 0
            ? "/var/cache/develtrace" : FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/develtrace").path)
    static var tree: String { cache + "/debian-6.1/linux" }
    static var prepared: Bool { FileManager.default.fileExists(atPath: tree + "/.develtrace-prepared") }
    static var required: Bool { ProcessInfo.processInfo.environment["DEVELTRACE_REQUIRE_REAL"] == "1" }
    static var runs: Bool { prepared || required }

    static var debs: [String] {
        let directory = cache + "/debian-6.1/debs"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("linux-headers-") || $0.hasPrefix("linux-kbuild-") }.sorted().map { directory + "/" + $0 }
    }

    static var samples: [String] { ["v4l2loopback", "acpi-call", "vpoll"].map { cache + "/dkms/" + $0 } }

    nonisolated(unsafe) private static var printed: CheckResult? = nil
    private static let printedLock = NSLock()

    /// The check of the packages as printed, made once and shared by the
    /// tests that need it (each run costs a minute).
    static func checkPrinted() throws -> CheckResult {
        printedLock.lock()
        defer { printedLock.unlock() }
        if let printed { return printed }
        let result = try check(debs)
        printed = result
        return result
    }

    /// `dependencies`: judge system dependencies (their experiments cost a
    /// rebuild of each sample; tests about files leave them out).
    static func check(_ candidates: [String], dependencies: Bool = true) throws -> CheckResult {
        var options = CheckOptions(
            buildTree: tree, candidates: candidates, modules: samples, corpus: "", jobs: 2, maxRounds: 10, timeout: .seconds(900))
        options.systemDependencies = dependencies
        return try CheckRunner(options: options).run()
    }
}

extension Machine {
    @Suite(.enabled(if: DebianPair.runs, "run tools/prepare-debian-6.1 first")) struct CheckDebian {
        @Test("the real Debian 6.1 packages: nothing missing, scripts/module.lds relocated; then 5 files removed are exactly the 5 missing")
        func debianPackages() throws {
            try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
            try #require(DebianPair.debs.count == 3, "three .debs: \(DebianPair.debs)")
            let treeBefore = try Harness.fingerprintShallow(DebianPair.tree)

            let clean = try DebianPair.checkPrinted()
            for sample in clean.samples {
                #expect(sample.reference == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.candidate == "succeeded", "\(sample.name): \(sample.log ?? "")")
                #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "\(sample.name)")
                #expect(sample.treeFilesUsed.count > 500)
            }
            #expect(clean.findings.filter { $0.class == .missing }.isEmpty, "\(clean.findings.filter { $0.class == .missing }.map(\.path))")
            let lds = clean.findings.first { $0.path == "scripts/module.lds" }
            #expect(lds?.class == .relocated)
            #expect(lds?.severity == .benign)
            #expect(lds?.detail?.contains("arch/x86/module.lds") == true)
            #expect(clean.exitStatus == 0)
            #expect(clean.inputs.layout.hasPrefix("split"))
            // Where the packages hold what the builds used: paths as
            // installed, no host file (the .debs were unpacked into the
            // run's scratch). The top Makefile is held twice: the
            // flavour's kbuild wrapper and -common's, which it includes.
            let files = try #require(clean.candidateFiles)
            let used = Set(clean.samples.flatMap { $0.candidateFilesUsed ?? [] })
            #expect(Set(files.keys).isSubset(of: used) && files.count > 500)
            for (path, places) in files {
                #expect(
                    places.allSatisfy {
                        $0.hostPath == nil && ($0.path.hasPrefix("/usr/src/linux-headers-") || $0.path.hasPrefix("/usr/lib/linux-kbuild-"))
                    }, "\(path): \(places)")
            }
            let makefiles = try #require(files["Makefile"]).map(\.path)
            #expect(makefiles.count == 2 && makefiles.contains { $0.hasSuffix("-common/Makefile") }, "\(makefiles)")
            #expect(files["include/linux/module.h"]?.map(\.path).allSatisfy { $0.hasSuffix("-common/include/linux/module.h") } == true)
            // System dependencies as printed: the compiler comes through
            // linux-compiler-gcc-12-x86 (and dkms); linux-kbuild-6.1 does
            // not depend on pahole, which the top Makefile runs for its
            // version on every build: benign here (no vmlinux, no .BTF).
            let dependencies = clean.findings.filter { $0.class == .dependency }
            #expect(dependencies.first { $0.path == "pahole" }?.severity == .benign, "\(dependencies.map(\.path))")
            #expect(dependencies.allSatisfy { $0.severity == .benign }, "\(dependencies.map { "\($0.path) \($0.severity)" })")
            #expect(!dependencies.contains { ["gcc-12", "cpp-12", "binutils", "make", "openssl", "rpm"].contains($0.path) })
            // Debian's include/config/kernel.release says 6.1.N; its UTS_RELEASE is the ABI name.
            #expect(!clean.warnings.contains { $0.contains("release") }, "\(clean.warnings)")

            // Unpack the same packages, remove 5 files every reference build read.
            let root = Harness.packageRoot.appendingPathComponent(".build/test-work/debian-mutated")
            try? FileManager.default.removeItem(at: root)
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            for deb in DebianPair.debs { #expect(try Harness.runProcess(["/usr/bin/dpkg-deb", "-x", deb, root.path]) == 0) }
            defer { try? FileManager.default.removeItem(at: root) }
            let release = clean.inputs.kernelRelease
            let flavour = root.path + "/usr/src/linux-headers-\(release)"
            let common = root.path + "/usr/src/linux-headers-\(release.replacingOccurrences(of: "-amd64", with: ""))-common"
            let kbuild = root.path + "/usr/lib/linux-kbuild-6.1"
            func locations(_ relative: String) -> [String] {
                var places = [flavour + "/" + relative, common + "/" + relative]
                if relative.hasPrefix("scripts/") || relative.hasPrefix("tools/") { places.append(kbuild + "/" + relative) }
                return places.filter { path in
                    var status = stat()
                    return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
                }
            }
            let usedByAll = clean.samples.map { Set($0.treeFilesUsed) }.reduce(Set(clean.samples[0].treeFilesUsed)) { $0.intersection($1) }
            let eligible = usedByAll.sorted().filter { locations($0).count == 1 }
            try #require(eligible.count >= 50, "eligible files: \(eligible.count)")
            let stride = eligible.count / 5
            let chosen = (0..<5).map { eligible[stride / 2 + $0 * stride] }
            for relative in chosen { try FileManager.default.removeItem(atPath: locations(relative)[0]) }

            let mutated = try DebianPair.check([root.path])
            let missing = Set(mutated.findings.filter { $0.class == .missing }.map(\.path))
            #expect(missing == Set(chosen), "chose \(chosen)")
            for finding in mutated.findings where finding.class == .missing {
                #expect(!finding.evidence.isEmpty)
            }
            #expect(mutated.exitStatus == 1)
            // Debian's own files are extra, and benign even though the first
            // rounds failed (for the missing headers, not for them).
            #expect(mutated.findings.filter { $0.class == .extra }.allSatisfy { $0.severity == .benign })
            #expect(mutated.findings.first { $0.path == "scripts/module.lds" }?.class == .relocated)
            #expect(
                mutated.samples.allSatisfy { $0.candidate == "succeeded" },
                "closure repaired every build: \(mutated.samples.map { "\($0.name) \($0.candidate) \($0.rounds) \($0.log ?? "")" })")
            #expect(try Harness.fingerprintShallow(DebianPair.tree) == treeBefore, "the reference tree is untouched")
        }

        /// Debian's flavour package reaches the compiler through
        /// `linux-compiler-gcc-12-x86` (→ `gcc-12`). The same package with
        /// that relation cut from its `Depends`, rebuilt with `dpkg-deb -b`:
        /// the compiler's packages are `dependency` findings, fatal because
        /// the build fails with their files hidden; the package as printed
        /// has none of them.
        @Test("a .deb whose Depends omit the compiler: gcc-12, cpp-12 and binutils are fatal dependency findings")
        func trimmedDepends() throws {
            try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
            let flavour = try #require(DebianPair.debs.first { $0.contains("-amd64_") })
            let work = Harness.packageRoot.appendingPathComponent(".build/test-work/debian-trimmed")
            try? FileManager.default.removeItem(at: work)
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let unpacked = work.appendingPathComponent("pkg").path
            #expect(try Harness.runProcess(["/usr/bin/dpkg-deb", "-R", flavour, unpacked]) == 0)
            let control = unpacked + "/DEBIAN/control"
            let text = try String(contentsOfFile: control, encoding: .utf8)
            try #require(text.contains(", linux-compiler-gcc-12-x86\n"), "\(text)")
            try text.replacingOccurrences(of: ", linux-compiler-gcc-12-x86\n", with: "\n").write(
                toFile: control, atomically: true, encoding: .utf8)
            let trimmed = work.appendingPathComponent("trimmed.deb").path
            #expect(try Harness.runProcess(["/usr/bin/dpkg-deb", "-Zxz", "-z1", "-b", unpacked, trimmed]) == 0)
            let others = DebianPair.debs.filter { $0 != flavour }
            func check(_ candidates: [String]) throws -> CheckResult {
                try CheckRunner(
                    options: CheckOptions(
                        buildTree: DebianPair.tree, candidates: candidates, modules: [Harness.packageRoot.path + "/Fixtures/modules/asm"],
                        corpus: "", jobs: 1, timeout: .seconds(600))
                ).run()
            }
            let result = try check([trimmed] + others)
            let dependencies = result.findings.filter { $0.class == .dependency }
            for package in ["gcc-12", "cpp-12", "binutils"] {
                let finding = dependencies.first { $0.path == package }
                #expect(finding?.severity == .fatal, "\(package): \(dependencies.map { "\($0.path) \($0.severity)" })")
                #expect(finding?.evidence.first?.build == "candidate")
                #expect(finding?.detail?.contains("(a build-essential member)") == true)
            }
            #expect(dependencies.first { $0.path == "cpp-12" }?.detail?.contains("/usr/lib/gcc/x86_64-linux-gnu/12/cc1") == true)
            #expect(result.exitStatus == 1, "fatal dependency findings fail the default gate")
            #expect(result.samples.first?.dependencyRebuilds ?? 0 > 0)
            #expect(result.inputs.packages.contains { $0.depends?.contains("linux-kbuild-6.1") == true })

            let printed = try check(DebianPair.debs)
            let names = Set(printed.findings.filter { $0.class == .dependency }.map(\.path))
            #expect(names.isDisjoint(with: ["gcc-12", "cpp-12", "binutils", "make", "dash", "libc6"]), "\(names)")
            #expect(printed.findings.filter { $0.class == .dependency }.allSatisfy { $0.severity == .benign })
            #expect(printed.hostFilesNotOwned?.contains("/etc/ld.so.cache") == true)
        }
    }
}

extension Machine.CheckDebian {
    /// `develtrace check --format json` on the Debian pair as `arguments`
    /// prefix says (root, or an ordinary user through setpriv).
    static func findings(as prefix: [String], output: URL) throws -> (
        status: Int32, findings: Set<String>, samples: [String], stderr: String
    ) {
        let arguments =
            prefix + [
                Machine.Escape.binary, "check", "--quiet", "--format", "json", "--output", output.path, "--build-tree", DebianPair.tree,
                // The file classes are compared; the system-dependency
                // experiments (a rebuild of each sample, twice) are proven
                // by CheckDebian's own tests.
                "--jobs", "2", "--no-system-dependencies",
            ] + DebianPair.debs.flatMap { ["--candidate", $0] } + DebianPair.samples.flatMap { ["--module", $0] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = output.deletingLastPathComponent()
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let data = try Data(contentsOf: output)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let findings = (object["findings"] as? [[String: Any]] ?? []).map {
            "\($0["class"] ?? "") \($0["path"] ?? "") \($0["severity"] ?? "")"
        }
        let samples = (object["samples"] as? [[String: Any]] ?? []).map {
            "\($0["name"] ?? "") \($0["reference"] ?? "") \($0["candidate"] ?? "")"
        }
        return (process.terminationStatus, Set(findings), samples.sorted(), stderr)
    }

    @Test(
        "rootless: an ordinary user's check of the Debian pair finds what root's finds",
        .enabled(if: geteuid() == 0, "it compares root's run with an ordinary user's"))
    func rootless() throws {
        try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
        let id = Machine.Escape.rootlessID
        let readable = try Harness.runProcess(
            ["/usr/bin/setpriv", "--reuid=\(id)", "--regid=\(id)", "--clear-groups", "/usr/bin/test", "-r", DebianPair.tree + "/Makefile"])
        try #require(
            readable == 0, "\(DebianPair.cache) must be readable by others (tools/test keeps root's cache in /var/cache/develtrace)")
        let work = URL(fileURLWithPath: "/tmp/develtrace-rootless-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        chown(work.path, id, id)
        let asRoot = try Self.findings(as: [], output: work.appendingPathComponent("root.json"))
        let asUser = try Self.findings(
            as: ["/usr/bin/setpriv", "--reuid=\(id)", "--regid=\(id)", "--clear-groups"], output: work.appendingPathComponent("user.json"))
        #expect(asRoot.status == 0, "\(asRoot.stderr)")
        #expect(asUser.status == asRoot.status, "\(asUser.stderr)")
        #expect(asUser.samples == asRoot.samples)
        #expect(asUser.samples.allSatisfy { $0.hasSuffix("succeeded succeeded") }, "\(asUser.samples)")
        #expect(asUser.findings == asRoot.findings, "root: \(asRoot.findings.sorted())\nuser: \(asUser.findings.sorted())")
        #expect(asRoot.findings.contains("relocated scripts/module.lds benign"))
    }
}

extension Machine.CheckDebian {
    @Test(
        "the same packages installed on the host, named as candidates, give the .debs' findings",
        .enabled(if: geteuid() == 0, "tools/prepare-debian-6.1 installs the packages as root"))
    func installedPackages() throws {
        try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
        let names = DebianPair.debs.map { URL(fileURLWithPath: $0).lastPathComponent.components(separatedBy: "_")[0] }
        try #require(names.count == 3)
        let installed = try Harness.runProcess(["/usr/bin/dpkg-query", "-W"] + names)
        try #require(installed == 0, "tools/prepare-debian-6.1 installs \(names) (as root)")
        let fromDebs = try DebianPair.checkPrinted()
        let fromInstalled = try DebianPair.check(names)
        func summary(_ result: CheckResult) -> Set<String> {
            Set(result.findings.map { "\($0.class.rawValue) \($0.path) \($0.severity.rawValue)" })
        }
        #expect(summary(fromInstalled) == summary(fromDebs))
        #expect(fromInstalled.exitStatus == fromDebs.exitStatus)
        #expect(fromInstalled.samples.map(\.candidate) == fromDebs.samples.map(\.candidate))
        #expect(fromInstalled.inputs.layout == fromDebs.inputs.layout)
        #expect(summary(fromDebs).contains("relocated scripts/module.lds benign"))
    }
}

extension Machine.CheckDebian {
    @Test(
        "Debian's split layout without one half's Makefile: that one file missing, fatal; closure restores the flavour's as kbuild's O= wrapper and -common's as the kernel's, so nothing else looks missing",
        arguments: ["flavour", "common", "flavour, no utsrelease.h"])
    func splitLayoutWithoutMakefile(half: String) throws {
        try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
        let work = try Harness.workDirectory("split-no-makefile-" + half.filter { $0.isLetter })
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.appendingPathComponent("root")
        for deb in DebianPair.debs { try #require(try Harness.runProcess(["/usr/bin/dpkg-deb", "-x", deb, root.path]) == 0) }
        let directory = try #require(
            try FileManager.default.contentsOfDirectory(atPath: root.path + "/usr/src").first {
                $0.hasPrefix("linux-headers-") && $0.hasSuffix("-common") == (half == "common")
            })
        try FileManager.default.removeItem(atPath: root.path + "/usr/src/\(directory)/Makefile")
        // Without utsrelease.h the flavour directory no longer says its
        // release; /lib/modules/*/source must still name its source half
        // (bench-accuracy's mutation 33 on the 6.12 pair).
        let noRelease = half.hasSuffix("no utsrelease.h")
        if noRelease {
            try FileManager.default.removeItem(atPath: root.path + "/usr/src/\(directory)/include/generated/utsrelease.h")
        }
        let options = CheckOptions(
            buildTree: DebianPair.tree, candidates: [root.path], modules: [Harness.fixtures.appendingPathComponent("modules/asm").path],
            corpus: "", jobs: 2, maxRounds: 10, timeout: .seconds(900))
        let result = try CheckRunner(options: options).run()
        #expect(result.inputs.layout.hasPrefix("split"), "lib/modules/R/source names the source half: \(result.inputs.layout)")
        let sample = try #require(result.samples.first)
        #expect(sample.candidate == "succeeded", "\(sample.log ?? "")")
        #expect(sample.modules.values.allSatisfy { $0.isIdentical }, "\(sample.modules)")
        let missing = result.findings.filter { $0.class == .missing && $0.path != "include/generated/utsrelease.h" }
            .map { "\($0.path) \($0.severity.rawValue)" }
        #expect(result.findings.contains { $0.class == .missing && $0.path == "include/generated/utsrelease.h" } == noRelease)
        // Once the full tree's Makefile was copied into the flavour directory,
        // making it a source tree: arch/x86/Makefile, include/linux/module.h
        // and seven more came out missing although -common holds them. And a
        // -common without its Makefile was not missing at all (the flavour's
        // wrapper stood for the tree's Makefile), but `different`.
        #expect(missing == ["Makefile fatal"], "\(missing)")
        #expect(!result.findings.contains { $0.class == .different }, "\(result.findings.map(\.path))")
        #expect(result.findings.contains { $0.class == .relocated && $0.path == "scripts/module.lds" })
    }
}

extension Machine.CheckDebian {
    /// DKMS makes a signing pair in a tree that has none (`openssl req`, RSA
    /// 2,048 bits): every build of a check did, in its own empty tree.
    @Test("a DKMS build given the check's signing pair runs no openssl of its own and signs with it; without it DKMS makes one")
    func sharedSigningKey() throws {
        try #require(DebianPair.prepared, "the Debian 6.1 pair is not prepared in \(DebianPair.cache)")
        let work = try Harness.workDirectory("signing-key")
        defer { try? FileManager.default.removeItem(at: work) }
        let release = try String(contentsOfFile: DebianPair.cache + "/debian-6.1/release", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let sample = try DkmsIdentity.evaluate(
            try Sample(path: RawPath(DebianPair.cache + "/dkms/vpoll")), kernelRelease: release, timeout: .seconds(120),
            cancel: CancellationHandle())
        let pair = try #require(DkmsSigningKey.make(in: RawPath(work.path + "/pair")), "the host's openssl makes a pair")
        // As a reference build sees the tree: /usr/lib/modules/RELEASE/build leads to it.
        let modules = work.appendingPathComponent("modules")
        try FileManager.default.createDirectory(at: modules, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: modules.path + "/build", withDestinationPath: DebianPair.tree)
        var sandbox = SandboxConfiguration()
        sandbox.overlays = [.init(lower: RawPath(DebianPair.tree), target: RawPath(DebianPair.tree))]
        sandbox.binds.append(.init(source: RawPath(modules.path), target: RawPath("/usr/lib/modules/\(release)"), readOnly: true))
        for (label, key) in [("with-pair", Optional(pair)), ("without", nil)] {
            let scratch = work.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let build = try SampleBuild(
                sample: sample, kernelRelease: release, kbuildDir: RawPath(DebianPair.tree), sandbox: sandbox,
                scratch: RawPath(scratch.path), label: "reference", cpu: nil, timeout: .seconds(300), signingKey: key
            ).run(cancel: CancellationHandle())
            #expect(build.status == .succeeded, "\(label): \(build.log)")
            let openssl = build.outcome.processes.values.filter { $0.executable?.lastComponent == RawPath("openssl") }
            let signFile = build.outcome.processes.values.filter { $0.executable?.lastComponent == RawPath("sign-file") }
            #expect(signFile.count == 1, "\(label): the module is signed")
            let module = try #require(build.modules.values.first, "\(label): \(build.log)")
            #expect(ModuleSignature(path: module)?.description.hasPrefix("signed") == true, "\(label)")
            if key != nil {
                #expect(openssl.isEmpty, "\(openssl.map(\.argv))")
                #expect(!build.log.contains("generating self signed certificate"), "\(build.log)")
                // sign-file named the pair DKMS found in its tree.
                #expect(signFile.first?.argv.contains(RawPath("/var/lib/dkms/mok.key")) == true, "\(signFile.map(\.argv))")
            } else {
                #expect(openssl.count == 1, "DKMS makes its own pair: \(openssl.map(\.argv))")
            }
        }
        // The pair itself: the key private to its owner, as DKMS's is.
        var status = stat()
        #expect(stat(pair.key.description, &status) == 0 && status.st_mode & 0o077 == 0)
    }
}
