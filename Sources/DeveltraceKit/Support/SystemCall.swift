import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Calls `body` until it does not fail with `EINTR`, and turns a `-1` result
/// into the `Errno` read right after the call.
///
/// Every system call develtrace makes goes through this (or its siblings
/// below), so errno is never read late and interrupted calls never leak.
@inline(__always)
func valueOrErrno<I: FixedWidthInteger>(_ body: () -> I) throws(Errno) -> I {
    while true {
        let value = body()
        if value != -1 { return value }
        let error = Errno(rawValue: errno)
        if error != .interrupted { throw error }
    }
}

/// Like `valueOrErrno` for calls whose result is only success or failure.
@inline(__always)
func nothingOrErrno<I: FixedWidthInteger>(_ body: () -> I) throws(Errno) {
    _ = try valueOrErrno(body)
}

/// Two close-on-exec pipes, each `[read end, write end]`. If the second
/// cannot be made, the first is closed: nothing is left open on failure.
func twoPipes() throws(Errno) -> (first: [Int32], second: [Int32]) {
    var first: [Int32] = [-1, -1]
    var second: [Int32] = [-1, -1]
    do throws(Errno) {
        try nothingOrErrno { dt_pipe_cloexec(&first) }
        try nothingOrErrno { dt_pipe_cloexec(&second) }
    } catch {
        for fd in first + second where fd >= 0 { close(fd) }
        throw error
    }
    return (first, second)
}

extension Errno {
    /// The symbolic name of the error, `ENOENT` for `.noSuchFileOrDirectory`.
    public var symbolicName: String {
        if let name = dt_errno_name_swift(rawValue) { return name }
        return "E\(rawValue)"
    }
}

import CDeveltrace

@inline(__always)
private func dt_errno_name_swift(_ value: CInt) -> String? {
    guard let name = dt_errno_name(value) else { return nil }
    return String(cString: name)
}

/// Errno values by symbolic name, for decoding what `symbolicName` wrote.
enum ErrnoNames {
    static let byName: [String: CInt] = {
        var table: [String: CInt] = [:]
        for value in CInt(1)...CInt(133) {
            if let name = dt_errno_name(value) { table[String(cString: name)] = value }
        }
        return table
    }()
}
