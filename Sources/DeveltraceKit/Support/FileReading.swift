import SystemPackage

/// Whole-file reads through swift-system, byte-exact.
enum FileReading {
    static func bytes(of path: RawPath) throws(Errno) -> [UInt8] {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path.filePath, .readOnly, options: [.closeOnExec]) } catch {
            throw error as! Errno
        }
        defer { try? fd.close() }
        var result: [UInt8] = []
        if let status = try? fd.stat(), status.type == .regular, status.size > 0 { result.reserveCapacity(Int(status.size)) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int
            do { n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) } } catch { throw error as! Errno }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }
}
