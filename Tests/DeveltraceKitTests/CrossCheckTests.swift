import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// develtrace's record of path system calls equals real `strace -f`'s:
    /// the same multiset of (syscall, absolute path, ok/errno) on the same
    /// commands, with read-only calls answered by the seccomp listener and
    /// with every call stopped for ptrace (`Harness.Watch`: as a run has it, with a thread per CPU, ptrace only).
    @Suite struct CrossCheck {
        @Test("gcc with many headers and several -I directories", arguments: [false, true], Harness.Watch.allCases)
        func gccCompile(sandboxed: Bool, watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("gcc")
            defer { try? FileManager.default.removeItem(at: work) }
            for directory in ["inc1", "inc2/sys", "inc3"] {
                try FileManager.default.createDirectory(at: work.appendingPathComponent(directory), withIntermediateDirectories: true)
            }
            try "#define ONE 1\n".write(to: work.appendingPathComponent("inc3/one.h"), atomically: true, encoding: .utf8)
            try "#include <one.h>\n#define TWO (ONE+1)\n".write(
                to: work.appendingPathComponent("inc2/sys/two.h"), atomically: true, encoding: .utf8)
            try """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <errno.h>
            #include <unistd.h>
            #include <sys/two.h>
            #include "one.h"
            int main(void) { printf("%d %s\\n", TWO, strerror(ENOENT)); return 0; }

            """.write(to: work.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
            let command = ["/usr/bin/gcc", "-pipe", "-Iinc1", "-Iinc2", "-Iinc3", "-c", "main.c", "-o", "main.o"]
            let outcome = try Harness.trace(
                command, in: work, sandbox: sandboxed ? SandboxConfiguration() : nil, watch: watch)
            #expect(outcome.exitStatus == 0)
            #expect(outcome.accesses.contains { $0.path.description.hasSuffix("inc1/stdio.h") && $0.result.description == "ENOENT" })
            try? FileManager.default.removeItem(at: work.appendingPathComponent("main.o"))
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log)
        }

        @Test("make -C of a project with several directories", arguments: Harness.Watch.allCases)
        func makeProject(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("make")
            defer { try? FileManager.default.removeItem(at: work) }
            func create() throws {
                try? FileManager.default.removeItem(at: work.appendingPathComponent("project"))
                for sub in ["lib", "app", "include"] {
                    try FileManager.default.createDirectory(
                        at: work.appendingPathComponent("project/\(sub)"), withIntermediateDirectories: true)
                }
                try "int lib(void);\n".write(to: work.appendingPathComponent("project/include/lib.h"), atomically: true, encoding: .utf8)
                try "#include <lib.h>\nint lib(void) { return 7; }\n".write(
                    to: work.appendingPathComponent("project/lib/lib.c"), atomically: true, encoding: .utf8)
                try "#include <lib.h>\nint main(void) { return lib() - 7; }\n".write(
                    to: work.appendingPathComponent("project/app/main.c"), atomically: true, encoding: .utf8)
                try """
                CFLAGS := -pipe -I$(CURDIR)/include
                all: app/app
                lib/lib.o: lib/lib.c include/lib.h
                \t$(CC) $(CFLAGS) -c $< -o $@
                app/main.o: app/main.c include/lib.h
                \t$(CC) $(CFLAGS) -c $< -o $@
                app/app: app/main.o lib/lib.o
                \t$(CC) -o $@ $^
                \t$(MAKE) -C app check
                -include $(wildcard lib/*.d)

                """.write(to: work.appendingPathComponent("project/Makefile"), atomically: true, encoding: .utf8)
                try "check:\n\t./app && test -f ../lib/lib.o\n".write(
                    to: work.appendingPathComponent("project/app/Makefile"), atomically: true, encoding: .utf8)
            }
            let command = ["/usr/bin/make", "-C", "project"]
            try create()
            // On the host: the linker's temporary files under /tmp have random
            // names, so this cross-check runs without a sandbox and ignores them.
            let outcome = try Harness.trace(command, in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            try create()
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log) { access in
                access.path.description.hasPrefix("/tmp/cc")
            }
        }

        @Test("a shell script that changes directory and uses relative paths", arguments: Harness.Watch.allCases)
        func shellRelativePaths(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("shell")
            defer { try? FileManager.default.removeItem(at: work) }
            func create() throws {
                try? FileManager.default.removeItem(at: work.appendingPathComponent("a"))
                try FileManager.default.createDirectory(at: work.appendingPathComponent("a/b"), withIntermediateDirectories: true)
                try "x\n".write(to: work.appendingPathComponent("a/file"), atomically: true, encoding: .utf8)
                // Relative paths that leave the working directory, through
                // `..` or a symlink: the tracer looks them up from the root.
                try FileManager.default.createSymbolicLink(
                    atPath: work.appendingPathComponent("a/b/absolute").path, withDestinationPath: work.path + "/a/file")
                try FileManager.default.createSymbolicLink(
                    atPath: work.appendingPathComponent("a/b/up").path, withDestinationPath: "../file")
                try FileManager.default.createSymbolicLink(
                    atPath: work.appendingPathComponent("a/b/dangling").path, withDestinationPath: "/nonexistent/file")
            }
            try create()
            let script = """
                cd a/b
                cat ../file > /dev/null
                test -e ../../a/missing || true
                cat absolute up > /dev/null
                test -e dangling || test -e ./b/../../b/../b/../gone || true
                stat -c %s ./../b/../file absolute/x > /dev/null 2>&1
                cd ..
                ls ./b ./nope > /dev/null 2>&1
                (cd b && cat ../file ./gone 2>/dev/null)
                [ -d ../a ] && readlink -f ./file > /dev/null
                mkdir d && cd d && rmdir ../d && mkdir ../d
                cat x 2>/dev/null; stat . ../d > /dev/null
                (cd ../d && touch y && cat y ./../d/y > /dev/null)
                exit 0
                """
            let command = ["/bin/sh", "-c", script]
            let outcome = try Harness.trace(command, in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            #expect(outcome.accesses.contains { $0.path.description == work.path + "/a/b/gone" && $0.result.description == "ENOENT" })
            try create()
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log)
        }

        /// The same lookups again and again around every kind of change:
        /// the lookup cache (`LookupCache`) must give what the kernel gives
        /// after each one. A change it missed shows as a stale result here.
        @Test("repeated lookups around creations, removals, renames, symlinks, chmod and fchmod", arguments: Harness.Watch.allCases)
        func lookupsAroundChanges(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("changes")
            defer { try? FileManager.default.removeItem(at: work) }
            func clean() throws {
                for name in ["a", "b", "c"] { try? FileManager.default.removeItem(at: work.appendingPathComponent(name)) }
            }
            let script = """
                twice() { for i in 1 2 3; do "$@" || true; done; }
                twice test -e a
                : > a
                twice test -e a
                rm a
                twice test -e a/x
                : > a
                twice test -e a/x
                rm a; mkdir a
                twice test -e a/x
                : > a/x
                twice test -e a/x
                mv a b
                twice test -e a/x; twice test -e b/x
                ln -s b c
                twice test -e c/x
                rm b/x
                twice test -e c/x; twice test -e b/x
                : > b/y; chmod 0 b/y
                twice test -x b/y
                chmod 755 b/y
                twice test -x b/y
                perl -e 'open(my $f, "<", "b/y") or die; chmod(0644, $f) or die'
                twice test -x b/y
                cd b
                twice test -e y; twice test -e ../b/y; twice test -e ../c/y
                mkdir d d/e && rmdir d/e
                twice test -d d/e; twice test -d d
                exit 0
                """
            let command = ["/bin/sh", "-c", script]
            try clean()
            let outcome = try Harness.trace(command, in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            let results = outcome.accesses.filter { $0.path.description == work.path + "/b/y" && $0.syscall.hasPrefix("facc") }
            #expect(results.map(\.result.description) == ["EACCES", "EACCES", "EACCES", "ok", "ok", "ok", "EACCES", "EACCES", "EACCES"])
            try clean()
            let log = try Harness.strace(command, in: work)
            Harness.expectSameAccesses(outcome, log)
        }

        /// A long build wraps around `pid_max` (32768 on Debian 12's
        /// default): openafs's configure runs tens of thousands of
        /// processes, and a pid's second process took over the first's
        /// record (its argv, its executable), so a host library the first
        /// loaded was counted as the second's, a candidate program's.
        @Test(
            "a pid used again is another process: its own record, argv and accesses",
            .enabled(if: geteuid() == 0, "the next pid is chosen through the host's /proc/sys/kernel/ns_last_pid"))
        func pidReuse() throws {
            let work = try Harness.workDirectory("pid-reuse")
            defer { try? FileManager.default.removeItem(at: work) }
            // Not sandboxed (the sandbox's own pid namespace would hide the
            // host's pids): the script asks for its first child's pid again.
            let script = """
                /bin/true first-of-its-pid & first=$!; wait $first
                for attempt in 1 2 3 4 5; do
                    echo $((first - 1)) > /proc/sys/kernel/ns_last_pid
                    /bin/sh -c 'test $$ = '$first' && exec /bin/echo second-of-its-pid' && break
                done
                """
            let outcome = try Harness.trace(["/bin/bash", "-c", script], in: work)
            #expect(outcome.exitStatus == 0)
            let first = try #require(outcome.processes.values.first { $0.argv.last == RawPath("first-of-its-pid") })
            let second = try #require(
                outcome.processes.values.first { $0.argv.last == RawPath("second-of-its-pid") }, "the pid came back within 5 tries")
            #expect(first.pid == second.pid && first.id != second.id)
            #expect(first.executable == RawPath("/bin/true") && second.executable == RawPath("/bin/echo"))
            let echo = try #require(outcome.accesses.first { $0.intent == .exec && $0.path == RawPath("/bin/echo") })
            #expect(echo.process == second.id)
            #expect(outcome.accesses.contains { $0.intent == .exec && $0.path == RawPath("/bin/true") && $0.process == first.id })
            // JSON Lines name the second by its id.
            let jsonl = String(decoding: TraceEncoder(format: .jsonl).encodeEnd(outcome), as: UTF8.self)
            #expect(jsonl.contains("\"pid\":\(second.pid),\"id\":\(second.id),"))
        }

        @Test("a path recorded again shares the first record's bytes (memory of long traces)", arguments: Harness.Watch.allCases)
        func internedPaths(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("interned")
            defer { try? FileManager.default.removeItem(at: work) }
            let outcome = try Harness.trace(
                ["/bin/bash", "-c", "for i in 1 2 3 4 5; do test -e /nonexistent-interned; done"], in: work, watch: watch)
            let same = outcome.accesses.filter { $0.path == RawPath("/nonexistent-interned") }
            #expect(same.count == 5)
            let buffers = Set(same.map { $0.path.bytes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } })
            let raws = Set(same.map { $0.rawPath.bytes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } })
            #expect(buffers.count == 1 && raws == buffers, "\(buffers.count) copies of one path")
        }

        @Test(
            "an exec's argv as given: 400 arguments over many pages, a 10 KB one across page ends, empty and non-UTF-8 ones; a script's; 80 KB of them",
            arguments: Harness.Watch.allCases)
        func longArgv(watch: Harness.Watch) throws {
            let work = try Harness.workDirectory("argv")
            defer { try? FileManager.default.removeItem(at: work) }
            var arguments: [RawPath] = (0..<400).map { RawPath("argument-\($0)-" + String(repeating: "x", count: $0 % 97)) }
            arguments[7] = RawPath(bytes: [])
            arguments[100] = RawPath(bytes: Array("bad-".utf8) + [0xFF, 0xFE, 0x80])
            arguments[200] = RawPath(String(repeating: "0123456789", count: 1024))
            arguments[201] = RawPath(bytes: [])
            // bash execs `true` with the arguments after its own.
            let command = [RawPath("/bin/bash"), RawPath("-c"), RawPath("exec /bin/true \"$@\""), RawPath("bash")] + arguments
            let outcome = try Harness.trace(raw: command, in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            let argv = outcome.processes.values.first { $0.argv.first == RawPath("/bin/true") }?.argv
            #expect(argv == [RawPath("/bin/true")] + arguments, "\(argv?.count ?? 0) arguments recorded")

            // A script's argv is the one its caller gave, not the
            // interpreter's; 2,000 arguments of 40 bytes are more than the
            // in-kernel recorder reads (64 KiB), and still recorded whole.
            let script = work.appendingPathComponent("script.sh")
            try "#!/bin/sh -e\n:\n".write(to: script, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
            let many = (0..<2000).map { RawPath(String(format: "many-%05d-", $0) + String(repeating: "y", count: 29)) }
            let second =
                [RawPath("/bin/bash"), RawPath("-c"), RawPath("./script.sh a 'b c' && ./missing; exec /bin/true \"$@\""), RawPath("bash")]
                + many
            let traced = try Harness.trace(raw: second, in: work, watch: watch)
            #expect(traced.exitStatus == 0)
            #expect(traced.processes.values.contains { $0.argv == [RawPath("./script.sh"), RawPath("a"), RawPath("b c")] })
            let long = traced.processes.values.first { $0.argv.first == RawPath("/bin/true") }?.argv
            #expect(long == [RawPath("/bin/true")] + many, "\(long?.count ?? 0) arguments recorded")
            let scriptPath = RawPath(script.path)
            #expect(traced.processes.values.contains { $0.executable == scriptPath })
            #expect(traced.accesses.contains { $0.syscall == "execve" && $0.path == scriptPath && $0.result == .ok })
            let missing = RawPath(work.appendingPathComponent("missing").path)
            #expect(
                traced.accesses.contains { $0.syscall == "execve" && $0.path == missing && $0.result == .failed(.noSuchFileOrDirectory) })
            if (watch == .recorder && ListenerSupport.available || watch == .recorderWithPtrace) && RecorderSupport.available {
                #expect(traced.statistics.seccompStops == 0, "an exec recorded in the kernel stops only at its exec event")
            }
        }

        @Test("threads, a real dirfd, openat2, execveat, vfork, posix_spawn and a non-UTF-8 name", arguments: Harness.Watch.allCases)
        func multiFixture(watch: Harness.Watch) throws {
            let program = try Harness.fixtureProgram("multi")
            let work = try Harness.workDirectory("multi")
            defer { try? FileManager.default.removeItem(at: work) }
            let outcome = try Harness.trace([program, work.path], in: work, watch: watch)
            #expect(outcome.exitStatus == 0)
            let badName = RawPath(bytes: Array(work.path.utf8) + Array("/bad-".utf8) + [0xFF, 0xFE] + Array("-name.h".utf8))
            #expect(outcome.accesses.contains { $0.path == badName && $0.intent == .create && $0.result == .ok })
            #expect(outcome.accesses.contains { $0.syscall == "openat2" && $0.result.description == "EXDEV" })
            #expect(outcome.accesses.contains { $0.syscall == "execveat" && $0.result == .ok })
            #expect(outcome.accesses.contains { $0.syscall == "execve" && $0.result.description == "ENOENT" })
            let threads = Set(outcome.accesses.filter { $0.path.description.hasSuffix(".missing") }.map(\.pid))
            #expect(threads.count == 4, "four threads traced")
            #expect(outcome.processes.values.contains { $0.argv.map(\.description) == ["cat", "renamed.out"] })
            let fromThread = RawPath(work.appendingPathComponent("from-a-thread.out").path)
            #expect(
                outcome.processes.values.contains { $0.argv.map(\.description) == ["cat", "from-a-thread.out"] },
                "the argv of an exec from a second thread")
            #expect(outcome.accesses.contains { $0.path == fromThread && $0.intent == .read && $0.result == .ok })
            #expect(outcome.accesses.contains { $0.syscall == "execve" && $0.path == RawPath("/bin/cat") && $0.result == .ok })

            try FileManager.default.removeItem(at: work)
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let log = try Harness.strace([program, work.path], in: work)
            Harness.expectSameAccesses(outcome, log)
        }
    }
}
