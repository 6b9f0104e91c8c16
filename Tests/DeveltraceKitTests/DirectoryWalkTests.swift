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
        }
    }
}
