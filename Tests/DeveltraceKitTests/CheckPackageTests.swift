import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// Candidates given as real `.deb` files (built here with dpkg-deb), in a
    /// split layout like Debian's: a flavour directory whose Makefile
    /// includes a common one by absolute path, and a kbuild package its
    /// `scripts` symlink points into.
    @Suite struct CheckPackages {
        /// Builds `NAME_VERSION.deb` from `root` (which holds `usr/…`).
        static func deb(_ name: String, version: String, source: String, root: URL, into directory: URL) throws -> String {
            let control = root.appendingPathComponent("DEBIAN")
            try FileManager.default.createDirectory(at: control, withIntermediateDirectories: true)
            try """
            Package: \(name)
            Version: \(version)
            Source: \(source)
            Architecture: all
            Maintainer: develtrace tests <tests@localhost>
            Description: develtrace test package

            """.write(to: control.appendingPathComponent("control"), atomically: true, encoding: .utf8)
            let output = directory.appendingPathComponent("\(name)_\(version)_all.deb").path
            #expect(try Harness.runProcess(["/usr/bin/dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root.path, output]) == 0)
            return output
        }

        /// The mini tree split into three packages the way Debian splits it.
        static func splitPackages(_ work: URL, kbuildVersion: String) throws -> [String] {
            let tree = MiniKernel.tree.path
            let flavour = work.appendingPathComponent("pkg-flavour/usr/src/linux-headers-mini-amd64")
            let common = work.appendingPathComponent("pkg-common/usr/src/linux-headers-mini-common")
            let kbuild = work.appendingPathComponent("pkg-kbuild/usr/lib/linux-kbuild-mini")
            for directory in [flavour, common, kbuild] {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            let script = """
                set -e
                cp -a \(tree)/include \(tree)/arch \(tree)/Makefile \(common.path)/
                rm -rf \(common.path)/include/generated \(common.path)/include/config
                mkdir -p \(flavour.path)/include
                cp -a \(tree)/include/generated \(tree)/include/config \(flavour.path)/include/
                cp -a \(tree)/.config \(tree)/Module.symvers \(flavour.path)/
                cp -a \(tree)/scripts \(kbuild.path)/
                ln -s ../../lib/linux-kbuild-mini/scripts \(flavour.path)/scripts
                ln -s ../../lib/linux-kbuild-mini/scripts \(common.path)/scripts
                # The flavour Makefile includes the common one; srctree must be the
                # flavour dir for generated files, so the common Makefile is used as is
                # with its own CURDIR replaced.
                printf 'include /usr/src/linux-headers-mini-common/Makefile.common\\n' > \(flavour.path)/Makefile
                sed 's|^srctree := $(CURDIR)|srctree := $(CURDIR)\\ncommon := /usr/src/linux-headers-mini-common|' \(tree)/Makefile \\
                  | sed 's|-I$(srctree)/arch/x86/include -I$(srctree)/include|-I$(common)/arch/x86/include -I$(srctree)/include -I$(common)/include|' \\
                  > \(common.path)/Makefile.common
                """
            #expect(try Harness.runProcess(["/bin/sh", "-c", script]) == 0)
            return [
                try deb(
                    "linux-headers-mini-amd64", version: "1.0-1", source: "linux", root: work.appendingPathComponent("pkg-flavour"),
                    into: work),
                try deb(
                    "linux-headers-mini-common", version: "1.0-1", source: "linux", root: work.appendingPathComponent("pkg-common"),
                    into: work),
                try deb(
                    "linux-kbuild-mini", version: kbuildVersion, source: "linux", root: work.appendingPathComponent("pkg-kbuild"),
                    into: work),
            ]
        }

        @Test(".deb candidates in a split layout are staged at their paths; version skew is reported")
        func splitDebs() throws {
            let work = try Harness.workDirectory("check-debs")
            defer { try? FileManager.default.removeItem(at: work) }
            let debs = try Self.splitPackages(work, kbuildVersion: "1.0-2")
            let options = CheckOptions(
                buildTree: MiniKernel.tree.path, candidates: debs, modules: [MiniKernel.module], corpus: "", jobs: 1, timeout: .seconds(300)
            )
            let result = try CheckRunner(options: options).run()
            #expect(result.inputs.kbuildDir == "/usr/src/linux-headers-mini-amd64")
            #expect(result.inputs.layout.hasPrefix("split"))
            #expect(result.inputs.packages.map(\.name) == ["linux-headers-mini-amd64", "linux-headers-mini-common", "linux-kbuild-mini"])
            #expect(result.warnings.contains { $0.contains("different source versions") && $0.contains("linux-kbuild-mini 1.0-2") })
            let sample = try #require(result.samples.first)
            #expect(sample.candidate == "succeeded", "\(sample.log ?? "")")
            #expect(result.findings.filter { $0.class == .missing }.isEmpty, "\(result.findings.map { "\($0.class) \($0.path)" })")
            // The common Makefile is Debian-style extra; the mapping put the
            // split directories back on the tree's paths.
            #expect(sample.modules.values.allSatisfy { $0.isIdentical })
            #expect(!FileManager.default.fileExists(atPath: "/usr/src/linux-headers-mini-amd64"), "nothing was installed on the host")
        }
    }
}

extension Machine.CheckPackages {
    /// The mini tree packed as Fedora's kernel-devel lays it out, built here
    /// with rpmbuild: `requires` become its `Requires:` lines, and `removed`
    /// (tree-relative) are left out of it.
    static func miniRpm(in work: URL, release: Int, requires: [String] = [], removed: [String] = []) throws -> String {
        let sources = work.appendingPathComponent("SOURCES")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.tree.path, sources.appendingPathComponent("tree").path]) == 0)
        let requirements = requires.map { "Requires: \($0)\n" }.joined()
        let removals = removed.map { "rm %{buildroot}/usr/src/kernels/1.0.0-mini/\($0)\n" }.joined()
        try """
        %define debug_package %{nil}
        %define __os_install_post %{nil}
        Name: kernel-devel-mini
        Version: 1.0
        Release: \(release)
        Summary: develtrace test package
        License: GPL
        \(requirements)%description
        The mini tree as Fedora's kernel-devel lays it out.
        %install
        mkdir -p %{buildroot}/usr/src/kernels/1.0.0-mini
        cp -a %{_sourcedir}/tree/. %{buildroot}/usr/src/kernels/1.0.0-mini/
        \(removals)%files
        /usr/src/kernels/1.0.0-mini

        """.write(to: work.appendingPathComponent("mini.spec"), atomically: true, encoding: .utf8)
        #expect(
            try Harness.runProcess([
                "/usr/bin/rpmbuild", "--quiet", "--define", "_topdir \(work.path)", "--define", "_build_id_links none", "-bb",
                work.appendingPathComponent("mini.spec").path,
            ]) == 0)
        let rpm = work.appendingPathComponent("RPMS/x86_64/kernel-devel-mini-1.0-\(release).x86_64.rpm").path
        try #require(FileManager.default.fileExists(atPath: rpm))
        return rpm
    }

    @Test(".rpm candidate (kernel-devel layout, built here with rpmbuild) is unpacked with bsdtar")
    func rpmCandidate() throws {
        let work = try Harness.workDirectory("check-rpm")
        defer { try? FileManager.default.removeItem(at: work) }
        let rpm = try Self.miniRpm(in: work, release: 7, removed: ["include/linux/extra.h"])
        let options = CheckOptions(
            buildTree: MiniKernel.tree.path, candidates: [rpm], modules: [MiniKernel.module], corpus: "", jobs: 1, timeout: .seconds(300))
        let result = try CheckRunner(options: options).run()
        #expect(result.inputs.kbuildDir == "/usr/src/kernels/1.0.0-mini")
        #expect(result.inputs.packages.map { "\($0.name) \($0.version)" } == ["kernel-devel-mini 1.0-7"])
        #expect(
            Set(result.findings.filter { $0.class != .dependency }.map { ExpectedFinding($0.class, $0.path, $0.severity) }) == [
                ExpectedFinding(.missing, "include/linux/extra.h", .fatal)
            ])
        // It requires nothing of the compiler, which its build ran.
        let dependencies = result.findings.filter { $0.class == .dependency }
        #expect(dependencies.contains { $0.path == "gcc-12" }, "\(dependencies.map(\.path))")
    }

    @Test(".rpm Requires: a required file resolves to the host package behind it; names are said to be unresolved")
    func rpmRequires() throws {
        let work = try Harness.workDirectory("check-rpm-requires")
        defer { try? FileManager.default.removeItem(at: work) }
        // The compiler by the file the build runs (`cc`, an alternative
        // leading to gcc's and gcc-12's files), `make` by name.
        let rpm = try Self.miniRpm(in: work, release: 8, requires: ["/usr/bin/cc", "make"])
        let options = CheckOptions(
            buildTree: MiniKernel.tree.path, candidates: [rpm], modules: [MiniKernel.module], corpus: "", jobs: 1, timeout: .seconds(300))
        let result = try CheckRunner(options: options).run()
        let dependencies = result.findings.filter { $0.class == .dependency }
        #expect(
            !dependencies.contains { ["gcc", "gcc-12", "cpp-12", "binutils"].contains($0.path) },
            "the compiler comes through /usr/bin/cc: \(dependencies.map(\.path))")
        #expect(!dependencies.isEmpty, "the C library's headers (stdc-predef.h) are required by nothing")
        #expect(
            dependencies.allSatisfy { $0.detail?.contains("its requirements by name (make) cannot be resolved") == true },
            "\(dependencies.map { $0.detail ?? "" })")
        #expect(result.warnings.contains { $0.contains("resolved to this host's packages: ") && $0.contains("gcc-12") })
    }

    @Test("a package without its top Makefile: the configured directory is still found, and Makefile is missing")
    func packageWithoutMakefile() throws {
        let work = try Harness.workDirectory("check-no-makefile")
        defer { try? FileManager.default.removeItem(at: work) }
        let kbuild = work.appendingPathComponent("usr/src/kernels/1.0.0-mini")
        try FileManager.default.createDirectory(at: kbuild.deletingLastPathComponent(), withIntermediateDirectories: true)
        #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.tree.path, kbuild.path]) == 0)
        try FileManager.default.removeItem(at: kbuild.appendingPathComponent("Makefile"))
        let options = CheckOptions(
            buildTree: MiniKernel.tree.path, candidates: [work.path], modules: [MiniKernel.module], corpus: "", jobs: 1,
            timeout: .seconds(300))
        let result = try CheckRunner(options: options).run()
        #expect(result.inputs.kbuildDir == "/usr/src/kernels/1.0.0-mini")
        #expect(
            Set(result.findings.map { ExpectedFinding($0.class, $0.path, $0.severity) }) == [
                ExpectedFinding(.missing, "Makefile", .fatal)
            ])
        #expect(result.samples.map(\.candidate) == ["succeeded"], "closure restores the Makefile")

        // Nothing configured at all is still not a kernel tree (exit 2).
        let unconfigure = "rm -f .config Module.symvers include/config/auto.conf include/generated/autoconf.h"
        #expect(try Harness.runProcess(["/bin/sh", "-ec", unconfigure], in: kbuild) == 0)
        #expect(throws: InputError.self) { try CheckRunner(options: options).run() }
    }

    @Test("outside: a candidate that reaches into the full tree by absolute path")
    func outside() throws {
        let tree = MiniKernel.tree.path
        let candidate = try MiniKernel.candidate(
            "outside", "sed -i 's|^CFLAGS_MODULE := |CFLAGS_MODULE := -I\(tree)/include/linux |' Makefile")
        defer { try? FileManager.default.removeItem(at: candidate) }
        let result = try MiniKernel.check(candidate)
        let outside = result.findings.filter { $0.class == .outside }
        #expect(!outside.isEmpty)
        #expect(outside.allSatisfy { $0.path.hasPrefix("include/linux") && $0.evidence.first?.errno == "ENOENT" })
        #expect(outside.first?.evidence.first?.path.hasPrefix(tree) == true)
        #expect(result.samples.first?.candidate == "succeeded", "the full tree is hidden; the build finds the headers in the candidate")
    }
}
