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

        @Test(
            "removeTree removes everything below, never through a symlink: deep, wide, mode 000, non-UTF-8 names",
            arguments: [1, 2, 4])
        func removeTree(threads: Int) throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-remove-\(getpid())-\(threads)")
            try? FileManager.default.removeItem(at: base)
            let root = base.appendingPathComponent("root")
            let outside = base.appendingPathComponent("outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: outside.appendingPathComponent("file"))
            defer { try? FileManager.default.removeItem(at: base) }
            // Wide (more directories than the threads split) and deep (past the split's levels).
            var deep = root
            for level in 0..<9 {
                deep = deep.appendingPathComponent("d\(level)")
                try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
                try Data("x".utf8).write(to: deep.appendingPathComponent("f"))
            }
            for index in 0..<100 {
                let wide = root.appendingPathComponent("w\(index % 10)/v\(index)")
                try FileManager.default.createDirectory(at: wide, withIntermediateDirectories: true)
                try Data("x".utf8).write(to: wide.appendingPathComponent("f"))
            }
            let odd = RawPath(bytes: Array(root.path.utf8) + Array("/w3/a-".utf8) + [0xFF, 0xFE])
            #expect(odd.withCString { mkdir($0, 0o755) } == 0)
            #expect(odd.appending(RawPath(bytes: [0xC3])).withCString { open($0, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) } >= 0)
            try FileManager.default.createSymbolicLink(
                at: root.appendingPathComponent("w1/to-outside"), withDestinationURL: outside)
            try FileManager.default.createSymbolicLink(
                at: root.appendingPathComponent("d0/d1/file-link"), withDestinationURL: outside.appendingPathComponent("file"))
            let locked = root.appendingPathComponent("d0/locked")
            try FileManager.default.createDirectory(at: locked.appendingPathComponent("in"), withIntermediateDirectories: true)
            #expect(chmod(locked.path, 0) == 0, "like overlayfs's work directory")

            DirectoryWalk.removeTree(RawPath(root.path), threads: threads)
            #expect(!FileManager.default.fileExists(atPath: root.path), "the root and everything below it are gone")
            #expect((try? String(contentsOf: outside.appendingPathComponent("file"), encoding: .utf8)) == "keep", "not through a symlink")
            #expect(FileManager.default.fileExists(atPath: outside.path))
        }
    }
}
