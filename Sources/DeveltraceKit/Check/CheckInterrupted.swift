import Foundation

/// The check was stopped (SIGINT, SIGTERM) before it finished.
public struct CheckInterrupted: Error, CustomStringConvertible {
    /// The signal that stopped it (SIGTERM when unknown).
    public var signal: Int32 = SIGTERM
    public init(signal: Int32 = SIGTERM) { self.signal = signal }
    public var description: String { "interrupted; every sandbox was torn down" }
    /// The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
    public var exitStatus: Int32 { 128 + signal }
}
