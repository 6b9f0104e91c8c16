import DeveltraceKit
import Dispatch
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The process's arguments and environment as bytes (a path in argv need not
/// be UTF-8, and Swift's `CommandLine.arguments` would repair it).
enum RawArguments {
    /// Everything after the first `--`, byte-exact.
    static func afterDoubleDash() -> [RawPath]? {
        let count = Int(CommandLine.argc)
        var all: [RawPath] = []
        for i in 0..<count {
            guard let pointer = CommandLine.unsafeArgv[i] else { continue }
            all.append(RawPath(bytes: Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }))
        }
        guard let dash = all.firstIndex(of: RawPath("--")), dash + 1 < all.count else { return nil }
        return Array(all[(dash + 1)...])
    }

    /// The values of an option (`--output X`, `--output=X`, `-o X`) before
    /// `--`, byte-exact: ArgumentParser's strings lose bytes that are not
    /// UTF-8.
    static func values(of names: [String]) -> [RawPath] {
        var all: [RawPath] = []
        for i in 1..<Int(CommandLine.argc) {
            guard let pointer = CommandLine.unsafeArgv[i] else { continue }
            all.append(RawPath(bytes: Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }))
        }
        var values: [RawPath] = []
        var index = 0
        while index < all.count, all[index] != RawPath("--") {
            let argument = all[index]
            if names.contains(where: { argument == RawPath($0) }), index + 1 < all.count {
                values.append(all[index + 1])
                index += 2
                continue
            }
            for name in names where name.hasPrefix("--") {
                let prefix = Array((name + "=").utf8)
                if argument.bytes.starts(with: prefix) { values.append(RawPath(bytes: Array(argument.bytes.dropFirst(prefix.count)))) }
            }
            index += 1
        }
        return values
    }

    static func environment() -> [RawPath] {
        var result: [RawPath] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(RawPath(bytes: Array(UnsafeBufferPointer(start: entry, count: strlen(entry))).map { UInt8(bitPattern: $0) }))
            cursor += 1
        }
        return result
    }
}

/// Where output goes: a file or standard output, written as bytes in
/// 64 KiB blocks (a trace has tens of thousands of lines).
/// The first write error is kept and thrown by `close()`: a report that
/// did not reach its file is a failed run, never a silent success.
final class OutputSink: Sendable {
    private let fd: Int32
    private let name: String
    private struct State {
        var pending: [UInt8] = []
        var error: Errno? = nil
    }
    private let state = Mutex(State())

    /// `truncate: false` opens without emptying the file (a check opens its
    /// report before the builds, to fail early, and empties it at the end).
    init(path: RawPath?, truncate: Bool = true) throws(RunFailure) {
        if let path, path != RawPath("-") {
            do throws(Errno) {
                // Owned by the sink from here on.
                self.fd = try OwnedDescriptor.open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), mode: 0o644).release()
            } catch {
                throw .badInput("cannot write \(path): \(error)")
            }
            self.name = path.description
        } else {
            self.fd = 1
            self.name = "standard output"
        }
    }

    /// Empties the file before the first write (no-op on standard output
    /// and on what is no regular file, `/dev/full` say); a failure is kept
    /// like a write error and thrown by `close()`.
    func truncate() {
        var status = stat()
        guard fd != 1, fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, ftruncate(fd, 0) != 0 else { return }
        let error = Errno(rawValue: errno)
        state.withLock { state in if state.error == nil { state.error = error } }
    }

    func write(_ bytes: [UInt8]) {
        state.withLock { state in
            state.pending.append(contentsOf: bytes)
            if state.pending.count >= 65536 { flush(&state) }
        }
    }

    /// Writes what is pending; after an error, drops it (the error stays).
    private func flush(_ state: inout State) {
        defer { state.pending.removeAll(keepingCapacity: true) }
        guard state.error == nil else { return }
        var offset = 0
        while offset < state.pending.count {
            let n = state.pending[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                state.error = Errno(rawValue: errno)
                return
            }
            offset += n
        }
    }

    /// Writes the rest and closes; throws the first write error, if any.
    func close() throws(RunFailure) {
        let error = state.withLock { state in
            flush(&state)
            return state.error
        }
        // close(2) is not retried: the descriptor is gone either way.
        if fd != 1, Glibc.close(fd) != 0, error == nil {
            throw .badInput("cannot write \(name): \(Errno(rawValue: errno))")
        }
        if let error { throw .badInput("cannot write \(name): \(error)") }
    }
}

/// One-line messages on standard error and documented exit statuses.
enum Diagnostics {
    static func print(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a call, so develtrace can tear its
/// sandboxes down instead of dying with them half-built.
///
/// The signals are blocked in every thread (threads created later inherit
/// the mask; the sandbox's children reset it) and a thread of its own takes
/// them with `sigwait`.
final class SignalForwarder: Sendable {
    private static let watched = [SIGINT, SIGTERM, SIGHUP]

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.watched { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let blocked = set
        let waiter = Thread {
            var waitSet = blocked
            while true {
                var received: Int32 = 0
                if sigwait(&waitSet, &received) == 0 { handler(received) }
            }
        }
        waiter.start()
    }

    /// Nothing to undo: the process exits after the run.
    func stop() {}
}
