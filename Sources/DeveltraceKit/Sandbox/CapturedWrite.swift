/// A change the sandboxed command made that an overlay caught.
public struct CapturedWrite: Hashable, Sendable, Comparable {
    public enum Kind: String, Sendable, Codable {
        case created, modified, deleted
    }

    /// The path inside the sandbox.
    public var path: RawPath
    public var kind: Kind
    public var isDirectory: Bool

    public init(path: RawPath, kind: Kind, isDirectory: Bool) {
        self.path = path
        self.kind = kind
        self.isDirectory = isDirectory
    }

    public static func < (a: CapturedWrite, b: CapturedWrite) -> Bool { a.path < b.path }
}
