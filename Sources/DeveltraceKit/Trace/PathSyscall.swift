/// How a path system call's intent follows from its arguments.
enum IntentRule: Sendable {
    case fixed(AccessIntent)
    /// `open`-style flags in argument N.
    case openFlags(argument: Int)
    /// `openat2`: flags inside the `struct open_how` that argument N points to.
    case openHow(argument: Int)
}

/// One path a system call names.
struct PathOperand: Sendable {
    /// The argument holding the `const char *` path.
    var pathArgument: Int
    /// The argument holding the directory file descriptor the path is
    /// relative to; nil means the working directory.
    var dirfdArgument: Int?
    var intent: IntentRule
}

/// A system call that names at least one path, and how to read it.
///
/// The table below is checked against the x86_64 and i386 syscall tables
/// (`arch/x86/entry/syscalls/syscall_{64,32}.tbl`): every entry whose
/// arguments include a `const char __user *filename`/`pathname` is here,
/// except `mq_open`/`mq_unlink` (message queues, not files), socket
/// addresses, `name_to_handle_at` (refused, see `RefusedSyscall`) and calls
/// newer than libseccomp knows (the 6.13+ `*xattrat`, `open_tree_attr`,
/// `file_getattr`/`file_setattr`): the filter refuses those with ENOSYS.
struct PathSyscall: Sendable {
    var name: String
    /// Names of the same call on other ABIs (i386's `stat64`, …).
    var aliases: [String] = []
    var operands: [PathOperand]
    /// An argument holding `AT_*` flags: with `AT_EMPTY_PATH` and an empty
    /// path the call is about a file descriptor, not a path, and is skipped.
    var atFlagsArgument: Int? = nil
    /// The filter leaves the call untraced when this argument is NULL
    /// (`utimensat(fd, NULL, …)` is `futimens`).
    var skipWhenNull: Int? = nil
    /// The filter does not stop on calls with `AT_EMPTY_PATH` in
    /// `atFlagsArgument`: glibc's `fstat` is `newfstatat(fd, "", …,
    /// AT_EMPTY_PATH)`, thousands of stops that name no path.
    var filterSkipsEmptyPathFlag = false
    /// How the tracer can learn the result by looking the path up itself,
    /// without a second stop at the syscall's exit; nil: it cannot.
    var lookup: ResultLookup? = nil
    /// It may change what lookups anywhere give: who may do what with a
    /// file (mode, owner, ACLs in extended attributes) or what a path
    /// crosses (mounts, possible only in a trace without the sandbox).
    /// Every cached lookup result may be stale after it (`LookupCache`).
    var changesAnyLookup = false

    /// It changes the caller's working directory (`chdir`, `fchdir`,
    /// `chroot`): paths relative to it mean something else afterwards.
    var movesWorkingDirectory: Bool { name == "chdir" || name == "fchdir" || name == "chroot" }
}

/// The side-effect-free lookup that gives the same result as a read-only
/// path system call (see `ResultPredictor`).
enum ResultLookup: Sendable {
    /// `open`/`openat` that only reads: flags in argument N.
    case open(flagsArgument: Int)
    /// `stat`/`lstat`/`newfstatat`/`statx`: follows the last symlink unless
    /// `AT_SYMLINK_NOFOLLOW` is in argument N, or always/never when nil.
    case stat(flagsArgument: Int?, followsSymlink: Bool)
    /// `readlink`/`readlinkat`: buffer size in argument N.
    case readlink(sizeArgument: Int)
    /// `access`/`faccessat`/`faccessat2`: mode and flags arguments.
    case access(modeArgument: Int, flagsArgument: Int?)
    case statfs
}

extension PathSyscall {
    private func predicted(_ lookup: ResultLookup) -> PathSyscall {
        var copy = self
        copy.lookup = lookup
        return copy
    }

    private func changingAnyLookup() -> PathSyscall {
        var copy = self
        copy.changesAnyLookup = true
        return copy
    }

    private func skippingEmptyPathInFilter() -> PathSyscall {
        var copy = self
        copy.filterSkipsEmptyPathFlag = true
        return copy
    }

    private static func simple(_ name: String, _ intent: AccessIntent, aliases: [String] = []) -> PathSyscall {
        PathSyscall(name: name, aliases: aliases, operands: [PathOperand(pathArgument: 0, intent: .fixed(intent))])
    }

    private static func at(_ name: String, _ intent: AccessIntent, flags: Int? = nil, aliases: [String] = []) -> PathSyscall {
        PathSyscall(
            name: name, aliases: aliases,
            operands: [PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .fixed(intent))],
            atFlagsArgument: flags)
    }

    /// Every traced call; the position in this array is the seccomp
    /// `SECCOMP_RET_DATA` the filter returns for it.
    static let table: [PathSyscall] = [
        PathSyscall(name: "open", operands: [PathOperand(pathArgument: 0, intent: .openFlags(argument: 1))])
            .predicted(.open(flagsArgument: 1)),
        PathSyscall(name: "openat", operands: [PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .openFlags(argument: 2))])
            .predicted(.open(flagsArgument: 2)),
        PathSyscall(name: "openat2", operands: [PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .openHow(argument: 2))]),
        simple("creat", .create),
        simple("stat", .stat, aliases: ["stat64", "oldstat"]).predicted(.stat(flagsArgument: nil, followsSymlink: true)),
        simple("lstat", .stat, aliases: ["lstat64", "oldlstat"]).predicted(.stat(flagsArgument: nil, followsSymlink: false)),
        at("newfstatat", .stat, flags: 3, aliases: ["fstatat64"]).skippingEmptyPathInFilter()
            .predicted(.stat(flagsArgument: 3, followsSymlink: true)),
        at("statx", .stat, flags: 2).skippingEmptyPathInFilter().predicted(.stat(flagsArgument: 2, followsSymlink: true)),
        simple("statfs", .stat, aliases: ["statfs64"]).predicted(.statfs),
        simple("access", .probe).predicted(.access(modeArgument: 1, flagsArgument: nil)),
        at("faccessat", .probe).predicted(.access(modeArgument: 2, flagsArgument: nil)),
        at("faccessat2", .probe, flags: 3).predicted(.access(modeArgument: 2, flagsArgument: 3)),
        simple("execve", .exec),
        at("execveat", .exec, flags: 4),
        simple("readlink", .stat).predicted(.readlink(sizeArgument: 2)),
        at("readlinkat", .stat).predicted(.readlink(sizeArgument: 3)),
        // No path, but it moves the working directory relative paths use.
        PathSyscall(name: "fchdir", operands: []),
        simple("chdir", .chdir),
        simple("chroot", .chdir),
        simple("mkdir", .create),
        at("mkdirat", .create),
        simple("mknod", .create),
        at("mknodat", .create),
        simple("rmdir", .delete),
        simple("unlink", .delete),
        at("unlinkat", .delete),
        PathSyscall(
            name: "rename",
            operands: [
                PathOperand(pathArgument: 0, intent: .fixed(.delete)),
                PathOperand(pathArgument: 1, intent: .fixed(.create)),
            ]),
        PathSyscall(
            name: "renameat", aliases: ["renameat2"],
            operands: [
                PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .fixed(.delete)),
                PathOperand(pathArgument: 3, dirfdArgument: 2, intent: .fixed(.create)),
            ]),
        PathSyscall(
            name: "link",
            operands: [
                PathOperand(pathArgument: 0, intent: .fixed(.stat)),
                PathOperand(pathArgument: 1, intent: .fixed(.create)),
            ]),
        PathSyscall(
            name: "linkat",
            operands: [
                PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .fixed(.stat)),
                PathOperand(pathArgument: 3, dirfdArgument: 2, intent: .fixed(.create)),
            ],
            atFlagsArgument: 4),
        // The link target is text, not an access; only the new link is.
        PathSyscall(name: "symlink", operands: [PathOperand(pathArgument: 1, intent: .fixed(.create))]),
        PathSyscall(name: "symlinkat", operands: [PathOperand(pathArgument: 2, dirfdArgument: 1, intent: .fixed(.create))]),
        simple("truncate", .write, aliases: ["truncate64"]),
        // No path, but they change permissions cached lookup results
        // depend on (`LookupCache`).
        PathSyscall(name: "fchmod", operands: []).changingAnyLookup(),
        PathSyscall(name: "fchown", aliases: ["fchown32"], operands: []).changingAnyLookup(),
        PathSyscall(name: "fsetxattr", operands: []).changingAnyLookup(),
        PathSyscall(name: "fremovexattr", operands: []).changingAnyLookup(),
        simple("chmod", .write).changingAnyLookup(),
        at("fchmodat", .write).changingAnyLookup(),
        at("fchmodat2", .write, flags: 3).changingAnyLookup(),
        simple("chown", .write, aliases: ["chown32"]).changingAnyLookup(),
        simple("lchown", .write, aliases: ["lchown32"]).changingAnyLookup(),
        at("fchownat", .write, flags: 4).changingAnyLookup(),
        simple("utime", .write),
        simple("utimes", .write),
        at("futimesat", .write),
        PathSyscall(
            name: "utimensat", aliases: ["utimensat_time64"],
            operands: [PathOperand(pathArgument: 1, dirfdArgument: 0, intent: .fixed(.write))],
            atFlagsArgument: 3, skipWhenNull: 1),
        simple("setxattr", .write).changingAnyLookup(),
        simple("lsetxattr", .write).changingAnyLookup(),
        simple("removexattr", .write).changingAnyLookup(),
        simple("lremovexattr", .write).changingAnyLookup(),
        simple("getxattr", .stat),
        simple("lgetxattr", .stat),
        simple("listxattr", .stat),
        simple("llistxattr", .stat),
        simple("uselib", .read),
        simple("acct", .write),
        simple("swapon", .read),
        simple("swapoff", .stat),
        PathSyscall(name: "mount", operands: [PathOperand(pathArgument: 1, intent: .fixed(.stat))]).changingAnyLookup(),
        simple("umount2", .stat, aliases: ["umount"]).changingAnyLookup(),
        PathSyscall(
            name: "pivot_root",
            operands: [
                PathOperand(pathArgument: 0, intent: .fixed(.chdir)),
                PathOperand(pathArgument: 1, intent: .fixed(.stat)),
            ]
        ).changingAnyLookup(),
        PathSyscall(name: "quotactl", operands: [PathOperand(pathArgument: 1, intent: .fixed(.stat))]),
        PathSyscall(name: "inotify_add_watch", operands: [PathOperand(pathArgument: 1, intent: .fixed(.stat))]),
        PathSyscall(name: "fanotify_mark", operands: [PathOperand(pathArgument: 4, dirfdArgument: 3, intent: .fixed(.stat))]),
        at("open_tree", .stat),
        PathSyscall(name: "move_mount", operands: [PathOperand(pathArgument: 3, dirfdArgument: 2, intent: .fixed(.stat))])
            .changingAnyLookup(),
        at("mount_setattr", .stat).changingAnyLookup(),
    ]

}
