import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The ptrace requests, options and events develtrace uses (from
/// `<linux/ptrace.h>`; the C macros do not import).
enum Ptrace {
    static let cont: Int32 = 7
    static let detach: Int32 = 17
    static let syscall: Int32 = 24
    static let setOptions: Int32 = 0x4200
    static let getEventMessage: Int32 = 0x4201
    static let seize: Int32 = 0x4206
    static let listen: Int32 = 0x4208

    struct Options: OptionSet {
        let rawValue: UInt
        static let traceSysGood = Options(rawValue: 0x1)
        static let traceFork = Options(rawValue: 0x2)
        static let traceVFork = Options(rawValue: 0x4)
        static let traceClone = Options(rawValue: 0x8)
        static let traceExec = Options(rawValue: 0x10)
        static let traceSeccomp = Options(rawValue: 0x80)
        static let exitKill = Options(rawValue: 0x10_0000)
    }

    enum Event: Int32 {
        case fork = 1
        case vfork = 2
        case clone = 3
        case exec = 4
        case vforkDone = 5
        case exit = 6
        case seccomp = 7
        case stop = 128
    }

    /// `waitpid` flags: every child kind (`__WALL`), only this thread's
    /// children and tracees (`__WNOTHREAD`) — other threads run other traces.
    static let waitFlags: Int32 = 0x4000_0000 | 0x2000_0000

    static func request(_ request: Int32, _ pid: pid_t, _ addr: UInt = 0, _ data: UInt = 0) throws(Errno) {
        try nothingOrErrno { dt_ptrace(request, pid, addr, data) }
    }

    static func eventMessage(_ pid: pid_t) -> UInt {
        var message: UInt = 0
        _ = withUnsafeMutablePointer(to: &message) {
            dt_ptrace(getEventMessage, pid, 0, UInt(bitPattern: $0))
        }
        return message
    }
}

/// Decoded `waitpid` status.
enum WaitStatus {
    case exited(Int32)
    case signaled(Int32)
    /// A ptrace stop: the signal and the event (0 if none).
    case stopped(signal: Int32, event: Int32)
    case other

    init(_ status: Int32) {
        let low = status & 0x7f
        if low == 0 {
            self = .exited((status >> 8) & 0xff)
        } else if (status & 0xff) == 0x7f {
            self = .stopped(signal: (status >> 8) & 0xff, event: (status >> 16) & 0xffff)
        } else if low != 0x7f {
            self = .signaled(low)
        } else {
            self = .other
        }
    }
}
