import CDeveltrace
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Without a seccomp listener (a kernel before 6.6), the command loads the
/// filter that lets the in-kernel recorder's calls through and stops every
/// other path call for ptrace (`SeccompFilter.recordingWithPtrace`), then
/// says on the listener socket whether it loaded. This thread takes that
/// word: loaded, the recorder records the tasks met so far and every task
/// from then on (`TraceShared.recorderFilterLoaded`); refused, the command loads the
/// ptrace filter instead and nothing is recorded twice. Either way it
/// answers, and the command goes on to its `execve`.
final class PlainFilterConfirmation: Sendable {
    private let done = DispatchSemaphore(value: 0)

    /// Takes `socket` (closes it); `shared`'s recorder is the one enabled.
    init(socket: Int32, shared: TraceShared) {
        let thread = Thread { [done] in
            defer { done.signal() }
            var reason: Int32 = 0
            let received = dt_listener_receive(socket, &reason)
            if received >= 0 {
                close(received) // never sent for a plain filter
            } else if reason == 0 {
                // Loaded (or the command is gone without a word: then
                // nothing is left to record).
                shared.recorderFilterLoaded()
            }
            _ = dt_listener_acknowledge(socket)
            close(socket)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Returns once the answer is sent (or the command is gone).
    func join() {
        done.wait()
        done.signal()
    }
}
