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
    fileprivate static func read(pid: pid_t, address: UInt64, into destination: UnsafeMutableRawBufferPointer) -> Int {
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
    /// entries. The strings' pages are read once each: a compiler's hundred
    /// arguments usually lie in a few pages, and reading each string alone
    /// cost a system call apiece on every exec.
    mutating func stringArray(pid: pid_t, at address: UInt64, width: Int, limit: Int = 4096) -> [[UInt8]] {
        var strings: [[UInt8]] = []
        var pages = PageCache(pid: pid)
        var cursor = address
        let batch = 32
        while strings.count < limit {
            guard
                let pointers = words(pid: pid, at: cursor, count: batch, width: width)
                    ?? words(pid: pid, at: cursor, count: 1, width: width)
            else { break }
            for pointer in pointers {
                if pointer == 0 { return strings }
                strings.append(pages.string(at: pointer, limit: 131072) ?? [])
            }
            cursor += UInt64(pointers.count * width)
        }
        return strings
    }

    /// The pages of one tracee read so far (each as far as it could be
    /// read), for strings that share them.
    struct PageCache {
        let pid: pid_t
        private var pages: [UInt64: [UInt8]] = [:]

        init(pid: pid_t) { self.pid = pid }

        private mutating func page(_ start: UInt64) -> [UInt8] {
            if let page = pages[start] { return page }
            var bytes = [UInt8](repeating: 0, count: TraceeMemory.pageSize)
            let got = bytes.withUnsafeMutableBytes { TraceeMemory.read(pid: pid, address: start, into: $0) }
            bytes.removeLast(bytes.count - got)
            pages[start] = bytes
            return bytes
        }

        /// The NUL-terminated string at `address` (nil if none of it can
        /// be read), at most `limit` bytes.
        mutating func string(at address: UInt64, limit: Int) -> [UInt8]? {
            if address == 0 { return nil }
            let size = UInt64(TraceeMemory.pageSize)
            var result: [UInt8] = []
            var cursor = address
            while result.count < limit {
                let start = cursor - cursor % size
                let page = page(start)
                let offset = Int(cursor - start)
                if offset >= page.count { return result.isEmpty ? nil : result }
                let available = page[offset..<min(page.count, offset + limit - result.count)]
                if let end = available.firstIndex(of: 0) {
                    result.append(contentsOf: page[offset..<end])
                    return result
                }
                result.append(contentsOf: available)
                // A page read short ends what can be read.
                if page.count < TraceeMemory.pageSize { return result }
                cursor = start + size
            }
            return result
        }
    }
}
