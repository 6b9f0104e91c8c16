/// How the seccomp listener's threads answer, decided from the order in
/// which tasks' calls arrive. A pure policy: `ListenerPool` applies it.
///
/// Measured on evdi (15 compile units, 2 CPUs, Linux 6.18): serial builds
/// are fastest with one thread and the sync wake-up (the kernel hands the
/// CPU from the caller to the listener and back: 1.24× untraced against
/// 1.42× without it), parallel ones with one thread pinned to each CPU and
/// no sync wake-up (`make -j2`: 1.41× against 1.70× with it), because a
/// sync answer to a task on another CPU drags that task to the listener's.
///
/// Tasks that take turns (make, then a shell, then the compiler) send long
/// runs of calls from one task; tasks that run at once interleave theirs.
/// The share of calls whose task differs from the previous call's, as a
/// moving average, decides; two thresholds keep it from flapping.
public struct ListenerSchedule: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// One thread, unpinned, sync wake-up.
        case serial
        /// One thread per CPU, each pinned, no sync wake-up.
        case parallel
    }

    public private(set) var mode: Mode = .serial
    private var previous: Int32 = 0
    /// The moving share of interleaved calls, in 1/65536.
    private var interleaving = 0

    /// Each call weighs 1/64 of the average.
    static let shift = 6
    /// Above a share of 1/4 the calls interleave: parallel.
    static let enterParallel = 65536 / 4
    /// Below 1/16 they take turns again: serial.
    static let leaveParallel = 65536 / 16

    public init() {}

    /// Counts one call by `task`; returns the new mode when it changes.
    public mutating func observe(task: Int32) -> Mode? {
        let switched = previous != 0 && task != previous
        previous = task
        interleaving += ((switched ? 65536 : 0) - interleaving) >> Self.shift
        switch mode {
        case .serial where interleaving > Self.enterParallel:
            mode = .parallel
            return mode
        case .parallel where interleaving < Self.leaveParallel:
            mode = .serial
            return mode
        default:
            return nil
        }
    }
}
