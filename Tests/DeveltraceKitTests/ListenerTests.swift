import CDeveltrace
import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Machine {
    /// The seccomp listener's hazards (`ListenerLoop`): signals around a
    /// waiting call, children whose calls come before their fork event,
    /// per-process working directories, and a listener above develtrace.
    @Suite struct Listener {
        /// The paths `storm` stats, with how often each was recorded.
        static func stormPaths(_ outcome: TraceOutcome) -> [String: Int] {
            var counts: [String: Int] = [:]
            for access in outcome.accesses where access.path.description.contains("/storm-missing-") {
                #expect(access.result.description == "ENOENT")
                counts[access.path.description, default: 0] += 1
            }
            return counts
        }

        /// "signals N eintr M" from storm's output.
        static func stormReport(_ output: String) -> (signals: Int, interrupted: Int)? {
            let words = output.split(whereSeparator: \.isWhitespace)
            guard words.count == 4, let signals = Int(words[1]), let interrupted = Int(words[3]) else { return nil }
            return (signals, interrupted)
        }

        static func runStorm(_ mode: String, watch: Harness.Watch) throws -> (TraceOutcome, String) {
            let program = try Harness.fixtureProgram("storm")
            let work = try Harness.workDirectory("storm")
            defer { try? FileManager.default.removeItem(at: work) }
            let output = work.appendingPathComponent("output")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            var request = TraceRequest(
                program: RawPath(program), arguments: [RawPath(program), RawPath("."), RawPath(mode)], environment: Harness.environment(),
                workingDirectory: RawPath(work.path), sandbox: SandboxConfiguration(), standardOutput: handle.fileDescriptor)
            watch.apply(to: &request)
            let outcome = try TraceSession(request: request).run()
            try handle.close()
            return (outcome, try String(contentsOf: output, encoding: .utf8))
        }

        @Test("a signal storm with SA_RESTART handlers: every call recorded exactly once", arguments: Harness.Watch.allCases)
        func stormRestarting(watch: Harness.Watch) throws {
            let (outcome, output) = try Self.runStorm("restart", watch: watch)
            #expect(outcome.exitStatus == 0)
            let report = try #require(Self.stormReport(output), "storm printed \(output)")
            #expect(report.signals > 100, "the storm came")
            #expect(report.interrupted == 0)
            let counts = Self.stormPaths(outcome)
            #expect(counts.count == 1500)
            #expect(counts.values.allSatisfy { $0 == 1 }, "no call recorded twice")
            if watch == .recorderWithPtrace && RecorderSupport.available {
                #expect(outcome.statistics.recordedCalls >= 1500)
                #expect(outcome.statistics.seccompStops < 1500, "the stats stopped only where nothing recorded them")
            } else if (watch == .recorder || watch == .following) && RecorderSupport.available && ListenerSupport.available {
                #expect(outcome.statistics.recordedCalls >= 1500)
            } else if watch != .ptrace && watch != .recorderWithPtrace && ListenerSupport.available {
                #expect(outcome.statistics.notifications >= 1500)
            }
        }

        /// Without SA_RESTART a call interrupted before the listener took it
        /// returns EINTR having looked nothing up (natively a `stat` would
        /// not be interrupted: the README says so). It is not recorded;
        /// every call that ran is, once.
        @Test("a signal storm without SA_RESTART: calls that ran are recorded once, interrupted ones not at all")
        func stormInterrupting() throws {
            let (outcome, output) = try Self.runStorm("interrupt", watch: .listener)
            #expect(outcome.exitStatus == 0)
            let report = try #require(Self.stormReport(output), "storm printed \(output)")
            let counts = Self.stormPaths(outcome)
            #expect(counts.count == 1500 - report.interrupted)
            #expect(counts.values.allSatisfy { $0 == 1 })
        }

        /// The recorder never holds a call, so nothing is interrupted that
        /// natively would not be: every call runs and is recorded once.
        @Test("a signal storm without SA_RESTART under the in-kernel recorder: every call recorded once, none interrupted")
        func stormInterruptingRecorded() throws {
            let (outcome, output) = try Self.runStorm("interrupt", watch: .recorder)
            #expect(outcome.exitStatus == 0)
            let report = try #require(Self.stormReport(output), "storm printed \(output)")
            let counts = Self.stormPaths(outcome)
            #expect(counts.values.allSatisfy { $0 == 1 })
            if RecorderSupport.available && ListenerSupport.available {
                #expect(report.signals > 100, "the storm came")
                #expect(report.interrupted == 0)
                #expect(counts.count == 1500)
            } else {
                #expect(counts.count == 1500 - report.interrupted)
            }
        }

        /// Reads the recorder or the listener takes and changes ptrace takes
        /// land in the log in the order they ran: a probe before a creation
        /// says ENOENT, after it ok, across processes and directories.
        @Test("probes around creations and removals by other processes keep their order", arguments: Harness.Watch.allCases)
        func orderAcrossRecorders(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("order")
            defer { try? FileManager.default.removeItem(at: work) }
            let script = """
                for i in 1 2 3; do
                  test -e f; : > f; test -e f; rm f; test -e f
                  mkdir d; cd d; test -e ../f; : > g; test -e g; cd ..; test -e d/g; rm -r d
                done
                """
            let outcome = try Harness.trace(["/bin/sh", "-c", script], in: work, sandbox: SandboxConfiguration(), watch: watch)
            #expect(outcome.exitStatus == 0)
            let names = ["\(work.path)/f", "\(work.path)/d/g"]
            let seen = outcome.accesses.filter { names.contains($0.path.description) }
                .filter { ["newfstatat", "stat", "openat", "unlink", "unlinkat"].contains($0.syscall) }
                .map { "\($0.path.description.hasSuffix("/f") ? "f" : "g") \($0.intent.rawValue) \($0.result)" }
            // rm looks before it removes; `../f` keeps its `..` and is not `f`.
            let round = [
                "f stat ENOENT", "f create ok", "f stat ok", "f stat ok", "f delete ok", "f stat ENOENT", "g create ok",
                "g stat ok", "g stat ok", "g delete ok",
            ]
            #expect(seen == round + round + round)
        }

        @Test("40 children that change directory and look up relative paths at once", arguments: Harness.Watch.allCases)
        func forkedWorkingDirectories(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("forked-cwd")
            defer { try? FileManager.default.removeItem(at: work) }
            func create() throws {
                for i in 1...40 {
                    let directory = work.appendingPathComponent("sub\(i)")
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    if i % 2 == 0 { try "x".write(to: directory.appendingPathComponent("here"), atomically: false, encoding: .utf8) }
                }
            }
            try create()
            let script = "for i in $(seq 40); do (cd sub$i && test -e here && test -r ../sub$i/here) & done; wait"
            let command = ["/bin/bash", "-c", script]
            let outcome = try Harness.trace(command, in: work, watch: watch)
            for i in 1...40 {
                let path = "\(work.path)/sub\(i)/here"
                let results = outcome.accesses.filter { $0.path.description == path && $0.syscall == "newfstatat" }.map(
                    \.result.description)
                #expect(results == [i % 2 == 0 ? "ok" : "ENOENT"], "sub\(i)/here: \(results)")
            }
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log)
        }

        /// Two loops of `test -e` at once: their calls interleave, which is
        /// what sends the listener to a thread per CPU (where there are two).
        /// Every call is recorded once, each loop's in its own order, on
        /// every path; strace agrees.
        @Test("two tasks calling at once: every call recorded once, each task's in order", arguments: Harness.Watch.allCases)
        func tasksAtOnce(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("at-once")
            defer { try? FileManager.default.removeItem(at: work) }
            try "x".write(to: work.appendingPathComponent("here-a-7"), atomically: false, encoding: .utf8)
            let script = "for t in a b; do (i=0; while [ $i -lt 2000 ]; do test -e here-$t-$i; i=$((i+1)); done) & done; wait"
            let command = ["/bin/bash", "-c", script]
            let outcome = try Harness.trace(command, in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            for task in ["a", "b"] {
                let prefix = "\(work.path)/here-\(task)-"
                let calls = outcome.accesses.filter { $0.syscall == "newfstatat" && $0.path.description.hasPrefix(prefix) }
                let numbers = calls.map { Int($0.path.description.dropFirst(prefix.count)) ?? -1 }
                #expect(numbers == Array(0..<2000), "\(task): \(numbers.count) calls")
                let found = calls.filter { $0.result.description == "ok" }.map(\.path.description)
                #expect(found == (task == "a" ? ["\(prefix)7"] : []))
            }
            if watch == .listener && ListenerSupport.available {
                // Whichever the schedule chose, each call went through it once.
                #expect(outcome.statistics.parallelNotifications <= outcome.statistics.notifications)
            }
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log)
        }

        /// Under a listener above develtrace (some containers, nested
        /// sandboxes) the kernel refuses a second one (`EBUSY`); the probe,
        /// run from develtrace's own place, sees it first, so the trace takes
        /// the path of a kernel without a listener from the start: as root
        /// the in-kernel recorder with ptrace for the rest, otherwise ptrace.
        @Test("under a filter that already has a listener, calls go to the recorder or ptrace and the trace is the same")
        func listenerAbove() throws {
            let wrapper = try Harness.fixtureProgram("with-listener")
            let work = try Harness.workDirectory("listener-above")
            defer { try? FileManager.default.removeItem(at: work) }
            let develtrace = Harness.packageRoot.appendingPathComponent(".build/debug/develtrace").path
            var traces: [[String]] = []
            var modes: [String] = []
            for wrapped in [false, true] {
                let traceFile = work.appendingPathComponent("trace-\(wrapped).jsonl")
                let stats = work.appendingPathComponent("stats-\(wrapped)")
                let arguments = [
                    develtrace, "trace", "--format", "jsonl", "--output", traceFile.path, "--stats", stats.path, "--",
                    "/bin/sh", "-c", "test -e /etc/hostname; test -e missing; cat /etc/os-release >/dev/null",
                ]
                let status = try Harness.runProcess(wrapped ? [wrapper] + arguments : arguments, in: work)
                #expect(status == 0)
                var accesses: [String] = []
                for line in try Data(contentsOf: traceFile).split(separator: 10) {
                    guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any], object["kind"] as? String == "access"
                    else { continue }
                    accesses.append("\(object["syscall"] ?? "") \(object["path"] ?? "") \(object["result"] ?? "")")
                }
                traces.append(accesses)
                let text = try String(contentsOf: stats, encoding: .utf8)
                modes.append(text.split(separator: "\n").first { $0.hasPrefix("read_only_calls ") }.map(String.init) ?? "")
            }
            #expect(traces[0].count > 10)
            #expect(traces[0] == traces[1])
            #expect(modes[1].contains("ptrace"), "wrapped: \(modes[1])")
            #expect(!modes[1].contains("listener ("), "no listener under another: \(modes[1])")
            if RecorderSupport.available {
                #expect(
                    modes[1].hasPrefix("read_only_calls in-kernel recorder (eBPF), the rest stopped for ptrace"), "wrapped: \(modes[1])")
            }
            if ListenerSupport.available { #expect(modes[0].contains("listener"), "plain: \(modes[0])") }
        }

        /// Runs `script` (which appends "ran" to `runs`) twice in a sandbox
        /// showing its work directory writable, as `configure` says, its
        /// listener (or plain filter) refused the second time; each command
        /// must have run once.
        static func runRefusedPair(_ name: String, script: String, configure: (inout TraceRequest) -> Void) throws -> [TraceOutcome] {
            let work = try Harness.workDirectory(name)
            defer { try? FileManager.default.removeItem(at: work) }
            let runs = work.appendingPathComponent("runs")
            var configuration = SandboxConfiguration()
            configuration.binds = [.init(source: RawPath(work.path), target: RawPath(work.path), readOnly: false)]
            var outcomes: [TraceOutcome] = []
            for refused in [false, true] {
                var request = TraceRequest(
                    program: RawPath("/bin/sh"), arguments: ["/bin/sh", "-c", script].map(RawPath.init),
                    environment: Harness.environment(), workingDirectory: RawPath(work.path), sandbox: configuration)
                configure(&request)
                request.refusesListenerForTesting = refused
                outcomes.append(try TraceSession(request: request).run())
            }
            #expect(try String(contentsOf: runs, encoding: .utf8) == "ran\nran\n", "each command ran once")
            return outcomes
        }

        @Test("following without ptrace, a command refused its listener runs once, followed by ptrace instead")
        func followingRefused() throws {
            let outcomes = try Self.runRefusedPair(
                "following-refused", script: "echo ran >> runs; test -e /etc/hostname; cat missing 2>/dev/null; exit 4"
            ) { $0.followsInKernel = true }
            #expect(outcomes.allSatisfy { $0.exitStatus == 4 })
            let summary = { (outcome: TraceOutcome) in outcome.accesses.map { "\($0.syscall) \($0.path) \($0.result)" } }
            #expect(summary(outcomes[0]).contains { $0.hasSuffix("/missing ENOENT") })
            #expect(summary(outcomes[0]) == summary(outcomes[1]))
            #expect(!outcomes[1].statistics.mode.contains("following"), "refused: \(outcomes[1].statistics.mode)")
            #expect(outcomes[1].statistics.otherStops > 0, "ptrace followed the processes")
            if RecorderSupport.available && ListenerSupport.available && KernelTypes.running != nil {
                #expect(outcomes[0].statistics.mode.contains("following"), "\(outcomes[0].statistics.mode)")
            }
        }

        @Test("no listener (a kernel before 6.6): the recorder and ptrace, or, the recorder's filter refused, ptrace alone; one trace")
        func recorderWithPtraceRefused() throws {
            let outcomes = try Self.runRefusedPair(
                "recorder-ptrace-refused",
                script: "echo ran >> runs; test -e /etc/hostname; cat missing 2>/dev/null; cd /usr && ls include >/dev/null; exit 4"
            ) { Harness.Watch.recorderWithPtrace.apply(to: &$0) }
            #expect(outcomes.allSatisfy { $0.exitStatus == 4 })
            let summary = { (outcome: TraceOutcome) in
                outcome.accesses.map { "\($0.pid == outcome.commandPid) \($0.syscall) \($0.path) \($0.result)" }
            }
            #expect(summary(outcomes[0]).contains { $0.hasSuffix("/missing ENOENT") })
            #expect(summary(outcomes[0]).contains { $0.hasSuffix(" /usr/include ok") }, "relative to the new directory")
            #expect(summary(outcomes[0]) == summary(outcomes[1]))
            #expect(outcomes[1].statistics.mode.hasPrefix("ptrace"), "refused: \(outcomes[1].statistics.mode)")
            #expect(outcomes[1].statistics.recordedCalls == 0, "nothing recorded with the ptrace filter")
            #expect(outcomes.allSatisfy { $0.statistics.notifications == 0 })
            if RecorderSupport.available {
                #expect(
                    outcomes[0].statistics.mode.hasPrefix("in-kernel recorder (eBPF), the rest stopped for ptrace"),
                    "\(outcomes[0].statistics.mode)")
                #expect(outcomes[0].statistics.recordedCalls > 0)
                #expect(outcomes[0].statistics.seccompStops < outcomes[1].statistics.seccompStops)
            }
        }

        @Test("following: the recorder's kernel objects are kept for the next trace, cleared")
        func keptRecorder() throws {
            guard RecorderSupport.available, let types = KernelTypes.running else { return }
            let proc = try FileDescriptor.open("/proc", .readOnly, options: [.directory, .closeOnExec])
            defer { try? proc.close() }
            let pool = RecorderObjects.Pool()
            let first = try SyscallRecorder(proc: proc, follow: types, pool: pool)
            let objects = ObjectIdentifier(first.objects)
            first.close()
            #expect(pool.count == 1, "kept")
            let second = try SyscallRecorder(proc: proc, follow: types, pool: pool)
            #expect(ObjectIdentifier(second.objects) == objects, "taken again, not loaded again")
            #expect(pool.count == 0)
            let third = try SyscallRecorder(proc: proc, follow: types, pool: pool)
            #expect(ObjectIdentifier(third.objects) != objects, "two at once: two sets")
            second.close()
            third.close()
            #expect(pool.count == 2)
            let ptrace = try SyscallRecorder(proc: proc, pool: pool)
            ptrace.close()
            #expect(pool.count == 2, "a task map's objects are not kept")
        }

        @Test("following: a trace after one killed in the middle of its calls records its own calls only, all of them")
        func afterKilledTrace() throws {
            let work = try Harness.workDirectory("after-killed")
            defer { try? FileManager.default.removeItem(at: work) }
            var configuration = SandboxConfiguration()
            configuration.binds = [.init(source: RawPath(work.path), target: RawPath(work.path), readOnly: false)]
            func trace(_ script: String, timeout: Duration? = nil) throws -> TraceOutcome {
                var request = TraceRequest(
                    program: RawPath("/bin/sh"), arguments: ["/bin/sh", "-c", script].map(RawPath.init),
                    environment: Harness.environment(), workingDirectory: RawPath(work.path), sandbox: configuration)
                request.followsInKernel = true
                return try TraceSession(request: request).run(timeout: timeout)
            }
            // Tasks killed inside their calls, a pipe of them at a time.
            let killed = try trace(
                "while :; do cat /etc/hostname | cat >/dev/null; test -e killed-probe; done", timeout: .milliseconds(400))
            #expect(killed.termination == .timedOut)
            let script = "cat /etc/hostname >/dev/null; test -e after-probe; exit 3"
            let after = try trace(script)
            let again = try trace(script)
            let summary = { (outcome: TraceOutcome) in
                outcome.accesses.map { "\($0.syscall) \($0.path) \($0.result)" }.sorted()
            }
            #expect(after.exitStatus == 3)
            #expect(summary(after).contains { $0.hasSuffix("/after-probe ENOENT") })
            #expect(!summary(after).contains { $0.contains("killed-probe") }, "nothing of the killed trace")
            #expect(summary(after) == summary(again))
            #expect(after.processes.count == again.processes.count)
            #expect(after.statistics.lostRecordedCalls == 0)
            if RecorderSupport.available && ListenerSupport.available && KernelTypes.running != nil {
                #expect(after.statistics.mode.contains("following"), "\(after.statistics.mode)")
                #expect(after.statistics.recordedCalls > 0)
            }
        }

        /// The bbswitch regression (`develtrace check`, 315 s): once no task
        /// used the filter (the traced tasks gone, the sandbox's init still
        /// winding down), every receive failed at once with ENOENT and the
        /// listener's threads looped on it, each spin running the recorder's
        /// programs too.
        @Test("a listener whose filter no task uses any more hangs up: the receive says so and the loop stops")
        func hungUp() throws {
            let listener = dt_listener_of_ended_child()
            try #require(listener >= 0, "no listener: errno \(errno)")
            defer { close(listener) }
            let proc = try FileDescriptor.open("/proc", .readOnly, options: [.directory, .closeOnExec])
            defer { try? proc.close() }
            let root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { close(root) }
            let loop = ListenerLoop(
                listener: listener, filter: try SeccompFilter.listening.get(), shared: TraceShared(), proc: proc, root: root)
            var observed = 0
            #expect(!loop.serveOne { _ in observed += 1 })
            #expect(loop.hungUp)
            #expect(observed == 0 && loop.notifications == 0)
        }
    }
}
