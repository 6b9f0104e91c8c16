import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The `dependency` class's parts: dpkg's data read as dpkg means it,
    /// the policy, and the rule.
    @Suite struct DependencyTests {
        static let status = """
            Package: gcc-12
            Status: install ok installed
            Depends: cpp-12 (= 12.2.0-14), binutils (>= 2.40),
             libgcc-12-dev (= 12.2.0-14)
            Provides: c-compiler

            Package: cpp-12
            Status: install ok installed
            Depends: gcc-12-base (= 12.2.0-14)

            Package: gcc-12-base
            Status: install ok installed

            Package: binutils
            Status: install ok installed

            Package: libgcc-12-dev
            Status: install ok installed

            Package: linux-compiler-gcc-12-x86
            Status: install ok installed
            Depends: gcc-12

            Package: dash
            Status: install ok installed
            Essential: yes
            Pre-Depends: libc6 (>= 2.34)

            Package: libc6
            Status: install ok installed

            Package: make
            Status: install ok installed
            Depends: libc6

            Package: bash
            Status: install ok installed
            Essential: yes

            Package: dkms
            Status: install ok installed
            Depends: kmod | kldutils, gcc | c-compiler, make | build-essential

            Package: kmod
            Status: install ok installed

            Package: pahole
            Status: install ok installed
            Depends: libdw1

            Package: libdw1
            Status: install ok installed

            Package: removed-one
            Status: deinstall ok config-files
            Provides: c-compiler

            """

        static var installed: InstalledPackages { InstalledPackages(paragraphs: ControlParagraphs.parse(status)) }

        @Test("control paragraphs: continuation lines belong to the field above, blank lines separate")
        func paragraphs() {
            let parsed = ControlParagraphs.parse(Self.status)
            #expect(parsed.count == 15)
            #expect(parsed[0]["Depends"] == "cpp-12 (= 12.2.0-14), binutils (>= 2.40),\nlibgcc-12-dev (= 12.2.0-14)")
            #expect(parsed[6]["Essential"] == "yes")
        }

        @Test("control paragraphs: a blank line of spaces and tabs separates, values trimmed, UTF-8 kept, a line without a colon ignored")
        func paragraphEdges() {
            let text =
                "Package: a\nMaintainer:\t Jörg Ø <j@example.org> \t\nDescription:\n ünïcode line\n \t.\n \t\nPackage: b\nno colon here\nX-Empty:\n\n\n"
            let parsed = ControlParagraphs.parse(text)
            #expect(parsed.count == 2)
            #expect(parsed[0]["Maintainer"] == "Jörg Ø <j@example.org>")
            #expect(parsed[0]["Description"] == "\nünïcode line\n.")
            #expect(parsed[1] == ["Package": "b", "X-Empty": ""])
            #expect(ControlParagraphs.parse("").isEmpty)
            #expect(ControlParagraphs.parse("Package: c") == [["Package": "c"]], "no newline at the end")
        }

        @Test("relations: alternatives, versions, architecture qualifiers, restrictions dropped")
        func relations() {
            let parsed = PackageRelation.parse("gcc-12 (>= 12.2) | c-compiler, libc6:any [amd64], python3:native <!nocheck>,")
            #expect(parsed.count == 3)
            #expect(parsed[0].alternatives.map(\.name) == ["gcc-12", "c-compiler"])
            #expect(parsed[0].alternatives[0].version == ">= 12.2")
            #expect(parsed[1].alternatives == [.init(name: "libc6", architecture: "any", version: nil)])
            #expect(parsed[2].alternatives[0].name == "python3")
            #expect(PackageRelation.parse("").isEmpty)
        }

        @Test("closure: transitive Depends and Pre-Depends, virtual packages by their installed providers, first alternative installed")
        func closure() {
            let installed = Self.installed
            let compiler = installed.closure(of: PackageRelation.parse("linux-compiler-gcc-12-x86"))
            #expect(compiler.packages == ["linux-compiler-gcc-12-x86", "gcc-12", "cpp-12", "gcc-12-base", "binutils", "libgcc-12-dev"])
            #expect(compiler.unsatisfied.isEmpty)
            // A virtual name: its installed provider (not a removed one).
            #expect(installed.closure(of: PackageRelation.parse("c-compiler")).packages.contains("gcc-12"))
            #expect(installed.satisfiers(of: PackageRelation.parse("c-compiler")[0]) == ["gcc-12"])
            // The first alternative that is installed.
            #expect(installed.satisfiers(of: PackageRelation.parse("kldutils | kmod")[0]) == ["kmod"])
            let missing = installed.closure(of: PackageRelation.parse("libssl-dev | libssl1.0-dev, make"))
            #expect(missing.unsatisfied == ["libssl-dev | libssl1.0-dev"])
            #expect(missing.packages == ["make", "libc6"])
            #expect(installed.essentialClosure == ["dash", "bash", "libc6"], "Pre-Depends count")
        }

        @Test("policy: Essential, harness (bash, make; dkms for DKMS samples) and the declared closure are never findings")
        func policy() {
            let (policy, unsatisfied) = DependencyPolicy.make(
                candidateRelations: PackageRelation.parse("linux-headers-6.1.0-56-common (= 6.1.192-2), linux-compiler-gcc-12-x86"),
                candidateNames: ["linux-headers-6.1.0-56-amd64", "linux-headers-6.1.0-56-common"], installed: Self.installed)
            #expect(unsatisfied.isEmpty, "a candidate package satisfies its sibling's relation itself")
            #expect(!policy.mustDeclare("gcc-12", dkms: false))
            #expect(!policy.mustDeclare("binutils", dkms: false))
            #expect(!policy.mustDeclare("libc6", dkms: false), "Essential's closure")
            #expect(!policy.mustDeclare("make", dkms: false), "harness")
            #expect(policy.mustDeclare("pahole", dkms: false))
            #expect(policy.mustDeclare("kmod", dkms: false))
            #expect(!policy.mustDeclare("kmod", dkms: true), "dkms's own dependency")
            let trimmed = DependencyPolicy.make(
                candidateRelations: [], candidateNames: ["linux-headers-6.1.0-56-amd64"], installed: Self.installed
            ).policy
            #expect(trimmed.mustDeclare("gcc-12", dkms: false))
            #expect(!trimmed.mustDeclare("gcc-12", dkms: true), "dkms brings gcc | c-compiler")
            let directory = DependencyPolicy.make(candidateRelations: nil, candidateNames: [], installed: Self.installed).policy
            #expect(!directory.mustDeclare("pahole", dkms: false), "nothing declared, nothing judged")
        }

        /// A merged-/usr host: dpkg says `/bin/sh`, the build opens `/usr/bin/sh`.
        static var host: FakeHost {
            var host = FakeHost()
            host.directories.formUnion(["/usr/bin", "/etc/alternatives", "/usr/lib/x86_64-linux-gnu"])
            host.files.formUnion(["/usr/bin/dash", "/usr/bin/x86_64-linux-gnu-gcc-12", "/usr/bin/mawk.distrib", "/usr/bin/mawk"])
            host.links["/usr/bin/sh"] = "dash"
            host.links["/usr/bin/cc"] = "/etc/alternatives/cc"
            host.links["/etc/alternatives/cc"] = "/usr/bin/gcc"
            host.links["/usr/bin/gcc"] = "gcc-12"
            host.links["/usr/bin/gcc-12"] = "x86_64-linux-gnu-gcc-12"
            return host
        }

        static func owners(_ host: FakeHost) -> FileOwners {
            FileOwners(
                lists: [
                    ("dash", ["/bin/dash", "/bin/sh", "/bin"].map(RawPath.init)),
                    ("gcc", ["/usr/bin", "/usr/bin/gcc"].map(RawPath.init)),
                    ("gcc-12", ["/usr/bin", "/usr/bin/gcc-12", "/usr/bin/x86_64-linux-gnu-gcc-12"].map(RawPath.init)),
                    // A second list of the same name (`dash:amd64.list` beside `dash.list`).
                    ("dash", ["/usr/bin", "/usr/share/doc/dash"].map(RawPath.init)),
                    ("mawk", [RawPath("/usr/bin/mawk")]),
                    ("local-awk", [RawPath("/usr/bin/mawk")]),
                ],
                diversions: [.init(path: RawPath("/usr/bin/mawk"), to: RawPath("/usr/bin/mawk.distrib"), by: "local-awk")],
                alternatives: [(name: "cc", links: [RawPath("/usr/bin/cc")])], realDirectory: { host.realPath(of: $0) ?? $0 })
        }

        @Test("owners: merged /usr, every symlink hop, alternatives, diversions")
        func ownership() {
            let host = Self.host
            let owners = Self.owners(host)
            let sh = owners.hops(of: RawPath("/bin/sh"), host: host)
            #expect(sh.map(\.path.description) == ["/usr/bin/sh", "/usr/bin/dash"])
            #expect(sh.map(\.owners) == [["dash"], ["dash"]])
            let cc = owners.hops(of: RawPath("/usr/bin/cc"), host: host)
            #expect(
                cc.map(\.path.description) == [
                    "/usr/bin/cc", "/etc/alternatives/cc", "/usr/bin/gcc", "/usr/bin/gcc-12", "/usr/bin/x86_64-linux-gnu-gcc-12",
                ])
            #expect(cc.map(\.owners) == [[], [], ["gcc"], ["gcc-12"], ["gcc-12"]])
            #expect(cc.map(\.alternative) == ["cc", "cc", nil, nil, nil])
            #expect(cc.map(\.isLink) == [true, true, true, true, false])
            // The diverting package owns the path; the diverted one, the
            // diversion's target.
            #expect(owners.owners(of: RawPath("/usr/bin/mawk")) == ["local-awk"])
            #expect(owners.owners(of: RawPath("/usr/bin/mawk.distrib")) == ["mawk"])
            #expect(owners.files(of: "dash").contains(RawPath("/usr/bin")), "directories are listed (real location); callers skip them")
            #expect(owners.files(of: "dash").contains(RawPath("/usr/share/doc/dash")), "both lists of a name")
            #expect(owners.owners(of: RawPath("/usr/bin")) == ["dash", "gcc", "gcc-12"], "a directory many packages list")
            #expect(owners.owners(of: RawPath("/usr/bin/nothing")).isEmpty)
            #expect(owners.files(of: "no-such-package").isEmpty)
        }

        @Test("alternatives file: the master link and each slave's")
        func alternativeLinks() {
            let file = "auto\n/usr/bin/cc\ncc.1.gz\n/usr/share/man/man1/cc.1.gz\n\n/usr/bin/gcc\n20\n/usr/share/man/man1/gcc.1.gz\n\n"
            #expect(FileOwners.alternativeLinks(Array(file.utf8)) == ["/usr/bin/cc", "/usr/share/man/man1/cc.1.gz"].map(RawPath.init))
        }

        @Test("Contents lines: the path may hold spaces; sections dropped; several packages")
        func contents() {
            let index = """
                usr/bin/make                                            devel/make,devel/make-guile
                usr/bin/pahole                                          utils/pahole
                usr/share/doc/a b/x                                     doc/ab
                usr/bin/makeinfo                                        text/texinfo

                """
            let found = ArchiveContents.parse(
                Array(index.utf8),
                wanted: Set(["/usr/bin/make", "/usr/bin/pahole", "/usr/share/doc/a b/x", "/bin/pahole"].map(RawPath.init)))
            #expect(found[RawPath("/usr/bin/make")] == ["make", "make-guile"])
            #expect(found[RawPath("/usr/bin/pahole")] == ["pahole"])
            #expect(found[RawPath("/usr/share/doc/a b/x")] == ["ab"])
            #expect(found[RawPath("/bin/pahole")] == nil)
            #expect(found.count == 3)
        }

        static func process(_ pid: Int32, _ parent: Int32, _ program: String?) -> TracedProcess {
            TracedProcess(pid: pid, parent: parent, argv: [], executable: program.map(RawPath.init))
        }

        @Test(
            "roles: a make that reads the kernel's Makefiles and what it runs are the build; the driver, dkms's own work and a sample's own make are not"
        )
        func roles() {
            let processes: [Int32: TracedProcess] = [
                1: Self.process(1, 0, "/bin/bash"), // the driver
                2: Self.process(2, 1, "/usr/sbin/dkms"),
                3: Self.process(3, 2, "/usr/bin/make"),
                4: Self.process(4, 3, "/bin/sh"),
                5: Self.process(5, 4, "/usr/bin/x86_64-linux-gnu-gcc-12"),
                6: Self.process(6, 2, "/usr/bin/openssl"), // dkms's signing key
                7: Self.process(7, 5, nil), // forked, never executed
                // The sample's own make: its recipe runs a user-space
                // compiler and, through $(MAKE) -C, kbuild.
                8: Self.process(8, 2, "/usr/bin/make"),
                9: Self.process(9, 8, "/usr/bin/gcc"),
                10: Self.process(10, 8, "/usr/bin/make"),
            ]
            func read(_ process: Int32, _ path: String, _ result: AccessResult = .ok) -> FileAccess {
                FileAccess(
                    pid: process, process: process, syscall: "openat", path: RawPath(path), rawPath: RawPath(path), intent: .read,
                    result: result, sequence: Int(process))
            }
            let accesses = [
                read(3, "/usr/src/linux-headers-1/Makefile"), read(8, "/var/lib/dkms/x/build/Makefile"),
                read(8, "/usr/src/linux-headers-1/.config", .failed(.noSuchFileOrDirectory)), read(9, "/usr/src/linux-headers-1/x.h"),
                read(10, "/usr/src/linux-headers-1/scripts/Makefile.build"),
            ]
            let kernel = ProcessRoles.kernelMakes(processes, accesses: accesses) { $0.isSame(or: RawPath("/usr/src/linux-headers-1")) }
            #expect(kernel == [3, 10])
            #expect(ProcessRoles.buildProcesses(processes, kernelMakes: kernel) == [3, 4, 5, 7, 10])
            #expect(ProcessRoles.isSharedObject(RawPath("/usr/lib/x86_64-linux-gnu/libelf.so.1")))
            #expect(ProcessRoles.isSharedObject(RawPath("/usr/lib/bfd-plugins/liblto_plugin.so")))
            #expect(!ProcessRoles.isSharedObject(RawPath("/usr/include/linux/socket.h")))
            #expect(!ProcessRoles.isSharedObject(RawPath("/usr/share/doc/x.sop")))
            #expect(ProcessRoles.isLibraryRuntime(RawPath("/usr/share/locale/locale.alias")))
            #expect(ProcessRoles.isLibraryRuntime(RawPath("/usr/lib/x86_64-linux-gnu/gconv/gconv-modules")))
            #expect(!ProcessRoles.isLibraryRuntime(RawPath("/usr/include/locale.h")))
            #expect(ProcessRoles.isLibraryRuntime(RawPath("/usr/share/zoneinfo/Europe/Paris")))
            #expect(ProcessRoles.isLibraryRuntime(RawPath("/etc/localtime")))
            let python = RawPath("/usr/bin/python3.11")
            #expect(
                ProcessRoles.isInterpreterStartup(RawPath("/usr/lib/python3/dist-packages/distutils-precedence.pth"), executable: python))
            #expect(ProcessRoles.isInterpreterStartup(RawPath("/usr/local/lib/python3.11/site-packages/x.pth"), executable: python))
            #expect(!ProcessRoles.isInterpreterStartup(RawPath("/usr/lib/python3/dist-packages/yaml/__init__.py"), executable: python))
            #expect(
                !ProcessRoles.isInterpreterStartup(RawPath("/usr/lib/python3/dist-packages/x.pth"), executable: RawPath("/usr/bin/perl")))
        }

        static func seen(_ round: Int, _ path: String, _ syscall: String = "openat", _ intent: AccessIntent = .read) -> Classifier.Seen {
            (
                round,
                FileAccess(
                    pid: 5, process: 5, syscall: syscall, path: RawPath(path), rawPath: RawPath(path), intent: intent,
                    result: .ok, sequence: 0)
            )
        }

        static func show(_ seen: Classifier.Seen) -> Evidence {
            Evidence(
                sample: "hello", build: "candidate", round: seen.round, pid: seen.access.pid, argv: [], syscall: seen.access.syscall,
                errno: seen.access.result.description, path: seen.access.path.description)
        }

        @Test("rule: a package used and not declared is a finding; declared, Essential and harness ones are not; unowned files are listed")
        func rule() {
            let host = Self.host
            let owners = Self.owners(host)
            let uses: [RawPath: [Classifier.Seen]] = [
                RawPath("/usr/bin/cc"): [Self.seen(1, "/usr/bin/cc", "execve", .exec)],
                RawPath("/bin/sh"): [Self.seen(1, "/bin/sh", "execve", .exec)],
                RawPath("/etc/ld.so.cache"): [Self.seen(1, "/etc/ld.so.cache")],
            ]
            let hops = Dictionary(uniqueKeysWithValues: uses.keys.map { ($0, owners.hops(of: $0, host: host)) })
            var installed = ControlParagraphs.parse(Self.status)
            installed.append(["Package": "gcc", "Status": "install ok installed", "Depends": "gcc-12"])
            let packages = InstalledPackages(paragraphs: installed)
            let declared = DependencyPolicy.make(
                candidateRelations: PackageRelation.parse("linux-compiler-gcc-12-x86, gcc"), candidateNames: ["h"], installed: packages
            ).policy
            let trimmed = DependencyPolicy.make(candidateRelations: [], candidateNames: ["h"], installed: packages).policy
            let absent: [RawPath: [Classifier.Seen]] = [
                RawPath("toilet"): [Self.seen(2, "/usr/bin/toilet", "execve", .exec)]
            ]
            func run(_ policy: DependencyPolicy, shipped: [String]) -> DependencyRule.Outcome {
                DependencyRule.outcome(
                    sample: "hello", dkms: false, uses: uses, hops: hops, absentPrograms: absent,
                    shippedBy: [RawPath("toilet"): shipped], policy: policy, severity: .fatal, show: Self.show)
            }
            let good = run(declared, shipped: ["toilet"])
            #expect(good.findings.map(\.path) == ["toilet"], "gcc-12 comes through the declared compiler")
            #expect(good.findings[0].detail?.contains("the archive ships it in toilet") == true)
            #expect(good.findings[0].round == 2 && good.findings[0].severity == .fatal)
            #expect(good.unowned == [RawPath("/etc/ld.so.cache")], "an alternatives link is not unowned")
            let bad = run(trimmed, shipped: [])
            #expect(bad.findings.map(\.path) == ["gcc", "gcc-12", "toilet"])
            #expect(bad.undeclared == ["gcc", "gcc-12"], "an absent program is not held out")
            #expect(bad.findings[1].detail?.hasPrefix("used /usr/bin/gcc-12, /usr/bin/x86_64-linux-gnu-gcc-12;") == true)
            #expect(bad.findings[1].evidence.first?.path == "/usr/bin/cc", "the path the build named")
            #expect(bad.findings.allSatisfy { $0.class == .dependency })
            #expect(bad.findings[2].detail?.contains("no package of the archive ships it") == true)
            // The host lacks a program the candidate declares: a warning, not a finding.
            var withToilet = installed
            withToilet.append(["Package": "toilet", "Status": "not-installed ok not-installed"])
            let lacks = DependencyRule.outcome(
                sample: "hello", dkms: false, uses: [:], hops: [:], absentPrograms: absent, shippedBy: [RawPath("gcc-12"): []],
                policy: DependencyPolicy(declared: ["toilet"], essential: [], harness: [], dkmsHarness: [], buildEssential: []),
                severity: .fatal, show: Self.show)
            #expect(lacks.findings.count == 1, "without the archive's answer the declaration cannot be matched")
            let lacksKnown = DependencyRule.outcome(
                sample: "hello", dkms: false, uses: [:], hops: [:], absentPrograms: absent, shippedBy: [RawPath("toilet"): ["toilet"]],
                policy: DependencyPolicy(declared: ["toilet"], essential: [], harness: [], dkmsHarness: [], buildEssential: []),
                severity: .fatal, show: Self.show)
            #expect(lacksKnown.findings.isEmpty && lacksKnown.hostLacks == ["toilet"])
        }
    }
}

extension Unit {
    @Suite struct TargetArchitectureTests {
        @Test("--arch: the kernel's name or the machine's; Debian's cross prefix unless given; the compiler must be on PATH")
        func named() throws {
            let bin = FileManager.default.temporaryDirectory.appendingPathComponent("dt-arch-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: bin) }
            for name in ["aarch64-linux-gnu-gcc", "my-cross-gcc"] {
                let file = bin.appendingPathComponent(name).path
                _ = FileManager.default.createFile(atPath: file, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
            }
            let arm64 = try TargetArchitecture.named("arm64", crossCompile: nil, path: bin.path)
            #expect(arm64 == TargetArchitecture(kernel: "arm64", machine: "aarch64", crossCompile: "aarch64-linux-gnu-"))
            #expect(arm64.environment == ["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"])
            #expect(try TargetArchitecture.named("aarch64", crossCompile: nil, path: bin.path).kernel == "arm64")
            #expect(try TargetArchitecture.named("arm64", crossCompile: "my-cross-", path: bin.path).crossCompile == "my-cross-")
            #expect(throws: InputError.self) { try TargetArchitecture.named("vax", crossCompile: nil, path: bin.path) }
            #expect(throws: InputError.self) { try TargetArchitecture.named("riscv", crossCompile: nil, path: bin.path) }
        }

        @Test("a cross build's relation: the cross package first, then the name itself")
        func crossing() {
            let relation = PackageRelation.parse("gcc-12 (>= 12) | c-compiler")[0].crossing("aarch64-linux-gnu")
            #expect(
                relation.alternatives.map(\.name) == ["gcc-12-aarch64-linux-gnu", "gcc-12", "c-compiler-aarch64-linux-gnu", "c-compiler"])
            var status = ControlParagraphs.parse(DependencyTests.status)
            status.append([
                "Package": "gcc-12-aarch64-linux-gnu", "Status": "install ok installed", "Depends": "binutils-aarch64-linux-gnu",
            ])
            status.append(["Package": "binutils-aarch64-linux-gnu", "Status": "install ok installed"])
            let installed = InstalledPackages(paragraphs: status)
            let cross = DependencyPolicy.make(
                candidateRelations: PackageRelation.parse("gcc-12"), candidateNames: [], installed: installed,
                crossTriplet: "aarch64-linux-gnu"
            ).policy
            #expect(!cross.mustDeclare("gcc-12-aarch64-linux-gnu", dkms: false))
            #expect(!cross.mustDeclare("binutils-aarch64-linux-gnu", dkms: false))
            let native = DependencyPolicy.make(
                candidateRelations: PackageRelation.parse("gcc-12"), candidateNames: [], installed: installed
            ).policy
            #expect(native.mustDeclare("gcc-12-aarch64-linux-gnu", dkms: false), "only a cross build substitutes")
        }

    }
}

extension Unit.DependencyTests {
    @Test("rpm Requires: files and sonames resolve to host packages; names and rpm's own capabilities do not")
    func rpmRequirements() {
        let lines = [
            "/bin/sh", "/usr/bin/perl", "libelf.so.1()(64bit)", "libc.so.6(GLIBC_2.34)(64bit)", "libcrypto.so.3", "gcc >= 4.9",
            "perl(strict)", "rpmlib(CompressedFileNames) <= 3.0.4-1", "rtld(GNU_HASH)", "config(kernel-devel) = 6.1", "", "/opt/absent",
            "libabsent.so.9()(64bit)",
        ]
        let parsed = lines.compactMap(RpmRequirement.parse)
        #expect(
            parsed == [
                .file(RawPath("/bin/sh")), .file(RawPath("/usr/bin/perl")), .library(soname: "libelf.so.1", wide: true),
                .library(soname: "libc.so.6", wide: true), .library(soname: "libcrypto.so.3", wide: false), .name("gcc"),
                .name("perl(strict)"),
                .feature("rpmlib(CompressedFileNames)"), .feature("rtld(GNU_HASH)"), .feature("config(kernel-devel)"),
                .file(RawPath("/opt/absent")), .library(soname: "libabsent.so.9", wide: true),
            ])
        // A host: /bin/sh is dash's symlink to dash; the 64-bit libraries live
        // in the multiarch directory; 32-bit ones would be elsewhere.
        let host: [RawPath: Set<String>] = [
            RawPath("/bin/sh"): ["dash"], RawPath("/usr/bin/perl"): ["perl-base"],
            RawPath("/usr/lib/x86_64-linux-gnu/libelf.so.1"): ["libelf1"], RawPath("/lib/x86_64-linux-gnu/libc.so.6"): ["libc6"],
            RawPath("/usr/lib/i386-linux-gnu/libelf.so.1"): ["libelf1:i386"],
        ]
        let declarations = RpmDeclarations.resolve(parsed, hostTriplet: "x86_64-linux-gnu") { host[$0] }
        #expect(declarations.packages == ["dash", "perl-base", "libelf1", "libc6"])
        #expect(declarations.absent == ["/opt/absent", "libabsent.so.9 (64-bit)", "libcrypto.so.3"])
        #expect(declarations.names == ["gcc", "perl(strict)"])
        let narrow = RpmDeclarations.resolve([.library(soname: "libelf.so.1", wide: false)], hostTriplet: "x86_64-linux-gnu") {
            host[$0]
        }
        #expect(narrow.packages == ["libelf1:i386"], "a library without (64bit) is looked for where 32-bit ones live")
        #expect(DependencyContext.multiarchTriplet("arm64") == "aarch64-linux-gnu")
    }

    @Test("rpm findings say what could not be judged: the requirements by name")
    func rpmFindingDetail() {
        let installed = InstalledPackages(paragraphs: ControlParagraphs.parse(Self.status))
        let policy = DependencyPolicy.make(
            candidateRelations: PackageRelation.parse("pahole"), candidateNames: [], installed: installed, unresolvedNames: ["gcc", "make"]
        ).policy
        let outcome = DependencyRule.outcome(
            sample: "s", dkms: false, uses: [RawPath("/usr/bin/gcc-12"): [Self.seen(1, "/usr/bin/gcc-12", "execve", .exec)]],
            hops: [RawPath("/usr/bin/gcc-12"): [FileOwners.Hop(path: RawPath("/usr/bin/gcc-12"), owners: ["gcc-12"], isLink: false)]],
            absentPrograms: [:], shippedBy: [:], policy: policy, severity: .benign, show: Self.show)
        let finding = try? #require(outcome.findings.first)
        #expect(finding?.path == "gcc-12")
        #expect(finding?.detail?.contains("its requirements by name (gcc, make) cannot be resolved") == true)
    }
}

extension Unit {
    /// `RealDirectories` on a made-up merged-/usr host: `realpath`'s answers,
    /// each directory looked at once.
    @Suite struct RealDirectoriesTests {
        /// `FakeHost`, counting the `lstat`s asked of it.
        final class CountingHost: HostView {
            var base = FakeHost()
            var asked: [String: Int] = [:]
            init() {
                base.directories.formUnion(["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/modules/6.1.0"])
                base.links["/usr/lib/gcc-link"] = "x86_64-linux-gnu"
            }
            func kind(of path: RawPath) -> HostFileKind? {
                asked[path.description, default: 0] += 1
                return base.kind(of: path)
            }
            func followedKind(of path: RawPath) -> HostFileKind? { base.followedKind(of: path) }
            func linkTarget(of path: RawPath) -> RawPath? { base.linkTarget(of: path) }
            func realPath(of path: RawPath) -> RawPath? {
                // realpath(3): through the links, and nothing where the result is absent.
                var text = path.description
                if text.hasPrefix("/usr/lib/gcc-link") { text = "/usr/lib/x86_64-linux-gnu" + text.dropFirst("/usr/lib/gcc-link".count) }
                guard let real = base.realPath(of: RawPath(text)), base.kind(of: real) != nil else { return nil }
                return real
            }
            func owner(of path: RawPath) -> HostOwner? { base.owner(of: path) }
            var mountPoints: [RawPath] { base.mountPoints }
        }

        @Test("through a link at the top and one in the middle, absent ones nil, each directory asked once")
        func resolves() {
            let host = CountingHost()
            let resolver = RealDirectories(host: host)
            #expect(resolver.real(RawPath("/lib/modules/6.1.0")) == RawPath("/usr/lib/modules/6.1.0"))
            #expect(resolver.real(RawPath("/lib/modules")) == RawPath("/usr/lib/modules"))
            #expect(resolver.real(RawPath("/usr/lib/x86_64-linux-gnu")) == RawPath("/usr/lib/x86_64-linux-gnu"))
            #expect(resolver.real(RawPath("/usr/lib/gcc-link")) == RawPath("/usr/lib/x86_64-linux-gnu"))
            #expect(resolver.real(RawPath("/usr/share/absent/deeper")) == nil)
            #expect(resolver.real(RawPath("/")) == RawPath("/"))
            // Again: nothing asked anew.
            let before = host.asked
            #expect(resolver.real(RawPath("/lib/modules/6.1.0")) == RawPath("/usr/lib/modules/6.1.0"))
            #expect(resolver.real(RawPath("/usr/share/absent")) == nil)
            #expect(host.asked == before)
            #expect(host.asked.values.allSatisfy { $0 == 1 }, "\(host.asked)")
            // /lib/modules/6.1.0 was looked at in /usr/lib, never through /lib.
            #expect(host.asked["/lib/modules"] == nil && host.asked["/usr/lib/modules/6.1.0"] == 1)
        }
    }
}

extension Unit {
    /// `LocationTable`: byte strings numbered in the order first added.
    @Suite struct LocationTableTests {
        @Test("numbers in order of first insertion, found again after growing, misses nil, any bytes kept")
        func numbering() {
            var table = LocationTable()
            var numbers: [[UInt8]: Int32] = [:]
            // Well past the initial 16 slots, without `reserve`: the table grows.
            var strings: [[UInt8]] = (0..<5000).map { Array("/usr/share/p\($0 % 97)/f\($0)".utf8) }
            strings += [[], [0xff, 0xfe, 0x2f], Array("/usr/share/p1".utf8), Array("/usr/share/p1/".utf8)]
            for string in strings + strings.reversed() {
                let number = table.insert(string)
                if let known = numbers[string] {
                    #expect(number == known, "\(string)")
                } else {
                    #expect(Int(number) == numbers.count, "a new string takes the next number")
                    numbers[string] = number
                }
            }
            #expect(table.count == numbers.count)
            for (string, number) in numbers {
                #expect(table.find(string) == number)
                #expect(table.bytes(of: number) == string)
            }
            #expect(table.find(Array("/usr/share/p1/f".utf8)) == nil, "a prefix of entries is not one")
            #expect(table.find(Array("/usr/share/p1/f1x".utf8)) == nil)
            var reserved = LocationTable()
            reserved.reserve(100)
            #expect(reserved.find([]) == nil, "an empty table finds nothing")
            #expect(reserved.insert(Array("/a".utf8)) == 0 && reserved.find(Array("/a".utf8)) == 0)
        }
    }

    /// `FileOwners`' index against a plain dictionary of the same lists.
    @Suite struct FileOwnersIndexTests {
        @Test("thousands of paths in shared directories: every owner and every package's files as a dictionary has them")
        func againstDictionary() {
            var lists: [(package: String, paths: [RawPath])] = []
            var expected: [RawPath: Set<String>] = [:]
            for package in 0..<40 {
                var paths: [RawPath] = []
                for file in 0..<150 {
                    // Shared directories, and files two packages list.
                    for path in ["/usr/share/p\(package % 7)", "/usr/share/p\(package % 7)/f\((package * 31 + file) % 2000)"] {
                        paths.append(RawPath(path))
                    }
                }
                lists.append(("package-\(package)", paths))
                for path in paths { expected[path, default: []].insert("package-\(package)") }
            }
            let owners = FileOwners(lists: lists, diversions: [], alternatives: [], realDirectory: { $0 })
            for (path, packages) in expected { #expect(owners.owners(of: path) == packages, "\(path)") }
            for (package, paths) in lists {
                #expect(Set(owners.files(of: package)) == Set(paths), "\(package)")
            }
            #expect(owners.owners(of: RawPath("/usr/share/p1/f99999")).isEmpty)
            #expect(owners.owners(of: RawPath("/usr/share")).isEmpty)
        }

        @Test("a listed directory that is a symlink elsewhere: its files keyed where they really are")
        func movedDirectory() {
            let owners = FileOwners(
                lists: [("base", ["/lib", "/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu/libc.so.6"].map(RawPath.init))],
                diversions: [], alternatives: [],
                realDirectory: { $0.description.hasPrefix("/lib") ? RawPath("/usr" + $0.description) : $0 })
            #expect(owners.owners(of: RawPath("/usr/lib/x86_64-linux-gnu/libc.so.6")) == ["base"])
            #expect(owners.owners(of: RawPath("/lib/x86_64-linux-gnu/libc.so.6")).isEmpty)
            #expect(owners.owners(of: RawPath("/lib")) == ["base"], "the link itself is where its parent (/) is")
        }
    }
}
