import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// Host tools as staging runs them: what they write, how they end, what
    /// they inherit.
    @Suite struct HostCommandTests {
        @Test("output and errors are kept apart, and the exit status is the tool's")
        func outputAndStatus() throws {
            let result = try HostCommand.run(["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3"])
            #expect(result.status == 3)
            #expect(String(decoding: result.output, as: UTF8.self) == "out\n")
            #expect(result.error == "err\n")
        }

        @Test("a tool that fills both pipes at once ends (neither is left unread)")
        func bothPipesFull() throws {
            // 1 MiB on each, interleaved: far past a pipe's 64 KiB.
            let script = "i=0; while [ $i -lt 256 ]; do head -c 4096 /dev/zero; head -c 4096 /dev/zero >&2; i=$((i+1)); done"
            let result = try HostCommand.run(["sh", "-c", script])
            #expect(result.status == 0)
            #expect(result.output.count == 1 << 20)
            #expect(result.error.utf8.count == 1 << 20)
        }

        @Test("a tool killed by a signal reports 128 + the signal")
        func killedBySignal() throws {
            let result = try HostCommand.run(["sh", "-c", "kill -TERM $$"])
            #expect(result.status == 128 + SIGTERM)
        }

        @Test("a missing tool is named, with why it could not start")
        func missingTool() {
            #expect {
                try HostCommand.run(["develtrace-no-such-tool-\(UUID().uuidString)"])
            } throws: { error in
                guard case InputError.tool(let tool, let reason) = error else { return false }
                return tool.hasPrefix("develtrace-no-such-tool-") && reason.contains("No such file")
            }
        }

        @Test("the tool runs in the directory given, reads nothing, and sees only its three standard descriptors")
        func directoryInputAndDescriptors() throws {
            // A descriptor of develtrace's that is not close-on-exec must not
            // reach the tool either.
            let leaked = open("/dev/null", O_RDONLY)
            #expect(leaked >= 0)
            defer { close(leaked) }
            let result = try HostCommand.run(["sh", "-c", "pwd; cat; ls /proc/self/fd"], directory: "/usr")
            #expect(result.status == 0)
            let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(lines.first == "/usr")
            // `ls` lists its own directory descriptor beside 0, 1 and 2.
            let descriptors = lines.dropFirst().compactMap { Int($0) }.filter { $0 > 2 }
            #expect(descriptors.count <= 1, "descriptors the tool inherited: \(descriptors)")
        }

        @Test("signals develtrace ignores or blocks are the tool's defaults")
        func signalDefaults() throws {
            let previous = signal(SIGPIPE, SIG_IGN)
            defer { signal(SIGPIPE, previous) }
            // SigIgn and SigBlk of the tool itself (a shell would block signals
            // around its own forks): nothing ignored, nothing blocked.
            let result = try HostCommand.run(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
            let masks = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap {
                $0.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) }
            }
            #expect(masks.count == 2)
            // Signals 32 and 33 are glibc's own (thread cancellation and
            // set*id): no tool uses them, sigfillset leaves them out, and
            // glibc installs its handlers over them when it needs them.
            let glibcs: UInt64 = 1 << 31 | 1 << 32
            #expect(masks.allSatisfy { $0 & ~glibcs == 0 }, "\(masks.map { String($0, radix: 16) })")
        }
    }
}
