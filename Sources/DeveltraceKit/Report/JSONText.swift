/// Minimal, fast JSON text building with a stable key order (the encoders
/// write keys in the order given, so output is reproducible byte for byte).
struct JSONText {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// A decimal integer.
    mutating func integer(_ value: some BinaryInteger) {
        if value < 0 { bytes.append(45) }
        var magnitude = UInt64(value.magnitude)
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(48 + magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
        }
    }

    /// A JSON string of valid UTF-8 (invalid sequences become U+FFFD).
    mutating func string(_ value: some Collection<UInt8>) {
        // Fast path: printable ASCII without quotes or backslashes.
        if value.allSatisfy(Self.isPlain) {
            bytes.append(34)
            bytes.append(contentsOf: value)
            bytes.append(34)
            return
        }
        escaped(value)
    }

    /// `string` of an array, whose fast path scans its buffer once.
    mutating func string(_ value: [UInt8]) {
        if !appendPlain(value) { escaped(value) }
    }

    /// The quoted string when every byte of `value` is plain (printable
    /// ASCII, no quote or backslash: then also valid UTF-8); false, with
    /// nothing written, otherwise.
    private mutating func appendPlain(_ value: [UInt8]) -> Bool {
        let plain = value.withUnsafeBufferPointer { buffer in
            for byte in buffer where !Self.isPlain(byte) { return false }
            return true
        }
        guard plain else { return false }
        bytes.append(34)
        bytes.append(contentsOf: value)
        bytes.append(34)
        return true
    }

    private static func isPlain(_ byte: UInt8) -> Bool { byte >= 32 && byte < 127 && byte != 34 && byte != 92 }

    /// The string with JSON's escapes, invalid UTF-8 as U+FFFD, quoted.
    private mutating func escaped(_ value: some Collection<UInt8>) {
        bytes.append(34)
        let text = String(decoding: value, as: UTF8.self)
        for unit in text.utf8 {
            switch unit {
            case 34: bytes.append(contentsOf: [92, 34])
            case 92: bytes.append(contentsOf: [92, 92])
            case 10: bytes.append(contentsOf: [92, 110])
            case 13: bytes.append(contentsOf: [92, 114])
            case 9: bytes.append(contentsOf: [92, 116])
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(unit >> 4)], hex[Int(unit & 15)]])
            default: bytes.append(unit)
            }
        }
        bytes.append(34)
    }

    mutating func string(_ value: String) { string(value.utf8) }

    /// `"key":` followed by a path: the path as a string, plus, when it is
    /// not valid UTF-8, `"keyBase64"` with its exact bytes.
    mutating func path(_ key: String, _ path: RawPath) {
        bytes.append(34)
        raw(key)
        raw("\":")
        // A plain path is valid UTF-8: no second look.
        if appendPlain(path.bytes) { return }
        escaped(path.bytes)
        if path.utf8String == nil {
            raw(",\"\(key)Base64\":")
            string(Array(Base64.encode(path.bytes).utf8))
        }
    }
}

/// RFC 4648 base64 (standard alphabet, padded).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : 61)
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : 61)
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 where c != 61 {
            let v = table[Int(c)]
            if v < 0 { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xff))
            }
        }
        return out
    }
}
