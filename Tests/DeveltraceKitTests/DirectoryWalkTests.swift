import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct DirectoryWalkNames {
        /// readdir's records are d_reclen bytes long; the walk once copied
        /// a whole `dirent` per entry and read past the end of readdir's
        /// buffer (a crash while fingerprinting the 6.12 build tree).
        @Test("names of every length up to 255 bytes, non-UTF-8 included, come back exactly")
        func everyLength() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-walk-\(getpid())")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            var expected = Set<[UInt8]>()
            for length in 1...255 {
                let name = (0..<length).map { index -> UInt8 in index % 7 == 3 ? 0xFF : UInt8(97 + (index + length) % 26) }
                expected.insert(name)
                let path = RawPath(bytes: Array(directory.path.utf8) + [47] + name)
                let fd = path.withCString { open($0, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
                try #require(fd >= 0, "create a \(length)-byte name")
                close(fd)
            }
            var seen: [[UInt8]] = []
            try DirectoryWalk.walk(RawPath(directory.path)) { entry in
                seen.append(entry.relativePath.bytes)
                return true
            }
            #expect(seen.count == 255)
            #expect(Set(seen) == expected)
            #expect(seen == seen.sorted { $0.lexicographicallyPrecedes($1) }, "sorted by bytes")
            #expect(try DirectoryWalk.names(in: RawPath(directory.path)) == seen, "names alone: the same, no stat")
        }

        @Test("abandoned scratch directories: only unlocked ones of the prefix go, never through a symlink of that name")
        func abandoned() throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-abandoned-\(getpid())")
            try? FileManager.default.removeItem(at: base)
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: base) }
            func directory(_ name: String, owner: Bool) throws -> URL {
                let url = base.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                try Data("x".utf8).write(to: url.appendingPathComponent("inside"))
                if owner { try Data().write(to: url.appendingPathComponent(ScratchDirectory.ownerFile)) }
                return url
            }
            let gone = try directory("dtest.abc123", owner: true)
            let held = try directory("dtest.def456", owner: true)
            let unowned = try directory("dtest.ghi789", owner: false)
            let otherPrefix = try directory("other.abc123", owner: true)
            let longer = try directory("dtest.abc1234", owner: true)
            let target = try directory("elsewhere", owner: true)
            try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("dtest.sym000"), withDestinationURL: target)
            let lock = open(held.appendingPathComponent(ScratchDirectory.ownerFile).path, O_RDONLY | O_CLOEXEC)
            try #require(lock >= 0)
            #expect(flock(lock, LOCK_EX | LOCK_NB) == 0)
            defer { close(lock) }

            ScratchDirectory.removeAbandoned(in: RawPath(base.path), prefix: "dtest")
            let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.appendingPathComponent("inside").path) }
            #expect(!FileManager.default.fileExists(atPath: gone.path), "abandoned: removed")
            #expect(exists(held), "locked by a live run: kept")
            #expect(exists(unowned) && exists(otherPrefix) && exists(longer), "not develtrace's: kept")
            #expect(exists(target), "a symlink with the prefix is not followed")
        }
    }
}
