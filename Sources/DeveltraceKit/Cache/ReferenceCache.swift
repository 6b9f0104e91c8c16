import Foundation

/// Reference builds kept across runs, so a re-check with the same full tree
/// and samples costs only the candidate builds.
///
/// An entry is found by its key (`ReferenceKey`: the sample's files, the
/// tree, develtrace's executable, dkms, the sandbox identity, the machine)
/// and used only while it holds: every host file the recorded build
/// depended on (`ReferenceInputs`) has the fingerprint it had, every one it
/// did not find is still absent. Entries live in a directory of their own
/// under `directory` (the trace as JSON, the modules beside it), written
/// whole and renamed into place; the least recently used go once the
/// directory holds more than `sizeLimit` bytes. The sandbox never shows the
/// cache directory (it lies under the user's home by default).
final class ReferenceCache: Sendable {
    let directory: RawPath
    let sizeLimit: Int64

    init(directory: RawPath, sizeLimit: Int64) {
        self.directory = directory
        self.sizeLimit = sizeLimit
    }

    /// `$XDG_CACHE_HOME/develtrace/references`, or under `~/.cache`; nil
    /// without either.
    static var defaultDirectory: RawPath? {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return RawPath(xdg).appending(RawPath("develtrace/references"))
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return RawPath(home).appending(RawPath(".cache/develtrace/references"))
    }

    /// The entry's directory name: FNV-1a of the key (the key itself is
    /// stored and compared, so a collision is only a miss).
    static func entryName(_ key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16).leftPadded(to: 16) + "-\(key.utf8.count)"
    }

    /// Why a lookup found nothing usable, for the progress line.
    enum Miss: Equatable {
        case absent
        case changed(RawPath)
        case unreadable
    }

    /// The recorded build for `key` with its modules copied into
    /// `moduleCopy`, or why there is none.
    func load(key: String, moduleCopy: RawPath) -> Result<SampleBuildResult, ReferenceCacheMiss> {
        let entry = directory.appending(RawPath(Self.entryName(key)))
        guard let data = FileManager.default.contents(atPath: entry.appending(RawPath("reference.json")).description) else {
            return .failure(.init(reason: .absent))
        }
        guard let stored = try? JSONDecoder().decode(StoredReference.self, from: data), stored.format == StoredReference.format,
            stored.key == key
        else { return .failure(.init(reason: .unreadable)) }
        if let changed = ReferenceInputs.firstChange(stored.inputs.map { ($0.path, $0.fingerprint) }, current: FileFingerprint.of) {
            return .failure(.init(reason: .changed(changed)))
        }
        var files: [String: RawPath] = [:]
        do {
            try StagedCandidate.makeDirectory(moduleCopy)
            for (index, name) in stored.modules.enumerated() {
                let target = moduleCopy.appending(RawPath("module-\(index).ko"))
                try? FileManager.default.removeItem(atPath: target.description)
                try FileManager.default.copyItem(
                    atPath: entry.appending(RawPath("module-\(index).ko")).description, toPath: target.description)
                files[name] = target
            }
        } catch {
            return .failure(.init(reason: .unreadable))
        }
        guard let result = stored.result(moduleCopy: moduleCopy, modules: files) else { return .failure(.init(reason: .unreadable)) }
        // Used now: the last to go (best effort: a record whose time cannot
        // be set only goes earlier).
        _ = try? nothingOrErrno { entry.withCString { utimensat(AT_FDCWD, $0, nil, 0) } }
        return .success(result)
    }

    /// Keeps `result` under `key` with the fingerprints of `inputs` (host
    /// paths) as they are now. Best effort: a cache that cannot be written
    /// costs the next run its reference builds, nothing else.
    func store(key: String, result: SampleBuildResult, inputs: [RawPath]) {
        let fingerprints = inputs.map { StoredReference.Input(path: $0, fingerprint: FileFingerprint.of($0)) }
        guard let stored = StoredReference(key: key, result: result, inputs: fingerprints, built: Date()),
            let data = try? JSONEncoder().encode(stored)
        else { return }
        let manager = FileManager.default
        guard (try? manager.createDirectory(atPath: directory.description, withIntermediateDirectories: true)) != nil else { return }
        let name = Self.entryName(key)
        let temporary = directory.appending(RawPath(".new-\(name)-\(getpid())"))
        try? manager.removeItem(atPath: temporary.description)
        do {
            try manager.createDirectory(atPath: temporary.description, withIntermediateDirectories: false)
            for (index, module) in stored.modules.enumerated() {
                guard let file = result.modules[module] else { continue }
                try manager.copyItem(atPath: file.description, toPath: temporary.appending(RawPath("module-\(index).ko")).description)
            }
            try data.write(to: URL(fileURLWithPath: temporary.appending(RawPath("reference.json")).description))
            let entry = directory.appending(RawPath(name))
            try? manager.removeItem(atPath: entry.description)
            try manager.moveItem(atPath: temporary.description, toPath: entry.description)
        } catch {
            try? manager.removeItem(atPath: temporary.description)
            return
        }
        evict()
    }

    /// Removes the least recently used entries until the rest fit the limit.
    func evict() {
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: directory.description) else { return }
        var entries: [(path: String, used: Date, size: Int64)] = []
        for name in names where !name.hasPrefix(".") {
            let path = directory.appending(RawPath(name)).description
            let used = (try? manager.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            var size: Int64 = 0
            for file in (try? manager.contentsOfDirectory(atPath: path)) ?? [] {
                size += (try? manager.attributesOfItem(atPath: path + "/" + file)[.size] as? Int64) ?? 0
            }
            entries.append((path, used, size))
        }
        var total = entries.reduce(0) { $0 + $1.size }
        for entry in entries.sorted(by: { $0.used < $1.used }) where total > sizeLimit {
            try? manager.removeItem(atPath: entry.path)
            total -= entry.size
        }
    }
}

/// Why the cache gave no recorded build.
struct ReferenceCacheMiss: Error {
    var reason: ReferenceCache.Miss

    var description: String {
        switch reason {
        case .absent: return "not recorded"
        case .changed(let path): return "\(path) changed since it was recorded"
        case .unreadable: return "the recording cannot be read"
        }
    }
}
