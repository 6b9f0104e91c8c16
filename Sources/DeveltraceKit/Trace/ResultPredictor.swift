import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Learns the result of a read-only path system call at its entry stop by
/// making the same lookup from the tracer, so the tracee needs no second
/// stop at the syscall's exit (each stop costs two context switches).
///
/// Lookups start from the tracees' root (`/proc/PID/root` of the sandbox's
/// init, opened once) with `openat2(RESOLVE_IN_ROOT)`, so they see the
/// sandbox's mounts without joining its mount namespace: that works rootless
/// too, where `setns` would not. A path relative to the working directory
/// (most of a kbuild's) starts from that directory itself (`/proc/PID/cwd`,
/// opened once per task and working directory) with `RESOLVE_BENEATH`: the
/// same walk the kernel makes for the tracee, shorter than the absolute
/// path's. Where it would leave the directory (`..` above it, an absolute
/// symlink: `EXDEV`) the absolute path is looked up from the root instead,
/// unless the directory was removed (its path then names nothing).
/// Paths relative to another directory descriptor are looked up as the
/// absolute path the tracer already joined with that descriptor's. The tracer thread takes the sandbox
/// root's host identity for its file-system checks (`TraceSession`), so
/// permissions agree. Only `O_PATH` opens, `fstatat`, `readlinkat` and
/// `faccessat2(AT_EACCESS)` on the result: nothing is opened for reading, no
/// device is touched, no atime changes.
///
/// Not predicted (the loop takes the exit stop instead): anything that
/// creates, writes or deletes; `exec` (only the kernel knows); `openat2`;
/// empty paths; paths under `/proc`, `/sys` and `/dev`, where the answer
/// depends on who asks (`/proc/self`, `/dev/tty`), and lookups that meet a
/// magic link on the way (`ELOOP` here); scoped lookups the kernel could not
/// vouch for (`EAGAIN`: a rename raced a `..`); processes after a `chroot`.
struct ResultPredictor {
    private let proc: FileDescriptor
    /// An `O_PATH` descriptor of the tracees' root directory.
    private let root: Int32
    /// Working directories by task, as paths inside the sandbox.
    private var workingDirectories: [pid_t: RawPath] = [:]
    /// Working directories by task, as `O_PATH` descriptors (owned here).
    private var workingDirectoryDescriptors: [pid_t: Int32] = [:]
    /// Results kept across calls while nothing changed them (`LookupCache`).
    private let cache: SharedLookupCache?

    init(proc: FileDescriptor, root: Int32, cache: SharedLookupCache? = nil) {
        self.proc = proc
        self.root = root
        self.cache = cache
    }

    /// The directory a relative path of `pid` starts from, as a path.
    mutating func workingDirectory(of pid: pid_t) -> RawPath? {
        if let cached = workingDirectories[pid] { return cached }
        guard let path = link(pid, "cwd") else { return nil }
        workingDirectories[pid] = path
        return path
    }

    /// The directory a relative path of `pid` starts from, as an `O_PATH`
    /// descriptor of the directory itself (nil when it cannot be opened).
    mutating func workingDirectoryDescriptor(of pid: pid_t) -> Int32? {
        if let cached = workingDirectoryDescriptors[pid] { return cached }
        // Kept open in the cache until `forget` or a chdir closes it.
        guard
            let fd = try? OwnedDescriptor.open(RawPath("\(pid)/cwd"), OpenFlags.path.rawValue | O_DIRECTORY, relativeTo: proc.rawValue)
                .release()
        else { return nil }
        workingDirectoryDescriptors[pid] = fd
        return fd
    }

    /// Forgets every working directory (after `chdir`/`fchdir`: threads may
    /// share theirs).
    mutating func invalidateWorkingDirectories() {
        workingDirectories.removeAll(keepingCapacity: true)
        for fd in workingDirectoryDescriptors.values { close(fd) }
        workingDirectoryDescriptors.removeAll(keepingCapacity: true)
    }

    mutating func forget(_ pid: pid_t) {
        workingDirectories.removeValue(forKey: pid)
        if let fd = workingDirectoryDescriptors.removeValue(forKey: pid) { close(fd) }
    }

    /// Closes what the predictor holds; it predicts nothing afterwards.
    mutating func closeDescriptors() {
        invalidateWorkingDirectories()
    }

    /// The absolute path, inside the sandbox, of a path argument of `pid`'s
    /// call (relative to `dirfd`, or to the working directory when nil or
    /// `AT_FDCWD`), and whether it is relative to the working directory.
    mutating func locate(_ path: RawPath, dirfd: Int32?, pid: pid_t) -> (absolute: RawPath, relativeToWorkingDirectory: Bool) {
        let relativeToWorkingDirectory = !path.isAbsolute && (dirfd == nil || dirfd == AT_FDCWD)
        let base: RawPath
        if path.isAbsolute {
            base = RawPath(bytes: [])
        } else if !relativeToWorkingDirectory, let dirfd {
            base = link(pid, "fd/\(dirfd)") ?? RawPath("/")
        } else {
            base = workingDirectory(of: pid) ?? RawPath("/")
        }
        return (path.absolute(relativeTo: base), relativeToWorkingDirectory)
    }

    /// The directory `raw` (`absolute` joined) names for `pid`, as the
    /// task's `/proc/PID/cwd` would show it once it changed into it: the
    /// directory opened as the kernel would walk to it, and its path read
    /// back. For a `chdir` while it waits; nil when it cannot be opened
    /// (the call then fails too).
    mutating func directory(_ raw: RawPath, absolute: RawPath, pid: pid_t) -> RawPath? {
        let how = OpenFlags.path.rawValue | O_DIRECTORY
        var fd: Int32 = -1
        if !raw.isAbsolute, let directory = workingDirectoryDescriptor(of: pid) {
            fd = raw.withCString { dt_open_scoped(directory, $0, how, 0, 0) }
        }
        if fd < 0, root >= 0 { fd = absolute.withCString { dt_open_scoped(root, $0, how, 1, 0) } }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return FileSystem.readLink(RawPath("self/fd/\(fd)"), relativeTo: proc.rawValue)
    }

    /// The target of `/proc/PID/NAME` (a magic link: `cwd`, `fd/N`).
    func link(_ pid: pid_t, _ name: String) -> RawPath? {
        FileSystem.readLink(RawPath("\(pid)/\(name)"), relativeTo: proc.rawValue)
    }

    private static let unpredictableRoots = ["/proc", "/sys", "/dev"].map(RawPath.init)

    /// What a lookup asks of its path, as far as it changes the answer: the
    /// key of `LookupCache` beside the path. Nil when the call is not
    /// predicted at all.
    static func signature(_ lookup: ResultLookup, args: [UInt64]) -> UInt64? {
        switch lookup {
        case .open(let flagsArgument):
            let flags = Int32(truncatingIfNeeded: args[flagsArgument])
            let intent = OpenFlags(rawValue: flags).intent
            guard intent == .read || intent == .stat else { return nil }
            return 1 << 56 | UInt64(UInt32(bitPattern: flags & (O_NOFOLLOW | O_DIRECTORY | OpenFlags.path.rawValue)))
        case .stat(let flagsArgument, let followsSymlink):
            var follows = followsSymlink
            if let flagsArgument { follows = Int32(truncatingIfNeeded: args[flagsArgument]) & AT_SYMLINK_NOFOLLOW == 0 }
            return 2 << 56 | (follows ? 1 : 0)
        case .readlink(let sizeArgument):
            guard Int64(bitPattern: args[sizeArgument]) > 0 else { return nil }
            return 3 << 56
        case .access(let modeArgument, let flagsArgument):
            let mode = UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: args[modeArgument])))
            let flags = flagsArgument.map { Int32(truncatingIfNeeded: args[$0]) } ?? 0
            return 4 << 56 | mode << 8 | (flags & AT_SYMLINK_NOFOLLOW != 0 ? 1 : 0)
        case .statfs:
            return 5 << 56
        }
    }

    /// Whether a change at `path` (absolute, inside the sandbox) can be
    /// scoped to it in `LookupCache` (`canonical`): no `..`, and no symlink
    /// on the way to it or at it (`RESOLVE_NO_SYMLINKS`), so the path is the
    /// one the cache's keys would name. A missing path is fine (a name about
    /// to be created); anything else the lookup says leaves the change
    /// unscoped. `isDirectory`: it names a directory now.
    func changeScope(_ path: RawPath) -> (canonical: Bool, isDirectory: Bool) {
        guard root >= 0 else { return (false, false) }
        let fd = path.withCString { dt_open_scoped(root, $0, OpenFlags.path.rawValue, 1, 1) }
        if fd >= 0 {
            let owned = OwnedDescriptor(adopting: fd)
            let isDirectory = (try? FileSystem.status(of: owned.raw)).map { FileKind(mode: $0.st_mode) } == .directory
            owned.close()
            return (LookupCache.isCanonical(path), isDirectory)
        }
        let error = errno
        return (LookupCache.isCanonical(path) && (error == ENOENT || error == ENOTDIR), false)
    }

    /// The result the call would have, or nil when only its exit can tell.
    ///
    /// `workingDirectory`: the descriptor of the tracee's working directory
    /// when `raw` is relative to it (not to another directory descriptor).
    /// With a cache, a canonical path's result comes from it or is looked up
    /// without following symlinks first and kept (`LookupCache`).
    func predict(
        _ lookup: ResultLookup, raw: RawPath, absolute: RawPath, workingDirectory: Int32? = nil, args: [UInt64]
    ) -> AccessResult? {
        if raw.isEmpty || Self.unpredictableRoots.contains(where: { absolute.isSame(or: $0) }) { return nil }
        guard let signature = Self.signature(lookup, args: args) else { return nil }
        var key: LookupCache.Key? = nil
        var generation = 0
        if let cache, raw.bytes.last != UInt8(ascii: "/"), LookupCache.isCanonical(absolute) {
            let candidate = LookupCache.Key(path: absolute, signature: signature)
            let (cached, now) = cache.entry(for: candidate)
            switch cached {
            case .result(let result)?: return result
            case .throughSymlink?: break // known to meet a symlink: as it is
            case nil:
                key = candidate
                generation = now
            }
        }
        if let key {
            let rc = lookUp(lookup, raw: raw, absolute: absolute, workingDirectory: workingDirectory, args: args, noSymlinks: true)
            if rc != ELOOP {
                let result = Self.result(of: rc)
                if let result { cache?.insert(.result(result), for: key, lookedUpAt: generation) }
                return result
            }
            // A symlink on the way: the path is not the one keys name, and
            // the next lookup of it need not try the strict walk again.
            cache?.insert(.throughSymlink, for: key, lookedUpAt: generation)
        }
        return Self.result(
            of: lookUp(lookup, raw: raw, absolute: absolute, workingDirectory: workingDirectory, args: args, noSymlinks: false))
    }

    /// The result for a lookup's errno (`Int32.min`: not predicted).
    private static func result(of rc: Int32) -> AccessResult? {
        if rc == Int32.min { return nil }
        if rc == 0 { return .ok }
        // A magic link on the way, or a scoped walk the kernel could not
        // vouch for (a rename raced a `..`): only the kernel, as the tracee,
        // can tell.
        if rc == ELOOP || rc == EAGAIN || rc == EXDEV { return nil }
        return .failed(Errno(rawValue: rc))
    }

    /// The call's lookup made from here: 0, an errno, or `Int32.min` when
    /// the call is not predicted. `noSymlinks`: `ELOOP` at any symlink.
    private func lookUp(
        _ lookup: ResultLookup, raw: RawPath, absolute: RawPath, workingDirectory: Int32?, args: [UInt64], noSymlinks: Bool
    ) -> Int32 {
        let root = self.root
        let relative = workingDirectory.map { (directory: $0, path: raw) }
        let strict: Int32 = noSymlinks ? 1 : 0
        /// The file the path names, opened `O_PATH`: below the working
        /// directory when the path is relative to it and stays there,
        /// otherwise from the tracees' root; then `check` on it. Returns 0,
        /// or the errno of the call that failed, read right after it.
        func lookUp(_ path: UnsafePointer<CChar>, _ flags: Int32, then check: (Int32) -> Int32 = { _ in 0 }) -> Int32 {
            let how = OpenFlags.path.rawValue | flags
            var (fd, error): (Int32, Int32)
            if let relative {
                (fd, error) = relative.path.withCString { relativePath in
                    let fd = dt_open_scoped(relative.directory, relativePath, how, 0, strict)
                    return (fd, fd < 0 ? errno : 0)
                }
                if fd < 0 && error == EXDEV {
                    // The absolute path names the working directory only
                    // while it exists; `..` of a removed one is its old
                    // parent, which only the kernel still knows.
                    guard let status = try? FileSystem.status(of: relative.directory), status.st_nlink > 0 else { return EXDEV }
                    fd = dt_open_scoped(root, path, how, 1, strict)
                    error = fd < 0 ? errno : 0
                }
            } else {
                fd = dt_open_scoped(root, path, how, 1, strict)
                error = fd < 0 ? errno : 0
            }
            if fd < 0 { return error }
            let owned = OwnedDescriptor(adopting: fd)
            let result = check(owned.raw)
            owned.close()
            return result
        }
        /// 0, or the errno of the call that just returned `rc`.
        func outcome(_ rc: Int32) -> Int32 { rc == 0 ? 0 : errno }
        return absolute.withCString { path in
            switch lookup {
            case .open(let flagsArgument):
                let flags = Int32(truncatingIfNeeded: args[flagsArgument])
                let intent = OpenFlags(rawValue: flags).intent
                guard intent == .read || intent == .stat else { return Int32.min }
                return lookUp(path, flags & (O_NOFOLLOW | O_DIRECTORY)) { fd in
                    if flags & OpenFlags.path.rawValue != 0 { return 0 }
                    if flags & O_NOFOLLOW != 0 {
                        // O_PATH|O_NOFOLLOW opens a symlink itself; a real open fails.
                        if (try? FileSystem.status(of: fd)).map({ FileKind(mode: $0.st_mode) }) == .symlink { return ELOOP }
                    }
                    return outcome(dt_faccessat2(fd, "", R_OK, dt_at_empty_path | dt_at_eaccess))
                }
            case .stat(let flagsArgument, let followsSymlink):
                var follows = followsSymlink
                if let flagsArgument { follows = Int32(truncatingIfNeeded: args[flagsArgument]) & AT_SYMLINK_NOFOLLOW == 0 }
                return lookUp(path, follows ? 0 : O_NOFOLLOW)
            case .readlink(let sizeArgument):
                guard Int64(bitPattern: args[sizeArgument]) > 0 else { return Int32.min }
                return lookUp(path, O_NOFOLLOW) { fd in
                    // readlinkat(fd, "") says ENOENT for what is no symlink;
                    // readlink says EINVAL.
                    do throws(Errno) {
                        return FileKind(mode: try FileSystem.status(of: fd).st_mode) == .symlink ? 0 : EINVAL
                    } catch {
                        return error.rawValue
                    }
                }
            case .access(let modeArgument, let flagsArgument):
                let mode = Int32(truncatingIfNeeded: args[modeArgument])
                let flags = flagsArgument.map { Int32(truncatingIfNeeded: args[$0]) } ?? 0
                return lookUp(path, flags & AT_SYMLINK_NOFOLLOW != 0 ? O_NOFOLLOW : 0) { fd in
                    // The tracee's real and effective identities are one.
                    outcome(dt_faccessat2(fd, "", mode, dt_at_empty_path | dt_at_eaccess))
                }
            case .statfs:
                // statfs fails only when the lookup does.
                return lookUp(path, 0)
            }
        }
    }
}
