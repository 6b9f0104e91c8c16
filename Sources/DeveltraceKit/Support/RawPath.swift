import SystemPackage

/// A Linux path as the kernel sees it: bytes, not text.
///
/// Paths that are not valid UTF-8 keep every byte; `description` shows them
/// with invalid bytes escaped as `\xNN` for people, and the JSON encoding
/// carries the exact bytes (see `JSONLinesEncoder`).
public struct RawPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The bytes of the path, without a terminating NUL.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The bytes in one go (the synthesized hash would feed them one by one,
    /// a tenth of the seccomp listener's time in its dictionaries).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(bytes.count)
    }

    public static func == (lhs: RawPath, rhs: RawPath) -> Bool { lhs.bytes == rhs.bytes }

    public init(_ string: String) { self.bytes = Array(string.utf8) }

    public init(_ filePath: FilePath) {
        self.bytes = filePath.withPlatformString { pointer in
            let count = strlen(pointer)
            return pointer.withMemoryRebound(to: UInt8.self, capacity: count) {
                Array(UnsafeBufferPointer(start: $0, count: count))
            }
        }
    }

    /// The same path as a swift-system `FilePath` (byte-preserving).
    public var filePath: FilePath {
        var terminated = bytes.map { CChar(bitPattern: $0) }
        terminated.append(0)
        return terminated.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    }

    public var isAbsolute: Bool { bytes.first == UInt8(ascii: "/") }

    public var isEmpty: Bool { bytes.isEmpty }

    /// The path as a String if it is valid UTF-8.
    public var utf8String: String? { String(validating: bytes, as: UTF8.self) }

    public var description: String {
        if let text = utf8String { return text }
        var out = ""
        var index = 0
        while index < bytes.count {
            // Decode one scalar at a time; escape bytes that do not decode.
            var iterator = bytes[index...].makeIterator()
            var decoder = UTF8()
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                out.unicodeScalars.append(scalar)
                index += UTF8.width(scalar)
            default:
                out += "\\x" + String(bytes[index], radix: 16, uppercase: false).leftPadded(to: 2)
                index += 1
            }
        }
        return out
    }

    public static func < (lhs: RawPath, rhs: RawPath) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// `base` joined with `self` when `self` is relative; `self` otherwise.
    /// `.` components and repeated slashes are removed; `..` is kept, because
    /// only the file system knows what it means when symlinks are involved.
    /// One pass and one allocation: the tracer's recorders resolve every
    /// relative path they record here (kbuild names most headers
    /// `./include/…`).
    public func absolute(relativeTo base: RawPath) -> RawPath {
        if isAbsolute { return normalized() }
        // As if joined with a slash between (none when `self` is empty).
        let rooted = base.isAbsolute || (base.isEmpty && !isEmpty)
        return base.bytes.withUnsafeBufferPointer { head in
            bytes.withUnsafeBufferPointer { tail in RawPath(bytes: Self.normalizing(head, tail, rooted: rooted)) }
        }
    }

    /// The components of `head` then `tail` without empty and `.` ones,
    /// joined by single slashes, after a leading one when `rooted`; `.`
    /// when nothing is left of a relative path. Pure.
    private static func normalizing(_ head: UnsafeBufferPointer<UInt8>, _ tail: UnsafeBufferPointer<UInt8>, rooted: Bool) -> [UInt8] {
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        return [UInt8](unsafeUninitializedCapacity: head.count + tail.count + 1) { out, count in
            count = 0
            if rooted {
                out[0] = slash
                count = 1
            }
            let first = count
            appendComponents(of: head, to: out, count: &count, after: first)
            appendComponents(of: tail, to: out, count: &count, after: first)
            if count == 0 {
                out[0] = dot
                count = 1
            }
        }
    }

    /// Writes the components of `part` that are neither empty nor `.` at
    /// `out[count...]`, a slash before each but one written at `first`.
    private static func appendComponents(
        of part: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>, count: inout Int, after first: Int
    ) {
        let slash = UInt8(ascii: "/")
        var start = 0
        while start < part.count {
            if part[start] == slash {
                start += 1
                continue
            }
            var end = start + 1
            while end < part.count && part[end] != slash { end += 1 }
            if !(end - start == 1 && part[start] == UInt8(ascii: ".")) {
                if count > first {
                    out[count] = slash
                    count += 1
                }
                out.baseAddress!.advanced(by: count).update(from: part.baseAddress!.advanced(by: start), count: end - start)
                count += end - start
            }
            start = end
        }
    }

    /// Whether `normalized()` would change nothing (the common case, checked
    /// without allocating): no empty component but a leading slash, no `.`
    /// component, no trailing slash.
    private var isNormalized: Bool {
        bytes.withUnsafeBufferPointer { bytes in
            let slash = UInt8(ascii: "/")
            let dot = UInt8(ascii: ".")
            if bytes.count == 1 && (bytes[0] == slash || bytes[0] == dot) { return true }
            var index = bytes.first == slash ? 1 : 0
            if index == bytes.count { return false }
            var componentLength = 0
            var componentIsDot = false
            while index <= bytes.count {
                let byte = index < bytes.count ? bytes[index] : slash
                if byte == slash {
                    if componentLength == 0 || (componentLength == 1 && componentIsDot) { return false }
                    componentLength = 0
                } else {
                    componentIsDot = componentLength == 0 && byte == dot
                    componentLength += 1
                }
                index += 1
            }
            return true
        }
    }

    /// Removes `.` components, repeated and trailing slashes.
    public func normalized() -> RawPath {
        if isNormalized { return self }
        return bytes.withUnsafeBufferPointer {
            RawPath(bytes: Self.normalizing($0, UnsafeBufferPointer(start: nil, count: 0), rooted: isAbsolute))
        }
    }

    /// Appends a component or relative path.
    public func appending(_ other: RawPath) -> RawPath {
        other.absolute(relativeTo: self)
    }

    /// The NUL-terminated bytes, for a C call.
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        var terminated = bytes.map { CChar(bitPattern: $0) }
        terminated.append(0)
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}

extension String {
    /// The string with zeros before it up to `width` characters (hex digits).
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension RawPath {
    /// True if `self` is `other` or lies below it (component-wise).
    func isSame(or other: RawPath) -> Bool {
        if other.bytes == [47] { return isAbsolute }
        guard bytes.count >= other.bytes.count, bytes.starts(with: other.bytes) else { return false }
        return bytes.count == other.bytes.count || bytes[other.bytes.count] == 47
    }

    /// The path without its last component (`"."` for a single relative one).
    var parent: RawPath {
        guard let slash = bytes.lastIndex(of: 47) else { return RawPath(bytes: []) }
        if slash == 0 { return RawPath("/") }
        return RawPath(bytes: Array(bytes[..<slash]))
    }
}
