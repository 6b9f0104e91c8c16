/// The exit statuses develtrace documents (README, "Exit status"), and the
/// pure rules that choose one from a typed result.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// `check`, `merge`: a finding fails the gate.
    public static let findings: Int32 = 1
    /// Bad usage, bad input, or a machine that cannot run the sandbox.
    public static let badInput: Int32 = 2
    /// `check`, `merge`: a sample failed its reference build.
    public static let brokenSample: Int32 = 3
    /// A defect of develtrace's own.
    public static let internalError: Int32 = 4
    /// `trace`: the command ran past `--timeout`.
    public static let timedOut: Int32 = 124

    /// The shell's convention for a run stopped by signal `signal`.
    public static func interrupted(by signal: Int32) -> Int32 { 128 + signal }

    /// `check` and `merge`: the gate first, then broken samples. A sample
    /// whose reference build fails (a DKMS package too old for the kernel)
    /// must not hide what the samples that do build found in the package.
    public static func check(samples: [CheckResult.SampleResult], failsGate: Bool) -> Int32 {
        if failsGate { return findings }
        return samples.contains(where: { $0.referenceState.isBroken }) ? brokenSample : success
    }

    /// `trace`: the command's own status, unless develtrace stopped it.
    public static func trace(_ termination: Termination, commandStatus: Int32) -> Int32 {
        switch termination {
        case .completed: return commandStatus
        case .timedOut: return timedOut
        case .interrupted(let signal): return interrupted(by: signal)
        }
    }
}
