import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file descriptor develtrace opened and must close: closed exactly once,
/// by `close()` or when the owner goes away, and never retried (after
/// `EINTR` Linux has released the descriptor already; a retry could close
/// another thread's new one).
///
/// Open one with `OwnedDescriptor.open`, or use `withOpened`, which keeps
/// it open for exactly the closure's run.
public struct OwnedDescriptor: ~Copyable {
    /// The descriptor number, for calls that take one. Valid while the
    /// owner is alive.
    public let raw: CInt

    private init(raw: CInt) { self.raw = raw }

    /// Takes ownership of `raw`, a descriptor a C call just returned (not
    /// negative): it is closed with the owner.
    init(adopting raw: CInt) {
        precondition(raw >= 0, "no descriptor to adopt")
        self.raw = raw
    }

    /// `openat(directory, path, flags | O_CLOEXEC, mode)`; `EINTR` retried
    /// (opening a FIFO may be interrupted), errno read at once.
    public static func open(
        _ path: RawPath, _ flags: CInt, mode: mode_t = 0o644, relativeTo directory: CInt = AT_FDCWD
    ) throws(Errno) -> OwnedDescriptor {
        let fd = try valueOrErrno { path.withCString { openat(directory, $0, flags | O_CLOEXEC, mode) } }
        return OwnedDescriptor(raw: fd)
    }

    /// Closes it now (errors ignored: the descriptor is gone either way).
    public consuming func close() {
        _ = Glibc.close(raw)
        discard self
    }

    /// Gives the descriptor up without closing it: the caller owns it now.
    public consuming func release() -> CInt {
        let raw = self.raw
        discard self
        return raw
    }

    deinit { _ = Glibc.close(raw) }
}

/// Opens `path`, runs `body` with the descriptor and closes it, whether
/// `body` returns or throws.
func withOpened<R>(
    _ path: RawPath, _ flags: CInt, mode: mode_t = 0o644, relativeTo directory: CInt = AT_FDCWD, _ body: (CInt) throws -> R
) throws -> R {
    let owned = try OwnedDescriptor.open(path, flags, mode: mode, relativeTo: directory)
    let result: R
    do {
        result = try body(owned.raw)
    } catch {
        owned.close()
        throw error
    }
    owned.close()
    return result
}
