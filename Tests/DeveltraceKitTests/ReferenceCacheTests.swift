import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// Recorded reference builds: which host files one depends on, when it
    /// still holds, and the stored form.
    @Suite struct ReferenceCacheTests {
        static func access(_ path: String, _ intent: AccessIntent, _ result: AccessResult = .ok, seq: Int = 0) -> FileAccess {
            FileAccess(
                pid: 10, process: 10, syscall: "openat", path: RawPath(path), rawPath: RawPath(path), intent: intent, result: result,
                sequence: seq)
        }

        static func outcome(_ accesses: [FileAccess], writes: [CapturedWrite] = []) -> TraceOutcome {
            TraceOutcome(
                accesses: accesses,
                processes: [10: TracedProcess(pid: 10, parent: 0, argv: [RawPath("make")], executable: RawPath("/usr/bin/make"))],
                exitStatus: 0, termination: .completed, writes: writes, notes: [], launchFailure: nil, commandPid: 10,
                statistics: TraceStatistics(seccompStops: 1, syscallExitStops: 0, otherStops: 0, seconds: 0.1))
        }

        @Test("the host files a reference build depends on: where the sandbox shows the host, not what it made itself")
        func inputs() {
            var sandbox = SandboxConfiguration(
                binds: [.init(source: RawPath("/scratch/dkms"), target: RawPath("/var/lib/dkms"), readOnly: false)],
                tmpfs: [RawPath("/usr/src"), RawPath("/usr/lib/modules")])
            // The full tree inside the tmpfs on /usr/src, and one elsewhere.
            sandbox.overlays = [.init(lower: RawPath("/usr/src/linux"), target: RawPath("/usr/src/linux"))]
            sandbox.hidden = [RawPath("/usr/lib/linux-kbuild-6.1")]
            let outcome = Self.outcome(
                [
                    Self.access("/usr/src/linux/Makefile", .read),
                    Self.access("/usr/src/linux/include/absent.h", .read, .failed(.noSuchFileOrDirectory)),
                    Self.access("/usr/src/other/x.h", .read, .failed(.noSuchFileOrDirectory)),
                    Self.access("/usr/bin/gcc", .exec),
                    Self.access("/etc/dkms/framework.conf", .read),
                    Self.access("/var/lib/dkms/m/1/build/m.c", .read),
                    Self.access("/tmp/cc1.s", .read),
                    Self.access("/proc/self/status", .read),
                    Self.access("/usr/lib/linux-kbuild-6.1/scripts/sign-file", .stat, .failed(.noSuchFileOrDirectory)),
                    Self.access("/usr/src/linux/.config.old", .create),
                    Self.access("/usr/src/linux/.config.old", .read),
                    Self.access("/usr/src/linux/include/config/auto.conf", .read),
                    Self.access("/usr/bin/gcc", .stat),
                ], writes: [CapturedWrite(path: RawPath("/usr/src/linux/include/config/auto.conf"), kind: .modified, isDirectory: false)])
            let paths = ReferenceInputs.paths(of: outcome, hostPath: sandbox.hostPath).map(\.description)
            #expect(paths == ["/usr/src/linux/Makefile", "/usr/src/linux/include/absent.h", "/usr/bin/gcc", "/etc/dkms/framework.conf"])
            // An overlay whose lowest layer is elsewhere maps there.
            let mapped = SandboxConfiguration(overlays: [
                .init(lowers: [RawPath("/closure"), RawPath("/staged/usr/src/h")], target: RawPath("/usr/src/h"))
            ])
            #expect(mapped.hostPath(of: RawPath("/usr/src/h/Makefile")) == RawPath("/staged/usr/src/h/Makefile"))
            // Another DKMS package's sources, bound read-only: the host's.
            sandbox.binds.append(.init(source: RawPath("/samples/xt"), target: RawPath("/usr/src/xt-3.13")))
            #expect(sandbox.hostPath(of: RawPath("/usr/src/xt-3.13/extensions/compat.c")) == RawPath("/samples/xt/extensions/compat.c"))
            // develtrace's own files bound in read-only (the driver) are not inputs.
            sandbox.binds.append(.init(source: RawPath("/scratch/s0/driver.sh"), target: RawPath("/develtrace-driver.sh")))
            let withDriver = Self.outcome([Self.access("/develtrace-driver.sh", .read), Self.access("/usr/bin/make", .exec)])
            #expect(
                ReferenceInputs.paths(of: withDriver, hostPath: sandbox.hostPath, scratch: [RawPath("/scratch/s0")]) == [
                    RawPath("/usr/bin/make")
                ])
        }

        @Test("a recording holds while every fingerprint is the same; the first change is named")
        func firstChange() {
            let present = FileFingerprint(
                entry: .init(device: 1, inode: 2, mode: 0o100644, size: 3, modified: 4, changed: 5), followed: nil)
            let absent = FileFingerprint(entry: nil, followed: nil)
            let recorded = [(path: RawPath("/a"), fingerprint: present), (path: RawPath("/b"), fingerprint: absent)]
            #expect(ReferenceInputs.firstChange(recorded) { $0 == RawPath("/a") ? present : absent } == nil)
            var touched = present
            touched.entry?.changed = 6
            #expect(ReferenceInputs.firstChange(recorded) { $0 == RawPath("/a") ? touched : absent } == RawPath("/a"))
            // A file that appeared where the build found none.
            #expect(ReferenceInputs.firstChange(recorded) { _ in present } == RawPath("/b"))
        }

        @Test("a stored reference build reads back as it was, paths byte for byte")
        func storedRoundTrip() throws {
            let odd = RawPath(bytes: Array("/usr/src/linux/bad-".utf8) + [0xff, 0xfe] + Array(".h".utf8))
            let looksEncoded = RawPath("b64:not-base64")
            var accesses = [Self.access("/usr/bin/gcc", .exec, seq: 0), Self.access("/x", .read, .failed(.noSuchFileOrDirectory), seq: 1)]
            accesses.append(
                FileAccess(
                    pid: 11, process: 10, syscall: "newfstatat", path: odd, rawPath: RawPath("bad"), intent: .stat, result: .ok, sequence: 2
                ))
            accesses.append(Self.access(looksEncoded.description, .read, seq: 3))
            let result = SampleBuildResult(
                status: .skipped(reason: "a BUILD_EXCLUSIVE directive does not match"), outcome: Self.outcome(accesses),
                moduleCopy: RawPath("/scratch/m"), moduleInSandbox: RawPath("/var/lib/dkms/m/1/build"), log: "log\n", modules: [:])
            let stored = try #require(
                StoredReference(key: "k", result: result, inputs: [], built: Date(timeIntervalSince1970: 1_700_000_000)))
            let decoded = try JSONDecoder().decode(StoredReference.self, from: try JSONEncoder().encode(stored))
            let back = try #require(decoded.result(moduleCopy: RawPath("/scratch/m2"), modules: [:]))
            #expect(back.outcome.accesses == result.outcome.accesses)
            #expect(back.outcome.processes == result.outcome.processes)
            #expect(back.status == result.status)
            #expect(back.log == "log\n" && back.moduleInSandbox == result.moduleInSandbox)
            #expect(back.reused == Date(timeIntervalSince1970: 1_700_000_000))
            // Every status reads back from its summary, details included.
            for status: SampleBuildResult.Status in [
                .succeeded, .failed(exitStatus: 10), .skipped(reason: "x: y"), .brokenConfiguration("line 3"), .timedOut,
            ] {
                #expect(StoredReference.decode(StoredReference.encode(status)) == status)
            }
            // Interrupted or timed-out builds are not kept.
            var interrupted = result
            interrupted.outcome.termination = .interrupted(signal: SIGINT)
            #expect(StoredReference(key: "k", result: interrupted, inputs: [], built: Date()) == nil)
        }

        @Test("the cache: a recording is reused until a file it read changes or one it missed appears; the oldest go past the limit")
        func cache() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-reference-cache-\(getpid())")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let input = directory.appendingPathComponent("header.h")
            let missing = directory.appendingPathComponent("absent.h")
            try "int x;\n".write(to: input, atomically: false, encoding: .utf8)
            let module = directory.appendingPathComponent("m.ko")
            try Data("\u{7f}ELF module".utf8).write(to: module)
            let cache = ReferenceCache(directory: RawPath(directory.appendingPathComponent("store").path), sizeLimit: 1 << 30)
            let result = SampleBuildResult(
                status: .succeeded, outcome: Self.outcome([Self.access(input.path, .read)]), moduleCopy: RawPath(directory.path),
                moduleInSandbox: RawPath("/b"), log: "", modules: ["m.ko": RawPath(module.path)])
            cache.store(key: "sample A", result: result, inputs: [RawPath(input.path), RawPath(missing.path)])

            let copy = RawPath(directory.appendingPathComponent("copy").path)
            let hit = try cache.load(key: "sample A", moduleCopy: copy).get()
            #expect(hit.reused != nil && hit.status == .succeeded)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: try #require(hit.modules["m.ko"]).description)) == Data("\u{7f}ELF module".utf8))
            #expect(cache.load(key: "sample B", moduleCopy: copy).failureReason == .absent)

            // Rewritten with the same size and modification time: still a change.
            let before = try FileManager.default.attributesOfItem(atPath: input.path)[.modificationDate] as! Date
            try "int y;\n".write(to: input, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: before], ofItemAtPath: input.path)
            #expect(cache.load(key: "sample A", moduleCopy: copy).failureReason == .changed(RawPath(input.path)))

            cache.store(key: "sample A", result: result, inputs: [RawPath(input.path), RawPath(missing.path)])
            #expect(cache.load(key: "sample A", moduleCopy: copy).failureReason == nil)
            try "#define X\n".write(to: missing, atomically: false, encoding: .utf8)
            #expect(cache.load(key: "sample A", moduleCopy: copy).failureReason == .changed(RawPath(missing.path)))
            try FileManager.default.removeItem(at: missing)

            // Past the size limit the least recently used entry goes: room
            // for one entry and a half, two stored.
            let entryA = cache.directory.appending(RawPath(ReferenceCache.entryName("sample A"))).description
            let sizeA = try FileManager.default.contentsOfDirectory(atPath: entryA).reduce(Int64(0)) {
                $0 + ((try FileManager.default.attributesOfItem(atPath: entryA + "/" + $1)[.size] as? Int64) ?? 0)
            }
            #expect(sizeA > 0)
            let small = ReferenceCache(directory: cache.directory, sizeLimit: sizeA * 3 / 2)
            small.store(key: "sample C", result: result, inputs: [])
            let left = try FileManager.default.contentsOfDirectory(atPath: cache.directory.description).filter { !$0.hasPrefix(".") }
            #expect(left == [ReferenceCache.entryName("sample C")], "\(left)")
        }
    }
}

extension Result where Failure == ReferenceCacheMiss {
    fileprivate var failureReason: ReferenceCache.Miss? {
        if case .failure(let miss) = self { return miss.reason }
        return nil
    }
}
