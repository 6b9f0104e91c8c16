import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The system-call layer's owned descriptors and the preparer's errors:
    /// each descriptor closed once, each errno the failing call's own.
    @Suite struct OwnedDescriptorTests {
        static func isOpen(_ fd: CInt) -> Bool { fcntl(fd, F_GETFD) != -1 }

        /// Whether `fd` is open on the file `file` (device and inode): a
        /// closed number may be taken at once by another test's open, so
        /// "closed" is "no longer that file".
        static func isOpen(_ fd: CInt, on file: RawPath) -> Bool {
            var open = stat()
            var named = stat()
            guard fstat(fd, &open) == 0, file.withCString({ stat($0, &named) }) == 0 else { return false }
            return open.st_dev == named.st_dev && open.st_ino == named.st_ino
        }

        static func scratch() throws -> RawPath {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-fd-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            return RawPath(path)
        }

        @Test("an owned descriptor is close-on-exec, closed by close(), and a failed open throws its own errno")
        func openAndClose() throws {
            let base = try Self.scratch()
            defer { DirectoryWalk.removeTree(base) }
            let path = base.appending(RawPath("file"))
            let file = try OwnedDescriptor.open(path, O_WRONLY | O_CREAT)
            let raw = file.raw
            #expect(Self.isOpen(raw, on: path))
            #expect(fcntl(raw, F_GETFD) & FD_CLOEXEC != 0)
            file.close()
            #expect(!Self.isOpen(raw, on: path))
            #expect(throws: Errno.noSuchFileOrDirectory) { try OwnedDescriptor.open(RawPath("/nonexistent/develtrace"), O_RDONLY) }
            #expect(throws: Errno.notDirectory) { try OwnedDescriptor.open(RawPath("/dev/null/x"), O_RDONLY) }
        }

        @Test("withOpened keeps the descriptor open for the closure and closes it when the closure throws")
        func scoped() throws {
            struct Stop: Error {}
            let base = try Self.scratch()
            defer { DirectoryWalk.removeTree(base) }
            // A file of this test's own: another test's open cannot be it.
            let file = base.appending(RawPath("file"))
            try withOpened(file, O_WRONLY | O_CREAT) { fd in
                #expect(write(fd, [UInt8](repeating: 7, count: 100), 100) == 100)
            }
            var seen: CInt = -1
            let size = try withOpened(file, O_RDONLY) { fd -> Int in
                seen = fd
                #expect(Self.isOpen(fd, on: file))
                var buffer = [UInt8](repeating: 0, count: 64)
                return buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
            }
            #expect(size == 64 && !Self.isOpen(seen, on: file))
            #expect(throws: Stop.self) {
                try withOpened(file, O_RDONLY) { fd in
                    seen = fd
                    throw Stop()
                }
            }
            #expect(!Self.isOpen(seen, on: file))
            // A released descriptor is the caller's: not closed.
            let released = try OwnedDescriptor.open(RawPath("/dev/null"), O_RDONLY).release()
            #expect(Self.isOpen(released))
            close(released)
        }

        @Test("the preparer names the step that failed with that call's errno; what exists already is made")
        func preparerErrors() throws {
            let base = try Self.scratch()
            defer { DirectoryWalk.removeTree(base) }
            let file = base.appending(RawPath("file"))
            try SandboxPreparer.prepare([
                .emptyFile(file), .directory(base.appending(RawPath("d"))), .directory(base.appending(RawPath("d"))),
            ])
            for (step, expected) in [
                (PreparationStep.directory(file.appending(RawPath("below"))), Errno.notDirectory),
                (.emptyFile(base.appending(RawPath("missing/file"))), .noSuchFileOrDirectory),
                (.chown(base.appending(RawPath("absent")), uid: 0, gid: 0), .noSuchFileOrDirectory),
            ] {
                do {
                    try SandboxPreparer.prepare([step])
                    Issue.record("\(step) did not fail")
                } catch {
                    guard case .preparation(let path, let errno) = error else {
                        Issue.record("\(error)")
                        continue
                    }
                    #expect(path == step.path && errno == expected, "\(step): \(errno)")
                }
            }
        }
    }
}
