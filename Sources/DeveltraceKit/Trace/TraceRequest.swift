#if canImport(Glibc)
import Glibc
#endif

/// A command to run traced, and where.
public struct TraceRequest: Sendable {
    /// The program; a name without `/` is looked up in `PATH` like a shell does.
    public var program: RawPath
    /// The full argument vector, `argv[0]` included.
    public var arguments: [RawPath]
    /// `NAME=value` entries.
    public var environment: [RawPath]
    /// Working directory of the command; nil keeps develtrace's.
    public var workingDirectory: RawPath?
    /// The sandbox, or nil to trace on the host as it is.
    public var sandbox: SandboxConfiguration?
    /// Pin the command and the tracer thread to this CPU (a ptrace stop costs
    /// far less when both sit on one CPU); nil lets the scheduler choose.
    public var cpu: Int?
    /// Send read-only path calls to a seccomp listener where the kernel
    /// allows it (`ListenerSupport`); false: every call stops for ptrace.
    public var usesListener = true
    /// Record the read-only calls that need no directory descriptor in the
    /// kernel (`SyscallRecorder`: root, x86_64, Linux 5.17) where it loads;
    /// false: the listener answers them, or ptrace where there is none.
    /// Without a usable listener (a kernel before 6.6, `withoutListener`),
    /// the recorder takes them and ptrace the rest; `usesListener` false
    /// still stops every call for ptrace.
    public var usesRecorder = true
    /// Use no seccomp listener even where the kernel has a usable one: what
    /// a kernel before 6.6 gets (the recorder where it loads, ptrace for the
    /// rest). For benchmarks and tests on newer kernels.
    public var withoutListener = false
    /// With the recorder and a sandbox, let the recorder follow the
    /// processes too (forks, execs and exits from the kernel's own
    /// tracepoints) and the listener take every other path call: no ptrace
    /// stop at all (`SyscallRecorder.follows`). Where it cannot (no
    /// recorder, no sandbox, a kernel without its task types in
    /// `/sys/kernel/btf/vmlinux`, a command refused its listener), ptrace
    /// follows them; false: ptrace always does.
    public var followsInKernel = true
    /// False runs the command in the sandbox without tracing it (no
    /// filter but the sandbox's refusals, no ptrace, no listener, no
    /// recorder): the trace has no accesses and no processes, the exit
    /// status is the command's. For benchmarks: what the sandbox alone
    /// costs a build, beside what tracing it costs.
    public var traced = true
    /// Tests only: the listener runs a thread per CPU from the start and
    /// never goes back (`ListenerSchedule` otherwise decides).
    var listenerAlwaysParallel = false
    /// Tests only: the command acts as if the kernel refused it a listener
    /// (`EBUSY`, as under a listener above develtrace).
    var refusesListenerForTesting = false
    /// File descriptors for the command's standard input, output and error;
    /// nil inherits develtrace's.
    public var standardInput: Int32?
    public var standardOutput: Int32?
    public var standardError: Int32?
    /// The most processes the sandbox's identity may have at once
    /// (`RLIMIT_NPROC` of the command): a fork bomb stops there.
    public var maxProcesses: Int = TraceRequest.defaultMaxProcesses

    /// 4096 unless `DEVELTRACE_MAX_PROCESSES` says otherwise.
    public static var defaultMaxProcesses: Int {
        getenv("DEVELTRACE_MAX_PROCESSES").flatMap { Int(String(cString: $0)) }.flatMap { $0 > 0 ? $0 : nil } ?? 4096
    }

    public init(
        program: RawPath, arguments: [RawPath], environment: [RawPath], workingDirectory: RawPath? = nil,
        sandbox: SandboxConfiguration? = nil, cpu: Int? = nil, standardInput: Int32? = nil,
        standardOutput: Int32? = nil, standardError: Int32? = nil
    ) {
        self.standardInput = standardInput
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.program = program
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.sandbox = sandbox
        self.cpu = cpu
    }
}

/// How a traced run ended.
public enum Termination: Sendable, Hashable {
    /// The command ended by itself.
    case completed
    /// Stopped after the time limit.
    case timedOut
    /// Stopped because develtrace was asked to stop (SIGINT, SIGTERM).
    case interrupted(signal: Int32)
}

/// Everything a traced run observed.
public struct TraceOutcome: Sendable {
    /// Every path access, in the order the calls completed.
    public var accesses: [FileAccess]
    /// Every process, by pid (host pids).
    public var processes: [Int32: TracedProcess]
    /// The command's exit status: its exit code, or 128+N for signal N.
    public var exitStatus: Int32
    public var termination: Termination
    /// Writes the sandbox's overlays caught (empty without a sandbox).
    public var writes: [CapturedWrite]
    /// Things worth knowing that are not accesses (an undecoded ABI, …).
    public var notes: [String]
    /// Set when the command could not be started (chdir, exec failed).
    public var launchFailure: String?
    /// The pid of the traced command.
    public var commandPid: Int32
    /// How much tracing it took.
    public var statistics: TraceStatistics
}

/// Counters of one traced run.
public struct TraceStatistics: Sendable {
    /// Stops at the entry of a path system call (the seccomp filter's).
    public var seccompStops: Int
    /// Stops at the exit of one, where the result could not be known earlier.
    public var syscallExitStops: Int
    /// Fork, exec, signal and group stops.
    public var otherStops: Int
    /// Wall time of the run, set-up and tear-down included.
    public var seconds: Double
    /// Calls answered by the seccomp listener (no ptrace stop).
    public var notifications: Int = 0
    /// Stops right after a notified call the listener could not predict.
    public var interruptStops: Int = 0
    /// Calls answered while the listener ran a thread per CPU without the
    /// sync wake-up (`ListenerSchedule.Mode.parallel`).
    public var parallelNotifications: Int = 0
    /// How often the listener changed between serial and parallel.
    public var listenerSwitches: Int = 0
    /// Predictions of canonical paths answered from the lookup cache, and
    /// those looked up (`LookupCache`).
    public var lookupCacheHits: Int = 0
    public var lookupCacheMisses: Int = 0
    /// Calls the in-kernel recorder recorded (`SyscallRecorder`), those
    /// whose path it could not read, and those its ring buffer had no room
    /// for.
    public var recordedCalls: Int = 0
    public var unreadableRecordedCalls: Int = 0
    public var lostRecordedCalls: Int = 0
    /// How read-only calls were watched: "listener (sync wake-up)",
    /// "ptrace (asked)", "ptrace (no listener on this kernel)", "ptrace
    /// (the command could not make a listener: EBUSY)".
    public var mode: String = "ptrace"
}
