import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Machine {
    /// Exit statuses pass through; nothing outlives a run, however it ends.
    @Suite struct Lifecycle {
        @Test(
            "the command's exit status passes through",
            arguments: [
                (["/bin/sh", "-c", "exit 0"], Int32(0)),
                (["/bin/sh", "-c", "exit 1"], Int32(1)),
                (["/nonexistent/program"], Int32(127)),
                (["/bin/sh", "-c", "kill -9 $$"], Int32(128 + 9)),
            ])
        func exitStatus(command: [String], expected: Int32) throws {
            let work = try Harness.workDirectory("exit")
            defer { try? FileManager.default.removeItem(at: work) }
            for sandbox in [nil, SandboxConfiguration()] {
                let outcome = try Harness.trace(command, in: work, sandbox: sandbox)
                #expect(outcome.exitStatus == expected, "\(command) sandboxed: \(sandbox != nil)")
                #expect(outcome.termination == .completed)
                if expected == 127 {
                    #expect(outcome.launchFailure?.contains("No such file or directory") == true)
                    #expect(outcome.accesses.contains { $0.syscall == "execve" && $0.result.description == "ENOENT" })
                }
            }
        }

        /// Regression: a failed `dup2` of the command's descriptors was
        /// reported as "cannot change to the working directory".
        @Test("a descriptor the command cannot get is named as such, not as a working-directory failure")
        func standardOutputThatIsNotOpen() throws {
            let work = try Harness.workDirectory("stdio")
            defer { try? FileManager.default.removeItem(at: work) }
            // A descriptor number nothing has open: dup2 fails with EBADF.
            let closed: Int32 = 1000
            #expect(fcntl(closed, F_GETFD) == -1)
            for sandbox in [nil, SandboxConfiguration()] {
                let request = TraceRequest(
                    program: RawPath("/bin/true"), arguments: [RawPath("/bin/true")], environment: [],
                    workingDirectory: RawPath(work.path), sandbox: sandbox, standardOutput: closed)
                let outcome = try TraceSession(request: request).run(timeout: .seconds(60))
                #expect(outcome.exitStatus != 0)
                #expect(
                    outcome.launchFailure == "cannot set up the command's descriptor 1: \(Errno.badFileDescriptor)",
                    "sandboxed: \(sandbox != nil)")
            }
        }

        @Test("a tracee that forks 500 short-lived processes")
        func manyForks() throws {
            let program = try Harness.fixtureProgram("forks")
            let work = try Harness.workDirectory("forks")
            defer { try? FileManager.default.removeItem(at: work) }
            let outcome = try Harness.trace([program, "500"], in: work, sandbox: SandboxConfiguration())
            #expect(outcome.exitStatus == 0)
            let children = outcome.processes.values.filter { $0.parent == outcome.commandPid }
            #expect(children.count == 500)
            #expect(children.filter { $0.exitStatus == 3 }.count == 500 / 7 + (500 % 7 > 3 ? 1 : 0))
            let stats = outcome.accesses.filter { $0.path == RawPath("/etc/hostname") && $0.result == .ok }
            #expect(stats.count == 500)
            #expect(Set(stats.map(\.process)).count == 500)
        }

        @Test("a hanging tracee is stopped by the timeout, with nothing left behind")
        func timeout() throws {
            let work = try Harness.workDirectory("timeout")
            defer { try? FileManager.default.removeItem(at: work) }
            let marker = "develtrace-timeout-\(UInt32.random(in: 0...UInt32.max))"
            let scratchBefore = Harness.scratchDirectories()
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = try Harness.trace(
                ["/bin/sh", "-c", "sleep 1000 & sleep 1000; wait", marker], in: work, sandbox: SandboxConfiguration(),
                timeout: .seconds(1))
            #expect(outcome.termination == .timedOut)
            #expect(clock.now - started < .seconds(60), "the run ended long before the sleeps would")
            #expect(outcome.accesses.contains { $0.syscall == "execve" && $0.path.description.hasSuffix("/sleep") })
            #expect(Harness.processes(containing: marker).isEmpty, "no process of the run is left")
            #expect(Harness.processes(containing: "sleep 1000").isEmpty)
            #expect(Harness.develtraceMounts().isEmpty, "no mount is left")
            #expect(Harness.scratchDirectories().subtracting(scratchBefore).isEmpty, "no scratch directory is left")
        }

        /// `develtrace trace` of an endless shell loop tagged with `marker`,
        /// returned once the loop runs inside the sandbox (develtrace's own
        /// argv has the marker too, so two processes must show it).
        static func startEndlessTrace(marker: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: develtrace)
            process.arguments = ["trace", "--output", "/dev/null", "--", "/bin/sh", "-c", "while :; do sleep 1; done", marker]
            try process.run()
            waitUntil { Harness.processes(containing: marker).count >= 2 }
            #expect(Harness.processes(containing: marker).count >= 2, "the command started")
            return process
        }

        static var develtrace: String { Harness.packageRoot.appendingPathComponent(".build/debug/develtrace").path }

        /// Polls `condition` every 50 ms for at most 30 s: a develtrace that
        /// misbehaves fails the test instead of hanging it.
        static func waitUntil(_ condition: () -> Bool) {
            var waited = 0
            while !condition() && waited < 600 {
                usleep(50_000)
                waited += 1
            }
        }

        @Test("SIGINT to develtrace mid-build tears the sandbox down")
        func interrupt() throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.develtrace), "swift build first")
            let marker = "develtrace-sigint-\(UInt32.random(in: 0...UInt32.max))"
            let scratchBefore = Harness.scratchDirectories()
            let process = try Self.startEndlessTrace(marker: marker)
            kill(process.processIdentifier, SIGINT)
            Self.waitUntil { !process.isRunning }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 130)
            #expect(Harness.processes(containing: marker).isEmpty, "no process of the run is left")
            #expect(Harness.develtraceMounts().isEmpty, "no mount is left")
            #expect(Harness.scratchDirectories().subtracting(scratchBefore).isEmpty, "no scratch directory is left")
        }

        @Test("SIGKILL to develtrace: the sandbox dies with it, and the next run removes its scratch directory")
        func killed() throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.develtrace), "swift build first")
            let marker = "develtrace-sigkill-\(UInt32.random(in: 0...UInt32.max))"
            let scratchBefore = Harness.scratchDirectories()
            let process = try Self.startEndlessTrace(marker: marker)
            let left = Harness.scratchDirectories().subtracting(scratchBefore)
            #expect(left.count == 1, "the run has its scratch directory")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Self.waitUntil { Harness.processes(containing: marker).isEmpty }
            #expect(Harness.processes(containing: marker).isEmpty, "no process of the run is left")
            #expect(Harness.develtraceMounts().isEmpty, "no mount is left")
            #expect(Harness.scratchDirectories().isSuperset(of: left), "SIGKILL leaves the directory behind")

            let next = Process()
            next.executableURL = URL(fileURLWithPath: Self.develtrace)
            next.arguments = ["trace", "--output", "/dev/null", "--", "/bin/true"]
            try next.run()
            next.waitUntilExit()
            #expect(next.terminationStatus == 0)
            #expect(Harness.scratchDirectories().intersection(left).isEmpty, "the next run removed it")
        }
    }
}
