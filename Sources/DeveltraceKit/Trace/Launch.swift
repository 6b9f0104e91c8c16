import CDeveltrace
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The C-side plan for one spawn, and the pipes that talk to the children.
///
/// Everything the children need (strings, the op list, the BPF program) is
/// allocated here, before fork, and lives until the launch is done.
final class Launch {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var ops: UnsafeMutableBufferPointer<dt_op>
    private var argv: UnsafeMutableBufferPointer<UnsafeMutablePointer<CChar>?>
    private var envp: UnsafeMutableBufferPointer<UnsafeMutablePointer<CChar>?>
    private let filter: [UInt8]
    /// Whether the init is traced (`TraceRequest.traced`).
    private let traced: Bool
    /// The listening variant of the filter, tried first; empty: none.
    private let listeningFilter: [UInt8]
    /// The tracer's end of the socket the command sends its listener on.
    private(set) var listenerSocket: Int32 = -1
    private let steps: [MountStep]
    private var plan = dt_spawn_plan()
    private var statusRead: Int32 = -1
    private var goWrite: Int32 = -1
    private let programName: RawPath
    private let identity: SandboxIdentity?
    private let identityMaps: IdentityMaps?
    /// The user namespaces of the idmapped binds, one per host owner.
    private var idmapFDs: [Int32] = []
    /// Set by `launchFailure`: the command had to have the listener
    /// (`listenerRequired`) and the kernel gave it none.
    private(set) var listenerRefused = false

    /// `listenerRequired`: the command fails rather than fall back to
    /// `filter` when it cannot make a listener (nothing else follows it).
    /// `listeningPlainly`: `listening` notifies nothing and is loaded
    /// without a listener; the message on the socket says only whether it
    /// loaded (`PlainFilterConfirmation`).
    init(
        request: TraceRequest, plan sandbox: SandboxPlan?, filter: SeccompFilter, listening: SeccompFilter? = nil,
        listenerRequired: Bool = false, listeningPlainly: Bool = false
    ) throws {
        self.traced = request.traced
        self.filter = filter.program
        self.listeningFilter = listening?.program ?? []
        self.steps = sandbox?.steps ?? []
        self.programName = request.program
        self.identity = sandbox?.identity
        self.identityMaps = sandbox?.identityMaps
        ops = .allocate(capacity: max(steps.count, 1))
        argv = .allocate(capacity: request.arguments.count + 1)
        envp = .allocate(capacity: request.environment.count + 1)

        func copy(_ path: RawPath?) -> UnsafeMutablePointer<CChar>? {
            guard let path else { return nil }
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: path.bytes.count + 1)
            for (i, byte) in path.bytes.enumerated() { pointer[i] = CChar(bitPattern: byte) }
            pointer[path.bytes.count] = 0
            strings.append(pointer)
            return pointer
        }
        if getenv("DEVELTRACE_DEBUG_MOUNTS") != nil {
            for step in steps {
                FileHandle.standardError.write(Data("develtrace: sandbox step: \(step.summary) \(step.data ?? "")\n".utf8))
            }
        }
        for (i, step) in steps.enumerated() {
            var usernsFD: Int32 = -1
            if step.kind == .idmappedBind, case .rootMapped(let id) = sandbox?.identity {
                // Files of the source's owner show as the sandbox root's.
                let owner = step.idmapOwner ?? HostOwner(uid: 0, gid: 0)
                usernsFD = try IDMapNamespace.descriptor(owner: owner, sandboxID: id)
                if !idmapFDs.contains(usernsFD) { idmapFDs.append(usernsFD) }
            }
            ops[i] = dt_op(
                kind: step.kind.rawValue, source: copy(step.source), target: copy(step.target),
                fstype: copy(step.fileSystem.map(RawPath.init)), flags: step.flags, data: copy(step.data.map(RawPath.init)),
                userns_fd: usernsFD)
        }
        guard idmapFDs.count <= 16 else {
            throw SandboxError.launch("more than 16 owners of idmapped layers", Errno(rawValue: E2BIG))
        }
        for (i, argument) in request.arguments.enumerated() { argv[i] = copy(argument) }
        argv[request.arguments.count] = nil
        for (i, entry) in request.environment.enumerated() { envp[i] = copy(entry) }
        envp[request.environment.count] = nil

        let program = Self.resolve(request.program, environment: request.environment)
        plan.clone_flags = sandbox?.cloneFlags ?? 0
        plan.identity = Int32(DT_IDENTITY_HOST.rawValue)
        plan.idmap_count = Int32(idmapFDs.count)
        plan.max_processes = sandbox == nil ? 0 : request.maxProcesses
        switch sandbox?.identity {
        case .rootMapped:
            plan.identity = Int32(DT_IDENTITY_ROOT_MAPPED.rawValue)
        case .rootless:
            plan.identity = Int32(DT_IDENTITY_ROOTLESS.rawValue)
        case nil:
            break
        }
        plan.op_count = Int32(steps.count)
        plan.cwd = UnsafePointer(copy(request.workingDirectory))
        plan.path = UnsafePointer(copy(program))
        plan.cpu = Int32(request.cpu ?? -1)
        plan.stdio = (request.standardInput ?? -1, request.standardOutput ?? -1, request.standardError ?? -1)
        plan.filter_len = UInt16(filter.instructionCount)
        plan.listener_filter_len = UInt16(listening?.instructionCount ?? 0)
        plan.listener_socket = -1
        plan.listener_required = listenerRequired ? 1 : 0
        plan.listener_refused = request.refusesListenerForTesting ? 1 : 0
        plan.listener_plain = listeningPlainly ? 1 : 0
    }

    deinit {
        for pointer in strings { pointer.deallocate() }
        ops.deallocate()
        argv.deallocate()
        envp.deallocate()
        if statusRead >= 0 { close(statusRead) }
        if goWrite >= 0 { close(goWrite) }
        if listenerSocket >= 0 { close(listenerSocket) }
    }

    /// Hands the listener socket over (the caller closes it).
    func takeListenerSocket() -> Int32 {
        defer { listenerSocket = -1 }
        return listenerSocket
    }

    /// Like `execvp`: a name without `/` is looked up in the command's PATH.
    /// Unfound names are kept, so the traced execve fails with ENOENT.
    static func resolve(_ program: RawPath, environment: [RawPath]) -> RawPath {
        if program.bytes.contains(47) { return program }
        let prefix = Array("PATH=".utf8)
        let pathValue =
            environment.last { $0.bytes.starts(with: prefix) }.map { Array($0.bytes.dropFirst(prefix.count)) }
            ?? Array("/usr/local/bin:/usr/bin:/bin".utf8)
        for directory in pathValue.split(separator: 58, omittingEmptySubsequences: false) {
            let candidate = RawPath(bytes: directory.isEmpty ? Array(".".utf8) : Array(directory)).appending(program)
            if candidate.withCString({ access($0, X_OK) }) == 0 {
                if FileSystem.kind(of: candidate) == .file { return candidate }
            }
        }
        return program
    }

    /// Clones the sandbox init and waits until its set-up is done. Returns
    /// its pid; it then waits for `release`.
    func start() throws -> pid_t {
        let (statusPipe, goPipe): ([Int32], [Int32])
        do throws(Errno) { (statusPipe, goPipe) = try twoPipes() } catch {
            throw SandboxError.launch("cannot create pipes", error)
        }
        statusRead = statusPipe[0]
        goWrite = goPipe[1]
        plan.status_fd = statusPipe[1]
        plan.go_fd = goPipe[0]
        var listenerPair: [Int32] = [-1, -1]
        if !listeningFilter.isEmpty {
            do throws(Errno) {
                try nothingOrErrno { dt_socketpair_cloexec(&listenerPair) }
            } catch {
                throw SandboxError.launch("cannot create the listener socket", error)
            }
            listenerSocket = listenerPair[0]
        }
        plan.listener_socket = listenerPair[1]
        defer { if listenerPair[1] >= 0 { close(listenerPair[1]) } }

        let idmapFDs = self.idmapFDs
        let pid: pid_t = filter.withUnsafeBytes { program in
            listeningFilter.withUnsafeBytes { listening in
                idmapFDs.withUnsafeBufferPointer { fds in
                    plan.filter = UnsafeRawPointer(program.baseAddress)
                    plan.listener_filter = listening.isEmpty ? nil : UnsafeRawPointer(listening.baseAddress)
                    plan.ops = UnsafePointer(ops.baseAddress)
                    plan.argv = UnsafePointer(argv.baseAddress)
                    plan.envp = UnsafePointer(envp.baseAddress)
                    plan.idmap_fds = fds.baseAddress
                    return withUnsafePointer(to: &plan) { dt_spawn($0) }
                }
            }
        }
        let spawnError = errno
        close(statusPipe[1])
        close(goPipe[0])
        guard pid > 0 else {
            if case .rootless = identity { throw SandboxError.userNamespaces(.clone(Errno(rawValue: spawnError))) }
            throw SandboxError.launch("cannot create the sandbox", Errno(rawValue: spawnError))
        }
        if let before = identityMaps?.beforeSetUp, !before.isEmpty {
            // The outer namespace: its root is the invoking user.
            do throws(SandboxError) {
                try Self.writeMaps(before, pid: pid)
            } catch {
                Self.abandon(pid, kill: true)
                throw error
            }
            var go: UInt8 = 1
            _ = write(goWrite, &go, 1)
        }

        switch readStatus() {
        case .some(let status) where status.stage == Int32(DT_STAGE_READY.rawValue):
            if let after = identityMaps?.afterSetUp, !after.isEmpty {
                // Root inside is the mapped id outside, and nothing else is mapped.
                do throws(SandboxError) {
                    try Self.writeMaps(after, pid: pid)
                } catch {
                    Self.abandon(pid, kill: true)
                    throw error
                }
            }
            return pid
        case .some(let status) where status.stage == Int32(DT_STAGE_OP.rawValue):
            Self.abandon(pid, kill: false)
            let step = Int(status.index) < steps.count ? steps[Int(status.index)].summary : "step \(status.index)"
            if case .rootless = identity, status.error == EPERM || status.error == EACCES {
                throw SandboxError.userNamespaces(.mount(step: step, Errno(rawValue: status.error)))
            }
            throw SandboxError.mountFailed(step: step, Errno(rawValue: status.error))
        case .some(let status) where status.stage == Int32(DT_STAGE_USERNS.rawValue):
            Self.abandon(pid, kill: false)
            throw SandboxError.userNamespaces(.nested(Errno(rawValue: status.error)))
        default:
            Self.abandon(pid, kill: false)
            throw SandboxError.launch("the sandbox's init died during set-up", Errno(rawValue: EIO))
        }
    }

    /// Reaps the init after a failed set-up (killing it first if it still waits).
    private static func abandon(_ pid: pid_t, kill killFirst: Bool) {
        if killFirst { kill(pid, SIGKILL) }
        var ignored: Int32 = 0
        waitpid(pid, &ignored, 0)
    }

    /// Carries out the plan's map writes (`IdentityMaps`) for the init `pid`.
    private static func writeMaps(_ writes: [IdentityMaps.Write], pid: pid_t) throws(SandboxError) {
        for map in writes {
            let (path, text) = ("/proc/\(pid)/\(map.file)", map.text)
            do throws(Errno) {
                let file = try OwnedDescriptor.open(RawPath(path), O_WRONLY)
                // One write: the kernel takes a map only whole.
                let written = try valueOrErrno { text.withCString { write(file.raw, $0, strlen($0)) } }
                file.close()
                if written != text.utf8.count { throw Errno.invalidArgument }
            } catch {
                throw .userNamespaces(.map(path, error))
            }
        }
    }

    /// Attaches the tracer to the init (unless `seize` is false: nothing
    /// follows the processes with ptrace) and lets it start the command.
    func release(initPid: pid_t, seize: Bool = true) throws {
        do {
            if traced && seize { try Ptrace.request(Ptrace.seize, initPid, 0, TraceLoop.options.rawValue) }
        } catch {
            throw SandboxError.launch("cannot trace the sandbox (ptrace)", error)
        }
        var go: UInt8 = 1
        _ = write(goWrite, &go, 1)
        close(goWrite)
        goWrite = -1
    }

    /// After the run: why the command could not start, if it could not.
    func launchFailure() -> String? {
        while let status = readStatus() {
            let error = Errno(rawValue: status.error)
            switch status.stage {
            case Int32(DT_STAGE_EXEC.rawValue):
                return "\(programName): cannot execute: \(error.description)"
            case Int32(DT_STAGE_CHDIR.rawValue):
                return "cannot change to the working directory: \(error.description)"
            case Int32(DT_STAGE_STDIO.rawValue):
                return "cannot set up the command's descriptor \(status.index): \(error.description)"
            case Int32(DT_STAGE_FDS.rawValue):
                return "cannot close inherited descriptors: \(error.description)"
            case Int32(DT_STAGE_CAPABILITIES.rawValue):
                return "cannot drop capabilities: \(error.description)"
            case Int32(DT_STAGE_USERNS.rawValue):
                return "the sandbox could not take its identity (step \(status.index)): \(error.description)"
            case Int32(DT_STAGE_LIMIT.rawValue):
                return "cannot set the process limit: \(error.description)"
            case Int32(DT_STAGE_FILTER.rawValue):
                if status.index == 2 { listenerRefused = true }
                return "cannot load the seccomp filter: \(error.description)"
            case Int32(DT_STAGE_AFFINITY.rawValue):
                return "cannot pin the command to a CPU: \(error.description)"
            case Int32(DT_STAGE_FORK.rawValue):
                return "the sandbox could not fork the command: \(error.description)"
            default:
                continue
            }
        }
        return nil
    }

    private func readStatus() -> dt_status? {
        var status = dt_status()
        let n = (try? valueOrErrno { withUnsafeMutableBytes(of: &status) { read(statusRead, $0.baseAddress, $0.count) } }) ?? 0
        return n == MemoryLayout<dt_status>.size ? status : nil
    }
}
