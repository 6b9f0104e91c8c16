import Foundation
import Testing

@testable import DeveltraceKit

/// A made-up host: a merged-/usr Debian with a few directories.
struct FakeHost: HostView {
    var directories: Set<String> = [
        "/", "/usr", "/usr/lib", "/usr/src", "/usr/lib/modules", "/etc", "/proc", "/proc/sys", "/proc/irq", "/proc/bus",
        "/srv", "/srv/linux", "/srv/candidate", "/srv/module", "/tmp", "/lib64",
    ]
    var files: Set<String> = ["/proc/sysrq-trigger", "/srv/driver.sh"]
    var links: [String: String] = ["/bin": "usr/bin", "/lib": "usr/lib", "/sbin": "usr/sbin"]
    var mountPoints: [RawPath] = ["/", "/proc", "/sys", "/dev", "/usr/local/share/fonts"].map(RawPath.init)

    func kind(of path: RawPath) -> HostFileKind? {
        let text = path.description
        if links[text] != nil { return .symlink }
        if directories.contains(text) { return .directory }
        return files.contains(text) ? .other : nil
    }

    func followedKind(of path: RawPath) -> HostFileKind? {
        kind(of: realPath(of: path) ?? path)
    }

    func linkTarget(of path: RawPath) -> RawPath? { links[path.description].map(RawPath.init) }

    /// /srv/module belongs to a user, everything else to root.
    func owner(of path: RawPath) -> HostOwner? {
        followedKind(of: path) == nil
            ? nil : path.description.hasPrefix("/srv/module") ? HostOwner(uid: 1000, gid: 1000) : HostOwner(uid: 0, gid: 0)
    }

    func realPath(of path: RawPath) -> RawPath? {
        var text = path.description
        for (link, target) in links where text == link || text.hasPrefix(link + "/") {
            text = "/" + target + text.dropFirst(link.count)
        }
        return RawPath(text)
    }
}

extension Unit {
    /// The sandbox plan as text: what a check's candidate build prepares and
    /// mounts, as root and rootless, without root and without a kernel.
    /// `DEVELTRACE_RECORD_GOLDEN=1 swift test` re-records the golden files.
    @Suite struct SandboxPlanTests {
        static let configuration = SandboxConfiguration(
            binds: [
                .init(source: RawPath("/srv/module"), target: RawPath("/var/lib/dkms/hello/1.0/build"), readOnly: false),
                .init(source: RawPath("/srv/driver.sh"), target: RawPath("/develtrace-driver.sh")),
                .init(source: RawPath("/srv/linux"), target: RawPath("/tmp/inputs/linux")),
            ],
            overlays: [.init(lower: RawPath("/srv/candidate"), target: RawPath("/usr/src/linux-headers-6.1.0-56-amd64"))],
            hidden: [RawPath("/usr/src/linux-6.1")])

        @Test("the plan of a candidate build, as root and rootless", arguments: ["root", "rootless"])
        func golden(identity: String) throws {
            let plan = try SandboxPlan(
                configuration: Self.configuration, scratch: RawPath("/scratch"),
                identity: identity == "root" ? .rootMapped(hostID: 1_000_000_000) : .rootless(uid: 1000, gid: 1000), host: FakeHost())
            try ReportFormatTests.compare(plan.text, to: "sandbox-plan-\(identity).txt")
            // Nothing is prepared outside the scratch directory.
            for step in plan.preparation {
                #expect(step.path.isSame(or: RawPath("/scratch")), "\(step)")
            }
            // The host's /lib -> usr/lib symlink stays one: /usr/lib/modules is
            // where the tree's modules directory would go.
            #expect(plan.preparation.contains(.symlink(RawPath("/scratch/root-lower/lib"), target: RawPath("usr/lib"))))
            // /lib64 is a directory on this host: a base overlay of its own.
            #expect(plan.steps.contains { $0.kind == .mount && $0.target == RawPath("/scratch/root/lib64") })
            // No host /run, /home or /root is mounted.
            #expect(!plan.steps.contains { step in ["/run", "/home", "/root"].contains { step.source == RawPath($0) } })
        }

        @Test("mount points are made inside: under a private /tmp, under /usr, and never on the host")
        func mountPoints() throws {
            let plan = try SandboxPlan(
                configuration: Self.configuration, scratch: RawPath("/scratch"), identity: .rootless(uid: 1000, gid: 1000),
                host: FakeHost())
            #expect(plan.steps.contains { $0.kind == .mkdir && $0.target == RawPath("/scratch/root/tmp/inputs/linux") })
            #expect(plan.preparation.contains(.directory(RawPath("/scratch/base-0-upper/src/linux-headers-6.1.0-56-amd64"))))
            #expect(plan.preparation.contains(.whiteout(RawPath("/scratch/base-0-upper/src/linux-6.1"))))
            #expect(plan.premade.contains(RawPath("/usr/src/linux-headers-6.1.0-56-amd64")))
        }

        @Test("a path hidden under an overlay inside /tmp is hidden in that overlay")
        func hiddenUnderTmp() throws {
            var configuration = SandboxConfiguration()
            configuration.overlays = [.init(lower: RawPath("/srv/module"), target: RawPath("/tmp/work"))]
            configuration.hidden = [RawPath("/tmp/work/secret")]
            let plan = try SandboxPlan(
                configuration: configuration, scratch: RawPath("/scratch"), identity: .rootless(uid: 1, gid: 1), host: FakeHost())
            #expect(plan.preparation.contains(.whiteout(RawPath("/scratch/overlay-0-upper/secret"))))

            // A tree under the host's /tmp is absent inside already (the private /tmp).
            let underTmp = try SandboxPlan(
                configuration: SandboxConfiguration(hidden: [RawPath("/tmp/clone/.build/tree")]), scratch: RawPath("/scratch"),
                identity: .rootless(uid: 1, gid: 1), host: FakeHost())
            #expect(!underTmp.preparation.contains { if case .whiteout = $0 { true } else { false } })
        }

        @Test("as root, directories made on the way to a whiteout in a candidate overlay are the sandbox root's, as its lowers show")
        func whiteoutDirectoriesOwned() throws {
            var configuration = Self.configuration
            configuration.hidden.append(RawPath("/usr/src/linux-headers-6.1.0-56-amd64/scripts/basic/.fixdep.cmd"))
            configuration.hidden.append(RawPath("/usr/bin/pahole"))
            let plan = try SandboxPlan(
                configuration: configuration, scratch: RawPath("/scratch"), identity: .rootMapped(hostID: 1_000_000_000), host: FakeHost())
            let upper = RawPath("/scratch/overlay-0-upper")
            #expect(plan.preparation.contains(.whiteout(upper.appending(RawPath("scripts/basic/.fixdep.cmd")))))
            for directory in ["scripts", "scripts/basic"] {
                let made = upper.appending(RawPath(directory))
                let order = try #require(plan.preparation.firstIndex(of: .directory(made)), "\(directory)")
                let owned = try #require(
                    plan.preparation.firstIndex(of: .chown(made, uid: 1_000_000_000, gid: 1_000_000_000)), "\(directory)")
                #expect(order < owned)
            }
            // A host directory (through a base overlay, not idmapped) keeps
            // the host's owner: the build cannot write into /usr/bin.
            #expect(plan.preparation.contains(.whiteout(RawPath("/scratch/base-0-upper/bin/pahole"))))
            #expect(!plan.preparation.contains(.chown(RawPath("/scratch/base-0-upper/bin"), uid: 1_000_000_000, gid: 1_000_000_000)))
        }

        @Test("bad sandbox paths are refused before anything is prepared")
        func refusals() {
            var relative = Self.configuration
            relative.binds.append(.init(source: RawPath("/srv/module"), target: RawPath("relative")))
            #expect(throws: SandboxError.self) {
                try SandboxPlan(
                    configuration: relative, scratch: RawPath("/scratch"), identity: .rootless(uid: 1, gid: 1), host: FakeHost())
            }
            var missing = Self.configuration
            missing.binds.append(.init(source: RawPath("/nonexistent"), target: RawPath("/x")))
            #expect(throws: SandboxError.self) {
                try SandboxPlan(configuration: missing, scratch: RawPath("/scratch"), identity: .rootless(uid: 1, gid: 1), host: FakeHost())
            }
            var hiddenBind = Self.configuration
            hiddenBind.hidden.append(RawPath("/tmp/inputs/linux/Makefile"))
            #expect(throws: SandboxError.self) {
                try SandboxPlan(
                    configuration: hiddenBind, scratch: RawPath("/scratch"), identity: .rootless(uid: 1, gid: 1), host: FakeHost())
            }
        }

        @Test("root maps the sandbox to its own id only where its user namespace holds that id")
        func identity() {
            #expect(SandboxIdentity.mapCovers("         0          0 4294967295\n", 1_000_000_000))
            #expect(!SandboxIdentity.mapCovers("         0       1000          1\n", 1_000_000_000))
            #expect(SandboxIdentity.mapCovers("0 100000 65536\n65536 5000000 1000000001\n", 1_000_000_000))
        }
    }
}
