import Synchronization

/// `FileFacts` that asks its base once per question. A check's classifier
/// asks about the same files again and again (every build's accesses,
/// every round, every rule, each symlink on the way of each path) while
/// nothing it looks at changes: the full tree is bound read-only, the
/// unpacked candidate is an overlay's lower layer, and the host is not the
/// builds' to change. Contents are kept up to `contentBudget` bytes in all
/// (the files a relocation is looked for among are compared again for each
/// absent file). Shared by the threads that classify samples.
final class MemoizedFileFacts: FileFacts {
    /// The most bytes of contents kept.
    static let contentBudget = 32 << 20
    let base: any FileFacts
    private let kinds = Memo<RawPath, FileKind?>()
    private let followedKinds = Memo<RawPath, FileKind?>()
    private let linkTargets = Memo<RawPath, RawPath?>()
    private let sizes = Memo<RawPath, Int?>()
    private let machines = Memo<RawPath, ElfMachine?>()
    private let contents = Mutex<(kept: Int, table: [RawPath: [UInt8]?])>((0, [:]))

    init(_ base: any FileFacts) { self.base = base }

    func kind(of path: RawPath, following: Bool) -> FileKind? {
        (following ? followedKinds : kinds).value(for: path) { base.kind(of: path, following: following) }
    }

    func linkTarget(of path: RawPath) -> RawPath? { linkTargets.value(for: path) { base.linkTarget(of: path) } }

    func size(of path: RawPath) -> Int? { sizes.value(for: path) { base.size(of: path) } }

    func content(of path: RawPath) -> [UInt8]? {
        if let known = contents.withLock({ $0.table[path] }) { return known }
        let value = base.content(of: path)
        contents.withLock { state in
            let size = value?.count ?? 0
            guard state.kept + size <= Self.contentBudget else { return }
            state.table[path] = value
            state.kept += size
        }
        return value
    }

    func elfMachine(of path: RawPath) -> ElfMachine? { machines.value(for: path) { base.elfMachine(of: path) } }

    func files(under path: RawPath) -> [RawPath] { base.files(under: path) }
}
