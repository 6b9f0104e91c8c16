import Foundation

/// The signature `sign-file` appends to a module: its PKCS#7 message, then
/// a `struct module_signature` (12 bytes, the message's length last, big
/// endian), then the marker. Read from the end of the file, as the kernel
/// does.
struct ModuleSignature: Equatable, CustomStringConvertible {
    /// The digest the message names (`sha256`, …), or nil when none of the
    /// known ones appears; nil for the whole value means unsigned.
    var digest: String?

    static let marker = Array("~Module signature appended~\n".utf8)
    /// `struct module_signature`: algo, hash, id_type, signer_len,
    /// key_id_len, 3 bytes of padding, sig_len.
    static let trailerSize = 12

    /// DER object identifiers of the digests sign-file may use.
    static let digests: [(name: String, oid: [UInt8])] = [
        ("sha1", [0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a]),
        ("sha224", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04]),
        ("sha256", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]),
        ("sha384", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02]),
        ("sha512", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03]),
        ("sha3-256", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08]),
        ("sha3-384", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09]),
        ("sha3-512", [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a]),
    ]

    /// The signature of the module at `path`, or nil when it has none (or
    /// cannot be read).
    init?(path: RawPath) {
        let read = try? withOpened(path, O_RDONLY) { fd -> [UInt8]? in
            guard let status = try? FileSystem.status(of: fd) else { return nil }
            let length = min(Int(status.st_size), 65536)
            var tail = [UInt8](repeating: 0, count: length)
            let count = try? valueOrErrno {
                tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, status.st_size - off_t(length)) }
            }
            return count == length ? tail : nil
        }
        guard let tail = read ?? nil else { return nil }
        self.init(tail: tail)
    }

    /// The signature at the end of `tail` (the file's last bytes).
    init?(tail: [UInt8]) {
        guard tail.count >= Self.marker.count + Self.trailerSize, tail.suffix(Self.marker.count).elementsEqual(Self.marker) else {
            return nil
        }
        let trailerEnd = tail.count - Self.marker.count
        let sizeBytes = tail[(trailerEnd - 4)..<trailerEnd]
        let size = sizeBytes.reduce(0) { $0 << 8 | Int($1) }
        let messageEnd = trailerEnd - Self.trailerSize
        let message = size <= messageEnd ? Array(tail[(messageEnd - size)..<messageEnd]) : []
        digest = Self.digests.first { Self.contains(message, $0.oid) }?.name
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    var description: String { digest.map { "signed (\($0))" } ?? "signed" }
}

extension Optional where Wrapped == ModuleSignature {
    /// `unsigned`, or the signature's description.
    var description: String { self.map(\.description) ?? "unsigned" }
}
