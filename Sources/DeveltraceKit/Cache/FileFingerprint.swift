import Foundation

/// What a host file looked like, for telling whether it changed since: its
/// `lstat` and, for a symlink, what the link leads to (a compiler upgrade
/// replaces `/usr/bin/x86_64-linux-gnu-gcc-12`, not the `gcc` link a build
/// names). Inode, size and the change time catch a replaced or rewritten
/// file even when its modification time was kept (`cp -p`, `touch -r`).
struct FileFingerprint: Codable, Hashable, Sendable {
    struct Status: Codable, Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var mode: UInt32
        var size: Int64
        var modified: Int64
        var changed: Int64
    }

    /// The entry itself; nil when the path does not exist.
    var entry: Status?
    /// What a symlink leads to; nil when dangling (or not a symlink).
    var followed: Status?

    var exists: Bool { entry != nil }

    /// The fingerprint of `path` now.
    static func of(_ path: RawPath) -> FileFingerprint {
        guard let status = try? FileSystem.status(of: path, following: false) else {
            return FileFingerprint(entry: nil, followed: nil)
        }
        let entry = Status(status)
        guard FileKind(mode: status.st_mode) == .symlink, let followed = try? FileSystem.status(of: path) else {
            return FileFingerprint(entry: entry, followed: nil)
        }
        return FileFingerprint(entry: entry, followed: Status(followed))
    }
}

extension FileFingerprint.Status: CustomStringConvertible {
    /// One line: device, inode, mode (octal), size, both times.
    var description: String { "\(device):\(inode):\(String(mode, radix: 8)):\(size):\(modified):\(changed)" }

    init(_ status: stat) {
        self.init(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), mode: UInt32(status.st_mode), size: Int64(status.st_size),
            modified: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec),
            changed: Int64(status.st_ctim.tv_sec) * 1_000_000_000 + Int64(status.st_ctim.tv_nsec))
    }
}
