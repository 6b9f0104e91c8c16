import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Reads a stopped tracee's memory with `process_vm_readv` (one system call
/// per page touched, no word-by-word `PTRACE_PEEKDATA`).
struct TraceeMemory {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// Linux's PATH_MAX: no path argument is longer.
    static let maximumPathLength = 4096

    private var buffer = [UInt8](repeating: 0, count: 4096)

    /// Copies `count` bytes at `address` into `destination`; returns the
    /// number of bytes read (short at an unmapped page).
    private static func read(pid: pid_t, address: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = (try? valueOrErrno { dt_read_tracee(pid, destination.baseAddress, destination.count, address) }) ?? -1
        return max(n, 0)
    }

    /// The NUL-terminated string at `address`, or nil if it cannot be read.
    mutating func string(pid: pid_t, at address: UInt64, limit: Int = maximumPathLength) -> [UInt8]? {
        if address == 0 { return nil }
        var result: [UInt8] = []
        var cursor = address
        while result.count < limit {
            // Never cross a page boundary in one read: the next page may be
            // unmapped even though the string ends before it.
            let toPageEnd = Self.pageSize - Int(cursor % UInt64(Self.pageSize))
            let want = min(toPageEnd, buffer.count, limit - result.count)
            let got = buffer.withUnsafeMutableBytes {
                Self.read(pid: pid, address: cursor, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
            }
            if got == 0 { return result.isEmpty ? nil : result }
            if let end = buffer[0..<got].firstIndex(of: 0) {
                result.append(contentsOf: buffer[0..<end])
                return result
            }
            result.append(contentsOf: buffer[0..<got])
            cursor += UInt64(got)
        }
        return result
    }

    /// Unsigned integers of `width` bytes (4 or 8) at `address`.
    mutating func words(pid: pid_t, at address: UInt64, count: Int, width: Int) -> [UInt64]? {
        if address == 0 { return nil }
        var raw = [UInt8](repeating: 0, count: count * width)
        let got = raw.withUnsafeMutableBytes { Self.read(pid: pid, address: address, into: $0) }
        if got < raw.count { return nil }
        return (0..<count).map { i in
            raw.withUnsafeBytes { bytes in
                width == 8
                    ? UInt64(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                    : UInt64(bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            }
        }
    }

    /// A NULL-terminated array of string pointers (`argv`), at most `limit`
    /// entries.
    mutating func stringArray(pid: pid_t, at address: UInt64, width: Int, limit: Int = 4096) -> [[UInt8]] {
        var strings: [[UInt8]] = []
        var cursor = address
        let batch = 32
        while strings.count < limit {
            guard
                let pointers = words(pid: pid, at: cursor, count: batch, width: width)
                    ?? words(pid: pid, at: cursor, count: 1, width: width)
            else { break }
            for pointer in pointers {
                if pointer == 0 { return strings }
                strings.append(string(pid: pid, at: pointer, limit: 131072) ?? [])
            }
            cursor += UInt64(pointers.count * width)
        }
        return strings
    }
}
