import Testing

@testable import DeveltraceKit

extension Unit {
    /// The cross-check's reference is its parse of strace's output: the
    /// parser must not lose a call strace printed in one of its forms.
    @Suite struct StraceLogParsing {
        /// `/bin/cat` as `-xx` prints it.
        static let cat = #""\x2f\x62\x69\x6e\x2f\x63\x61\x74""#

        /// An exec from a thread other than the leader, in the forms strace
        /// 5.10 prints it (the first two seen in the `multi` fixture's runs;
        /// the third and the last are what would lose the exec that CI lost
        /// under load):
        /// the thread's unfinished call resumes under the leader's pid.
        @Test(
            "an exec by a second thread resumes under the leader's pid: superseded, or pid changed",
            arguments: [
                """
                1197 execve(\(cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 <... futex resumed>)              = ?
                1196 +++ superseded by execve in pid 1197 +++
                1196 <... execve resumed>)             = 0
                """,
                """
                1197 execve(\(cat), [], 0x7ffd /* 35 vars */ <pid changed to 1196 ...>
                1196 <... execve resumed>)             = 0
                """,
                // The leader's own call still unfinished when the exec resumes
                // under its pid, with no line between.
                """
                1196 futex(0x7f12, FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, 1197, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
                1197 execve(\(cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 <... execve resumed>)             = 0
                """,
                // Seen once in about 470 runs beside four busy loops: the leader's
                // clone3 (of the very thread that execs) resumes as lost.
                """
                1196 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0} <unfinished ...>
                1197 execve(\(cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 <... clone3 resumed> <unfinished ...>) = ?
                1196 +++ superseded by execve in pid 1197 +++
                1196 <... execve resumed>)             = 0
                """,
                // The same with the leader's clone3 resuming after the
                // superseded line: the leader holds two unfinished calls.
                """
                1196 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0} <unfinished ...>
                1197 execve(\(cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 +++ superseded by execve in pid 1197 +++
                1196 <... clone3 resumed> <unfinished ...>) = ?
                1196 <... execve resumed>)             = 0
                """,
            ])
        func execFromThread(_ text: String) {
            let log = StraceLog(text: Array(text.utf8), initialDirectory: RawPath("/w"))
            #expect(log.accesses == [StraceLog.Access(syscall: "execve", path: RawPath("/bin/cat"), result: "ok")])
        }

        @Test("a failed comparison shows strace's lines of the differing calls and of a thread's exec")
        func linesAbout() {
            let text = """
                1196 openat(AT_FDCWD, \(Self.cat), O_RDONLY) = 3
                1197 execve(\(Self.cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 +++ superseded by execve in pid 1197 +++
                1196 <... execve resumed>)             = 0
                1196 execveat(3, "", [], 0x7ffd /* 35 vars */, AT_EMPTY_PATH) = 0
                """
            let log = StraceLog(text: Array(text.utf8), initialDirectory: RawPath("/w"))
            let lines = log.lines(about: ["execve"])
            #expect(lines.count == 3)
            #expect(lines.allSatisfy { !$0.contains("openat") && !$0.contains("execveat") })
            #expect(log.lines(about: ["openat"]).count == 2, "the openat and the superseded line")
        }

        @Test("an unfinished call of another pid does not resume under the leader")
        func unrelatedUnfinished() {
            let text = """
                1197 execve(\(Self.cat), [], 0x7ffd /* 35 vars */ <unfinished ...>
                1196 +++ superseded by execve in pid 1198 +++
                1196 <... execve resumed>)             = 0
                """
            let log = StraceLog(text: Array(text.utf8), initialDirectory: RawPath("/w"))
            #expect(log.accesses.isEmpty)
        }
    }
}
