import Foundation
import Testing

@testable import DeveltraceKit

/// Where `Escape.binary` put its copy (removed at exit).
nonisolated(unsafe) private var escapeBinDirectory = ""

extension Machine {
    /// Hostile commands, run with `develtrace trace` as root and as an
    /// ordinary user: each tries to leave a marker in a host directory the
    /// sandbox must not reach, or to write a read-only tree, and the host
    /// directory must stay empty and the tree byte-identical. Each way to
    /// reach a file unseen must be traced or refused.
    @Suite(.serialized) struct Escape {
        enum Mode: String, CaseIterable, CustomTestStringConvertible {
            case root, rootless
            var testDescription: String { rawValue }
        }

        /// The identity the rootless runs take when the tests run as root: an
        /// id no account uses. Run by an ordinary user, the tests are rootless
        /// as they are, and the root cases are left out.
        static let rootlessID: UInt32 = 64_123

        static var modes: [Mode] { geteuid() == 0 ? Mode.allCases : [.rootless] }

        /// A run's directories under /tmp: `work` (the command's working
        /// directory), `host` (where markers must not appear), `tree` (a
        /// read-only input); all owned by the user the mode runs as.
        struct Place {
            var base: URL
            var work: URL { base.appendingPathComponent("work") }
            var host: URL { base.appendingPathComponent("host") }
            var tree: URL { base.appendingPathComponent("tree") }
        }

        static func place(_ mode: Mode) throws -> Place {
            let base = URL(fileURLWithPath: "/tmp/develtrace-escape-\(UUID().uuidString.prefix(8))")
            let place = Place(base: base)
            for directory in [place.work, place.host, place.tree] {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            try "original\n".write(to: place.tree.appendingPathComponent("file"), atomically: true, encoding: .utf8)
            if mode == .rootless && geteuid() == 0 {
                for path in [base.path, place.work.path, place.host.path, place.tree.path, place.tree.appendingPathComponent("file").path] {
                    #expect(chown(path, rootlessID, rootlessID) == 0)
                }
            }
            return place
        }

        /// The develtrace binary where an ordinary user can run it: a fresh
        /// directory of this run's (never a fixed name in /tmp, which another
        /// user could have made first), removed when the tests exit.
        static let binary: String = {
            var template = Array("/tmp/develtrace-escape-bin.XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            #expect(made != nil, "mkdtemp in /tmp")
            let directory = String(cString: template)
            escapeBinDirectory = directory
            atexit { if !escapeBinDirectory.isEmpty { try? FileManager.default.removeItem(atPath: escapeBinDirectory) } }
            chmod(directory, 0o755)
            let target = directory + "/develtrace"
            try? FileManager.default.removeItem(atPath: target)
            try? FileManager.default.copyItem(atPath: CommandLine.executable, toPath: target)
            chmod(target, 0o755)
            return target
        }()

        struct Run {
            var status: Int32
            var output: String
            var error: String
            /// "syscall path result" for every access of the trace.
            var accesses: [String]
        }

        /// `develtrace trace OPTIONS -- COMMAND` in `place.work`, as `mode`.
        static func trace(
            _ mode: Mode, _ place: Place, options: [String] = [], environment: [String: String] = [:], _ command: [String]
        ) throws -> Run {
            let traceFile = place.base.appendingPathComponent("trace.jsonl").path
            var arguments = [binary, "trace", "--format", "jsonl", "--output", traceFile] + options + ["--"] + command
            if mode == .rootless && geteuid() == 0 {
                arguments = ["/usr/bin/setpriv", "--reuid=\(rootlessID)", "--regid=\(rootlessID)", "--clear-groups"] + arguments
            }
            let run = try Harness.capture(
                arguments, in: place.work,
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"].merging(environment) { $1 })
            var accesses: [String] = []
            for line in (try? Data(contentsOf: URL(fileURLWithPath: traceFile)))?.split(separator: 10) ?? [] {
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any], object["kind"] as? String == "access"
                else { continue }
                accesses.append("\(object["syscall"] ?? "") \(object["path"] ?? "") \(object["result"] ?? "")")
            }
            return Run(status: run.status, output: String(decoding: run.stdout, as: UTF8.self), error: run.stderr, accesses: accesses)
        }

        static func expectUntouched(_ place: Place, _ run: Run, sourceLocation: SourceLocation = #_sourceLocation) {
            let markers = (try? FileManager.default.contentsOfDirectory(atPath: place.host.path)) ?? ["unreadable"]
            #expect(markers.isEmpty, "markers on the host: \(markers)\n\(run.output)\(run.error)", sourceLocation: sourceLocation)
            let tree = (try? FileManager.default.contentsOfDirectory(atPath: place.tree.path)) ?? []
            #expect(tree == ["file"], "the read-only tree holds \(tree)", sourceLocation: sourceLocation)
            let content = try? String(contentsOf: place.tree.appendingPathComponent("file"), encoding: .utf8)
            #expect(content == "original\n", sourceLocation: sourceLocation)
        }

        @Test("descriptors: nothing inherited leads to the host's /proc", arguments: Self.modes)
        func descriptors(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            // Through any descriptor of any process it can see, try the
            // host's PID 1 root and the descriptor itself as a directory.
            let script = """
                ls /proc/self/fd | tr '\\n' ' '; echo
                for d in /proc/[0-9]*/fd/* /proc/[0-9]*/cwd /proc/[0-9]*/root; do
                  touch "$d/1/root\(place.host.path)/M-proc" "$d\(place.host.path)/M-fd" 2>/dev/null
                done
                true
                """
            let run = try Self.trace(mode, place, ["/bin/sh", "-c", script])
            #expect(run.status == 0, "\(run.error)")
            // ls itself opens one directory: 0, 1, 2 and that one.
            #expect(run.output.split(separator: "\n").first.map { $0.split(separator: " ").count } == 4, "\(run.output)")
            Self.expectUntouched(place, run)
        }

        @Test("a read-only bind cannot be remounted writable", arguments: Self.modes)
        func remount(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            let script = """
                mount -o remount,bind,rw /srv/tree; echo "mount $?"
                echo M > /srv/tree/M; echo changed >> /srv/tree/file
                unshare -rm sh -c 'mount -o remount,bind,rw /srv/tree; echo M > /srv/tree/M2'
                true
                """
            let run = try Self.trace(mode, place, options: ["--bind", "\(place.tree.path):/srv/tree"], ["/bin/sh", "-c", script])
            #expect(run.status == 0, "\(run.error)")
            #expect(run.output.contains("mount 32"), "mount(8) failed: \(run.output)")
            #expect(run.accesses.contains { $0.hasPrefix("mount /srv/tree EPERM") }, "the remount is traced and refused")
            #expect(run.accesses.contains { $0.hasPrefix("open /srv/tree/M EROFS") || $0.hasPrefix("openat /srv/tree/M EROFS") })
            Self.expectUntouched(place, run)
        }

        @Test("its own /dev, /proc and root: no host /dev, /run, /home or /root", arguments: Self.modes)
        func ownFileSystems(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            let marker = "develtrace-escape-\(UUID().uuidString.prefix(8))"
            let script = """
                touch /dev/\(marker)
                echo x > /proc/sys/kernel/hostname; echo "sysctl $?"
                ls -A /run | wc -l; test -e /home || echo "no home"; test -e /root || echo "no root"
                grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status
                cat /proc/self/uid_map
                grep 'Max processes' /proc/self/limits
                """
            let run = try Self.trace(mode, place, ["/bin/sh", "-c", script])
            #expect(run.status == 0, "\(run.error)")
            #expect(!FileManager.default.fileExists(atPath: "/dev/\(marker)"))
            #expect(run.output.contains("sysctl ") && !run.output.contains("sysctl 0"), "\(run.output)")
            let lines = run.output.split(separator: "\n").map {
                $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            }
            #expect(lines.contains("0"), "/run is empty")
            #expect(lines.contains("no home") && lines.contains("no root"))
            #expect(lines.contains("CapEff: 0000000000000000") && lines.contains("CapBnd: 0000000000000000"))
            #expect(lines.contains("NoNewPrivs: 1"))
            let expectedMap = mode == .root ? "0 \(SandboxIdentity.defaultMappedID) 1" : "0 0 1"
            #expect(lines.contains(expectedMap), "uid_map: \(run.output)")
            let limit = TraceRequest.defaultMaxProcesses
            #expect(lines.contains("Max processes \(limit) \(limit) processes"), "RLIMIT_NPROC: \(run.output)")
            Self.expectUntouched(place, run)
        }

        @Test("a process limit stops a fork bomb", arguments: Self.modes)
        func processLimit(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            // 100 sleepers at most, each ending within 2 s; the limit (40
            // for the identity) stops the rest from starting.
            let script = "i=0; while [ $i -lt 100 ]; do sleep 2 & i=$((i+1)); done 2>/dev/null; echo started; wait"
            let run = try Self.trace(mode, place, environment: ["DEVELTRACE_MAX_PROCESSES": "40"], ["/bin/sh", "-c", script])
            let sleepers = run.accesses.filter { $0.hasPrefix("execve /usr/bin/sleep ok") || $0.hasPrefix("execve /bin/sleep ok") }
            #expect(!sleepers.isEmpty && sleepers.count < 100, "\(sleepers.count) sleepers ran; \(run.error)")
        }

        @Test("every bypass of the trace is traced or refused", arguments: Self.modes)
        func bypasses(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            let program = try Harness.fixtureProgram("bypass")
            let copy = place.base.appendingPathComponent("bypass")
            try FileManager.default.copyItem(atPath: program, toPath: copy.path)
            let target = place.work.appendingPathComponent("target")
            try "data\n".write(to: target, atomically: true, encoding: .utf8)
            if mode == .rootless && geteuid() == 0 { chown(target.path, Self.rootlessID, Self.rootlessID) }
            let run = try Self.trace(mode, place, [copy.path, target.path])
            #expect(run.status == 0, "\(run.error)")
            var results: [String: String] = [:]
            for line in run.output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2 { results[String(parts[0])] = String(parts[1]) }
            }
            let refusals = [
                "io_uring_setup": "ENOSYS", "name_to_handle_at": "EPERM", "open_by_handle_at": "EPERM", "clone_untraced": "EPERM",
                "clone_newuser": "EPERM", "unshare_newns": "EPERM", "unshare_newpid": "EPERM", "clone_newpid": "EPERM", "clone3": "ENOSYS",
                "getxattrat": "ENOSYS",
                "file_getattr": "ENOSYS", "x32_open": "ENOSYS",
            ]
            for (name, errno) in refusals {
                #expect(results[name] == errno, "\(name): \(results[name] ?? "not run")")
            }
            // What was refused never read the target: the only opens of it are traced.
            let reads = run.accesses.filter { $0.contains(" \(target.path) ") && !$0.hasPrefix("execve") }
            #expect(reads.allSatisfy { !$0.hasSuffix("ok") || $0.hasPrefix("open") || $0.hasPrefix("stat") || $0.hasPrefix("newfstatat") })
        }

        @Test("inputs and the working directory under /tmp", arguments: Self.modes)
        func underTmp(mode: Mode) throws {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            let run = try Self.trace(
                mode, place, options: ["--bind", place.tree.path], ["/bin/sh", "-c", "cat \(place.tree.path)/file && pwd && echo x > out"])
            #expect(run.status == 0, "\(run.error)")
            #expect(run.output == "original\n\(place.work.path)\n")
            #expect(!FileManager.default.fileExists(atPath: place.work.appendingPathComponent("out").path), "writes stay in the sandbox")
            Self.expectUntouched(place, run)
        }
    }
}

extension Machine.Escape {
    @Test("dkms.conf is sourced only in the sandbox, under the time limit", .enabled(if: geteuid() == 0))
    func dkmsConf() throws {
        let place = try Self.place(.root)
        defer { try? FileManager.default.removeItem(at: place.base) }
        let sample = place.work.appendingPathComponent("hostile-dkms")
        try FileManager.default.createDirectory(at: sample, withIntermediateDirectories: true)
        try "obj-m := hello.o\n".write(to: sample.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
        // Top level of dkms.conf: a marker on the host, if it ran there.
        try "touch \(place.host.path)/M-dkms 2>/dev/null\nPACKAGE_NAME=hostile\nPACKAGE_VERSION=1\n".write(
            to: sample.appendingPathComponent("dkms.conf"), atomically: true, encoding: .utf8)
        let candidate = try MiniKernel.candidate("escape-dkms", "")
        var run = try Machine.CommandLine.run(
            ["check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", sample.path], in: place.work)
        #expect(![2, 4].contains(run.status), "the sample's name and version were learnt: \(run.stderr)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: place.host.path)) == [], "dkms.conf ran on the host")

        // One that never ends: stopped by --timeout, exit 2 naming it.
        try "PACKAGE_NAME=hostile\nPACKAGE_VERSION=1\nsleep 30\n".write(
            to: sample.appendingPathComponent("dkms.conf"), atomically: true, encoding: .utf8)
        run = try Machine.CommandLine.run(
            ["check", "--build-tree", MiniKernel.tree.path, "--candidate", candidate.path, "--module", sample.path, "--timeout", "2"],
            in: place.work)
        #expect(run.status == 2, "\(run.stderr)")
        #expect(
            run.stderr.contains("hostile-dkms/dkms.conf does not evaluate: sourcing it took longer than the time limit"), "\(run.stderr)")
    }
}

extension Machine.Escape {
    @Test("a compile makes the same accesses and stops, root and rootless", .enabled(if: geteuid() == 0))
    func sameStops() throws {
        var counters: [Mode: [String: String]] = [:]
        for mode in Mode.allCases {
            let place = try Self.place(mode)
            defer { try? FileManager.default.removeItem(at: place.base) }
            let source = place.work.appendingPathComponent("main.c")
            try "#include <stdio.h>\nint main(void) { puts(\"x\"); return 0; }\n".write(to: source, atomically: true, encoding: .utf8)
            if mode == .rootless && geteuid() == 0 { chown(source.path, Self.rootlessID, Self.rootlessID) }
            let stats = place.base.appendingPathComponent("stats").path
            // The same watching both ways (a rootless run has no in-kernel
            // recorder): the sandbox is what is compared.
            let run = try Self.trace(
                mode, place, options: ["--stats", stats, "--no-recorder"], ["/usr/bin/gcc", "-c", "main.c", "-o", "main.o"])
            #expect(run.status == 0, "\(run.error)")
            let text = try String(contentsOfFile: stats, encoding: .utf8)
            counters[mode] = Dictionary(
                text.split(separator: "\n").compactMap { line -> (String, String)? in
                    let parts = line.split(separator: " ")
                    return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
                }, uniquingKeysWith: { $1 })
        }
        for key in ["accesses", "seccomp_stops", "syscall_exit_stops"] {
            #expect(counters[.root]?[key] != nil && counters[.root]?[key] == counters[.rootless]?[key], "\(key): \(counters)")
        }
    }
}

extension Machine.Escape {
    @Test("without user namespaces: exit 2 naming the setting, before anything runs", .enabled(if: geteuid() == 0))
    func noUserNamespaces() throws {
        let place = try Self.place(.rootless)
        defer { try? FileManager.default.removeItem(at: place.base) }
        // An ordinary user in a user namespace of its own whose limit of
        // nested namespaces is 0 (the host's setting stays as it is).
        let id = Self.rootlessID
        let script = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" trace --output /dev/null -- /bin/sh -c 'touch M'"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=\(id)", "--regid=\(id)", "--clear-groups", "/usr/bin/unshare", "--user", "--map-root-user", "/bin/sh", "-c", script,
            Self.binary,
        ]
        process.currentDirectoryURL = place.work
        let err = Pipe()
        process.standardError = err
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 2, "\(stderr)")
        #expect(stderr.contains("user.max_user_namespaces"), "\(stderr)")
        #expect(stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: place.work.appendingPathComponent("M").path), "nothing ran")
    }
}

extension Machine.Escape {
    @Test(
        "as root, a user's directory is writable inside as the user's would be: through an overlay or a writable bind",
        .enabled(if: geteuid() == 0))
    func userOwnedInputsAsRoot() throws {
        let place = try Self.place(.rootless) // owned by the ordinary user
        defer { try? FileManager.default.removeItem(at: place.base) }
        let tree = place.tree.path
        let script = "echo more >> /srv/overlay/file && touch /srv/overlay/new && echo more >> /srv/bind/file && touch /srv/bind/new"
        let run = try Self.trace(
            .root, place, options: ["--overlay", "\(tree):/srv/overlay", "--bind-rw", "\(place.host.path):/srv/bind"],
            ["/bin/sh", "-c", "echo original > /srv/bind/file && \(script)"])
        #expect(run.status == 0, "\(run.error)")
        // The overlay kept the tree as it was; the writable bind wrote through, as the user.
        #expect(try String(contentsOfFile: tree + "/file", encoding: .utf8) == "original\n")
        #expect(try String(contentsOfFile: place.host.path + "/file", encoding: .utf8) == "original\nmore\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: place.host.path + "/new")
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == Self.rootlessID, "written as the directory's owner")
    }
}
