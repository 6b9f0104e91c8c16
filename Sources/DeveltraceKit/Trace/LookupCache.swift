import Synchronization

/// Results of read-only lookups that no change in the sandbox has touched
/// since, shared by the tracer's threads (under `TraceShared`'s lock).
///
/// About 85% of a kbuild's read-only lookups repeat (every compile unit
/// probes the same headers along the same `-I` list). A result is kept only
/// when its path is canonical: absolute, no `..` component, no trailing
/// slash, and looked up without meeting a symlink (`RESOLVE_NO_SYMLINKS`).
/// Every change to the file system inside the sandbox is a call the ptrace
/// loop stops at before it runs (create, delete, rename, link, and the
/// permission changes), so the loop tells the cache before the call runs
/// (`beginChange`) and after it returned (`endChange`):
/// - a change at a canonical path drops that path's results and every
///   result below it (a `mkdir` of `/a/b` changes what `/a/b/c` gives);
/// - a change whose path is not canonical (a symlink or `..` on the way),
///   and any change of permissions or ownership, drops everything;
/// - while any change is running, nothing is added, and a lookup that
///   began before a change began or ended is not added either
///   (`generation`): its answer may predate the change.
/// Mounts cannot change (the sandbox holds no capability), so a path's
/// meaning changes only through those calls.
struct LookupCache: Sendable {
    /// A lookup: the canonical path and what the call asks of it (the
    /// lookup's kind, the flags and mode that change its answer).
    struct Key: Hashable, Sendable {
        var path: RawPath
        var signature: UInt64
    }

    /// What is kept for a key.
    enum Entry: Equatable, Sendable {
        case result(AccessResult)
        /// The lookup met a symlink (`ELOOP` under `RESOLVE_NO_SYMLINKS`):
        /// look the path up as it is, without trying the strict walk first.
        case throughSymlink
    }

    /// Entries by key, and each directory's keys, so a change drops a
    /// directory's at once.
    private var results: [Key: Entry] = [:]
    private var directories: [RawPath: [Key]] = [:]
    /// For each directory, how many keys of `directories` are at or below
    /// it: a change at a path nothing is cached below costs one lookup.
    private var below: [RawPath: Int] = [:]
    var count: Int { results.count }
    /// Bumped at the beginning and the end of every change.
    private(set) var generation = 0
    private var changesRunning = 0
    /// Past this many results the cache starts again empty.
    let capacity: Int

    init(capacity: Int = 1 << 18) {
        self.capacity = capacity
    }

    /// Whether `path` can key a result: absolute, no `..` component, no
    /// trailing slash (`normalized()` already removed `.` and `//`).
    static func isCanonical(_ path: RawPath) -> Bool {
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        guard path.isAbsolute, path.bytes.last != slash || path.bytes.count == 1 else { return false }
        var start = 1
        let bytes = path.bytes
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: slash) ?? bytes.count
            let length = end - start
            if length == 0 || (length == 1 && bytes[start] == dot) || (length == 2 && bytes[start] == dot && bytes[start + 1] == dot) {
                return bytes.count == 1
            }
            start = end + 1
        }
        return true
    }

    func entry(for key: Key) -> Entry? {
        results[key]
    }

    func result(for key: Key) -> AccessResult? {
        if case .result(let result)? = results[key] { return result }
        return nil
    }

    mutating func insert(_ result: AccessResult, for key: Key, lookedUpAt generation: Int) {
        insert(.result(result), for: key, lookedUpAt: generation)
    }

    /// Keeps `entry` unless a change began or ended since `generation` was
    /// read (before the lookup), or one is running.
    mutating func insert(_ entry: Entry, for key: Key, lookedUpAt generation: Int) {
        guard generation == self.generation, changesRunning == 0, Self.isCanonical(key.path) else { return }
        if count >= capacity { removeAll() }
        if results.updateValue(entry, forKey: key) == nil {
            let parent = key.path.parent
            directories[parent, default: []].append(key)
            for ancestor in Self.ancestors(ofDirectory: parent) { below[ancestor, default: 0] += 1 }
        }
    }

    /// A change is about to run at `path` (nil, or a path that is not
    /// canonical: anywhere).
    mutating func beginChange(at path: RawPath?) {
        generation += 1
        changesRunning += 1
        guard let path, Self.isCanonical(path) else {
            removeAll()
            return
        }
        // The path's own results (it is a name in its parent).
        let parent = path.parent
        if let siblings = directories[parent] {
            let (gone, kept) = (siblings.filter { $0.path == path }, siblings.filter { $0.path != path })
            if !gone.isEmpty {
                for key in gone { results.removeValue(forKey: key) }
                directories[parent] = kept.isEmpty ? nil : kept
                forget(gone.count, at: parent)
            }
        }
        // Everything below it.
        guard below[path] != nil else { return }
        let inside = directories.keys.filter { $0.isSame(or: path) }
        for directory in inside {
            let keys = directories.removeValue(forKey: directory) ?? []
            for key in keys { results.removeValue(forKey: key) }
            forget(keys.count, at: directory)
        }
    }

    /// The change begun last has returned (or its task is gone).
    mutating func endChange() {
        generation += 1
        changesRunning = max(0, changesRunning - 1)
    }

    mutating func removeAll() {
        results.removeAll(keepingCapacity: true)
        directories.removeAll(keepingCapacity: true)
        below.removeAll(keepingCapacity: true)
    }

    private mutating func forget(_ entries: Int, at directory: RawPath) {
        for ancestor in Self.ancestors(ofDirectory: directory) {
            let left = (below[ancestor] ?? 0) - entries
            below[ancestor] = left > 0 ? left : nil
        }
    }

    /// `directory` and each directory above it, `/` last.
    private static func ancestors(ofDirectory directory: RawPath) -> [RawPath] {
        var result = [directory]
        var current = directory
        while current.bytes.count > 1 {
            current = current.parent
            result.append(current)
        }
        return result
    }
}

/// The one `LookupCache` of a trace, under its lock.
final class SharedLookupCache: Sendable {
    private let state = Mutex(LookupCache())
    /// Lookups answered from the cache, and lookups of canonical paths made.
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    private let disabled = Atomic<Bool>(false)

    /// From now on nothing is kept: every lookup is made (the in-kernel
    /// recorder takes changes the ptrace loop then never sees).
    func disable() {
        disabled.store(true, ordering: .releasing)
        state.withLock { $0 = LookupCache() }
    }

    /// The cached entry, or the generation to pass to `insert` after
    /// looking the path up.
    func entry(for key: LookupCache.Key) -> (LookupCache.Entry?, generation: Int) {
        if disabled.load(ordering: .acquiring) { return (nil, 0) }
        let (entry, generation) = state.withLock { ($0.entry(for: key), $0.generation) }
        if case .result? = entry { hits.add(1, ordering: .relaxed) } else { misses.add(1, ordering: .relaxed) }
        return (entry, generation)
    }

    func insert(_ entry: LookupCache.Entry, for key: LookupCache.Key, lookedUpAt generation: Int) {
        if disabled.load(ordering: .acquiring) { return }
        state.withLock { $0.insert(entry, for: key, lookedUpAt: generation) }
    }

    func beginChange(at path: RawPath?) { state.withLock { $0.beginChange(at: path) } }
    func endChange() { state.withLock { $0.endChange() } }
    var count: Int { state.withLock { $0.count } }
}
