import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The ptrace requests, options and events develtrace uses, with the
/// values of `<linux/ptrace.h>` (through the C target: its macros do not
/// import).
enum Ptrace {
    static let cont = dt_ptrace_cont
    static let detach = dt_ptrace_detach
    static let syscall = dt_ptrace_syscall
    static let setOptions = dt_ptrace_setoptions
    static let getEventMessage = dt_ptrace_geteventmsg
    static let seize = dt_ptrace_seize
    static let listen = dt_ptrace_listen
    static let interrupt = dt_ptrace_interrupt

    struct Options: OptionSet {
        let rawValue: UInt
        static let traceSysGood = Options(rawValue: dt_ptrace_o_tracesysgood)
        static let traceFork = Options(rawValue: dt_ptrace_o_tracefork)
        static let traceVFork = Options(rawValue: dt_ptrace_o_tracevfork)
        static let traceClone = Options(rawValue: dt_ptrace_o_traceclone)
        static let traceExec = Options(rawValue: dt_ptrace_o_traceexec)
        static let traceSeccomp = Options(rawValue: dt_ptrace_o_traceseccomp)
        static let exitKill = Options(rawValue: dt_ptrace_o_exitkill)
    }

    /// `PTRACE_EVENT_*`, as the high byte of a stop's status gives it.
    enum Event: Equatable {
        case fork, vfork, clone, exec, vforkDone, exit, seccomp, stop

        init?(rawValue: Int32) {
            switch rawValue {
            case dt_ptrace_event_fork: self = .fork
            case dt_ptrace_event_vfork: self = .vfork
            case dt_ptrace_event_clone: self = .clone
            case dt_ptrace_event_exec: self = .exec
            case dt_ptrace_event_vfork_done: self = .vforkDone
            case dt_ptrace_event_exit: self = .exit
            case dt_ptrace_event_seccomp: self = .seccomp
            case dt_ptrace_event_stop: self = .stop
            default: return nil
            }
        }

        var rawValue: Int32 {
            switch self {
            case .fork: dt_ptrace_event_fork
            case .vfork: dt_ptrace_event_vfork
            case .clone: dt_ptrace_event_clone
            case .exec: dt_ptrace_event_exec
            case .vforkDone: dt_ptrace_event_vfork_done
            case .exit: dt_ptrace_event_exit
            case .seccomp: dt_ptrace_event_seccomp
            case .stop: dt_ptrace_event_stop
            }
        }
    }

    /// `waitpid` flags: every child kind (`__WALL`), only this thread's
    /// children and tracees (`__WNOTHREAD`) — other threads run other traces.
    static let waitFlags = dt_wait_all_own_thread

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
