import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The one exit contract: errors sorted into categories, statuses chosen
    /// by pure rules from typed results.
    @Suite struct ExitContract {
        @Test(
            "every error a command lets through has its category and status",
            arguments: [
                (InputError.notFound("/srv/tree") as any Error, RunFailure.badInput("/srv/tree: no such file or directory"), 2),
                (SandboxError.targetNotAbsolute(RawPath("x")), .badInput("x: sandbox paths must be absolute"), 2),
                (SandboxError.scratch(.noSpace), .environment("cannot create a scratch directory in $TMPDIR: No space left on device"), 2),
                (CheckInterrupted(signal: SIGINT), .interrupted(signal: SIGINT), 130),
                (CheckInterrupted(signal: SIGTERM), .interrupted(signal: SIGTERM), 143),
                (RunFailure.badInput("cannot write /dev/full"), .badInput("cannot write /dev/full"), 2),
                (CocoaError(.fileReadCorruptFile), .internalError(String(describing: CocoaError(.fileReadCorruptFile))), 4),
            ] as [(any Error, RunFailure, Int32)])
        func categories(error: any Error, failure: RunFailure, status: Int32) {
            #expect(RunFailure(error) == failure)
            #expect(RunFailure(error).exitStatus == status)
            #expect(RunFailure(error).message.hasPrefix("develtrace: "))
            #expect(!RunFailure(error).message.contains("\n"))
        }

        @Test("every sandbox error is input or environment, and exits 2")
        func sandboxErrors() {
            let errors: [SandboxError] = [
                .userNamespaces(.clone(.permissionDenied)), .scratch(.noSpace), .sourceMissing(RawPath("/a"), .noSuchFileOrDirectory),
                .targetNotAbsolute(RawPath("a")), .unsupportedCharacter(RawPath("/a,b")),
                .insideHostMount(path: RawPath("/proc/x"), mount: RawPath("/proc")), .nested(path: RawPath("/a/b"), under: RawPath("/a")),
                .preparation(RawPath("/s/x"), .isDirectory), .mountFailed(step: "overlay", .invalidArgument),
                .launch("fork", .resourceTemporarilyUnavailable),
            ]
            for error in errors {
                let failure = RunFailure(error)
                #expect(failure.exitStatus == 2)
                switch failure {
                case .badInput, .environment: #expect(failure.description == error.description)
                default: Issue.record("\(error) sorted as \(failure)")
                }
            }
        }

        @Test("trace: the command's status, 124 after the time limit, 128+N when develtrace was stopped")
        func trace() {
            #expect(ExitStatus.trace(.completed, commandStatus: 0) == 0)
            #expect(ExitStatus.trace(.completed, commandStatus: 7) == 7)
            #expect(ExitStatus.trace(.timedOut, commandStatus: 137) == 124)
            #expect(ExitStatus.trace(.interrupted(signal: SIGINT), commandStatus: 137) == 130)
        }

        static func sample(_ reference: String) -> CheckResult.SampleResult {
            CheckResult.SampleResult(
                name: "s", kind: "dkms", directory: "/s", reference: reference, candidate: "succeeded", rounds: 1, modules: [:],
                log: nil, treeFilesUsed: [], candidateFilesUsed: nil)
        }

        @Test("check: the gate (1) before a broken sample (3); a skipped one is no failure")
        func check() {
            #expect(ExitStatus.check(samples: [Self.sample("succeeded")], failsGate: false) == 0)
            #expect(ExitStatus.check(samples: [Self.sample("succeeded")], failsGate: true) == 1)
            #expect(ExitStatus.check(samples: [Self.sample("skipped: BUILD_EXCLUSIVE_KERNEL")], failsGate: false) == 0)
            for broken in ["failed (exit 2)", "timed out", "broken dkms.conf: line 3"] {
                #expect(ExitStatus.check(samples: [Self.sample("succeeded"), Self.sample(broken)], failsGate: false) == 3)
                // Six of seven bookworm DKMS packages fail against 6.12: they
                // must not hide the findings of the ones that build.
                #expect(ExitStatus.check(samples: [Self.sample("succeeded"), Self.sample(broken)], failsGate: true) == 1)
            }
            #expect(ExitStatus.check(samples: [], failsGate: false) == 0)
        }

        @Test("a build's state survives its summary, the form the JSON keeps")
        func stateRoundTrip() {
            let statuses: [SampleBuildResult.Status] = [
                .succeeded, .failed(exitStatus: 2), .skipped(reason: "BUILD_EXCLUSIVE_ARCH"), .brokenConfiguration("x: not found"),
                .timedOut,
            ]
            #expect(Set(statuses.map(\.state)) == Set(SampleBuildResult.State.allCases))
            for status in statuses {
                #expect(SampleBuildResult.State(summary: status.summary) == status.state, "\(status.summary)")
            }
        }

        @Test("the exit status and JUnit read the recorded state, not the summary's words; older results still read")
        func typedState() throws {
            // A failed build whose summary happens to start with a word the
            // parser knows: the recorded state decides.
            var sample = Self.sample("skipped-looking text")
            sample.referenceStatus = .failed
            #expect(ExitStatus.check(samples: [sample], failsGate: false) == 3)
            sample.referenceStatus = .skipped
            sample.candidate = "not built"
            #expect(ExitStatus.check(samples: [sample], failsGate: false) == 0)
            #expect(sample.candidateState == nil)
            // JSON: the state is written, and a result without it (written
            // before) falls back to the summary.
            let encoded = try JSONEncoder().encode(sample)
            let json = String(decoding: encoded, as: UTF8.self)
            #expect(json.contains("\"referenceStatus\":\"skipped\""))
            var older = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
            older["referenceStatus"] = nil
            older["reference"] = "failed (exit 2)"
            let decoded = try JSONDecoder().decode(
                CheckResult.SampleResult.self, from: JSONSerialization.data(withJSONObject: older))
            #expect(decoded.referenceStatus == nil && decoded.referenceState == .failed)
        }
    }
}
