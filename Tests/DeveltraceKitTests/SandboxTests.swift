import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// What the command sees inside the sandbox, and that the host's files
    /// come out untouched.
    @Suite struct Sandbox {
        @Test("a hidden path reads as ENOENT inside and stays on the host")
        func hiddenPath() throws {
            let work = try Harness.workDirectory("hidden")
            defer { try? FileManager.default.removeItem(at: work) }
            let secret = work.appendingPathComponent("secret")
            try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: true)
            try "data\n".write(to: secret.appendingPathComponent("file"), atomically: true, encoding: .utf8)
            let before = try Harness.fingerprint(work)
            let outcome = try Harness.trace(
                ["/bin/sh", "-c", "cat secret/file; test -e secret && exit 3; exit 0"], in: work,
                sandbox: SandboxConfiguration(hidden: [RawPath(secret.path)]))
            #expect(outcome.exitStatus == 0, "the hidden directory does not exist inside")
            #expect(outcome.accesses.contains { $0.path == RawPath(secret.path + "/file") && $0.result.description == "ENOENT" })
            #expect(try Harness.fingerprint(work) == before)
        }

        @Test("a read-only bind cannot be written")
        func readOnlyBind() throws {
            let work = try Harness.workDirectory("bind")
            defer { try? FileManager.default.removeItem(at: work) }
            let source = work.appendingPathComponent("tree")
            try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
            try "original\n".write(to: source.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
            let before = try Harness.fingerprint(source)
            let target = "/srv/develtrace-test-tree"
            let outcome = try Harness.trace(
                ["/bin/sh", "-c", "cat \(target)/Makefile >/dev/null || exit 5; echo x > \(target)/new; echo y >> \(target)/Makefile"],
                in: work, sandbox: SandboxConfiguration(binds: [.init(source: RawPath(source.path), target: RawPath(target))]))
            #expect(outcome.exitStatus != 0)
            #expect(outcome.exitStatus != 5, "the bind is readable")
            #expect(outcome.accesses.contains { $0.path == RawPath(target + "/new") && $0.result.description == "EROFS" })
            #expect(try Harness.fingerprint(source) == before)
            #expect(!FileManager.default.fileExists(atPath: target), "the mount point was made in the sandbox only")
        }

        @Test("writes under an overlay land in its upper layer and are reported")
        func overlayWrites() throws {
            let work = try Harness.workDirectory("overlay")
            defer { try? FileManager.default.removeItem(at: work) }
            let lower = work.appendingPathComponent("tree")
            try FileManager.default.createDirectory(at: lower.appendingPathComponent("scripts"), withIntermediateDirectories: true)
            try "original\n".write(to: lower.appendingPathComponent("scripts/tool.c"), atomically: true, encoding: .utf8)
            try "keep\n".write(to: lower.appendingPathComponent("gone.h"), atomically: true, encoding: .utf8)
            let before = try Harness.fingerprint(lower)
            let target = "/usr/src/develtrace-test-overlay"
            let outcome = try Harness.trace(
                ["/bin/sh", "-c", "cd \(target) && echo changed >> scripts/tool.c && echo new > scripts/tool && mkdir obj && rm gone.h"],
                in: work, sandbox: SandboxConfiguration(overlays: [.init(lower: RawPath(lower.path), target: RawPath(target))]))
            #expect(outcome.exitStatus == 0)
            let writes = Set(outcome.writes.map { "\($0.kind.rawValue) \($0.path)" })
            #expect(
                writes == [
                    "modified \(target)/scripts/tool.c", "created \(target)/scripts/tool", "created \(target)/obj",
                    "deleted \(target)/gone.h",
                ])
            #expect(try Harness.fingerprint(lower) == before, "the lower directory is byte-identical")
        }

        @Test("writes outside any bind are caught by the root overlay")
        func rootOverlay() throws {
            let work = try Harness.workDirectory("root-overlay")
            defer { try? FileManager.default.removeItem(at: work) }
            let outcome = try Harness.trace(
                ["/bin/sh", "-c", "echo x > out.txt && echo y > /tmp/private"], in: work, sandbox: SandboxConfiguration())
            #expect(outcome.exitStatus == 0)
            #expect(outcome.writes.map(\.path) == [RawPath(work.path + "/out.txt")], "/tmp is private and not reported")
            #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("out.txt").path))
        }

        @Test("no network interface but loopback")
        func network() throws {
            let work = try Harness.workDirectory("net")
            defer { try? FileManager.default.removeItem(at: work) }
            let outcome = try Harness.trace(["/bin/cat", "/proc/net/dev"], in: work, sandbox: SandboxConfiguration())
            #expect(outcome.exitStatus == 0)
            // The interface list is read through the sandbox's own /proc.
            #expect(outcome.accesses.contains { $0.path == RawPath("/proc/net/dev") && $0.result == .ok })
            let interfaces = try Harness.traceOutput(["/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"], in: work)
            #expect(interfaces == "lo\n")
        }
    }
}
