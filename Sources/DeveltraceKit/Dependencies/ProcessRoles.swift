/// Which traced processes are the sample's build and which the harness
/// around it. Pure.
///
/// The build is every `make` and what it runs: every sample's build
/// command is `make` (the driver's `make -C … M=…`, a hook's `make
/// syncconfig`, DKMS's `MAKE`). Everything else is the harness: the
/// in-sandbox driver and, for a DKMS sample, `dkms` itself with what it runs
/// outside `make` (its `openssl` for a signing key, its `rpm` and
/// `weak-modules` probes). The harness's own use of the system is not the
/// candidate's dependency.
enum ProcessRoles {
    /// Program names that start the build.
    static let buildCommands: Set<RawPath> = [RawPath("make"), RawPath("gmake")]

    /// The pids of the build's processes.
    static func buildProcesses(_ processes: [Int32: TracedProcess]) -> Set<Int32> {
        var known: [Int32: Bool] = [:]
        func isBuild(_ pid: Int32, depth: Int) -> Bool {
            if let answer = known[pid] { return answer }
            guard let process = processes[pid], depth < 4096 else { return false }
            let answer =
                process.executable.map { buildCommands.contains($0.lastComponent) } == true
                || (process.parent != 0 && isBuild(process.parent, depth: depth + 1))
            known[pid] = answer
            return answer
        }
        return Set(processes.keys.filter { isBuild($0, depth: 0) })
    }

    /// Whether `path` is a shared object (`libfoo.so`, `libfoo.so.1.2`).
    static func isSharedObject(_ path: RawPath) -> Bool {
        let name = path.lastComponent.bytes
        let so = Array(".so".utf8)
        if name.count > 3, Array(name.suffix(3)) == so { return true }
        return name.indices.contains { index in
            index + 4 <= name.count && Array(name[index..<index + 4]) == so + [46]
        }
    }

    /// Files the C library reads for any program, on its own initiative
    /// (locale data and its aliases, character-set converters, the time
    /// zone `localtime` loads): the program's runtime, not the build's use.
    static let libraryRuntime = [
        "/usr/share/locale", "/usr/lib/locale", "/etc/locale.alias", "/usr/share/i18n", "/etc/localtime", "/usr/share/zoneinfo",
    ].map(RawPath.init)

    static func isLibraryRuntime(_ path: RawPath) -> Bool {
        libraryRuntime.contains { path.isSame(or: $0) } || path.parent.lastComponent == RawPath("gconv")
    }

    /// Whether `path`, read by a process running `executable`, is what that
    /// interpreter reads at start-up whatever the script: Python's `site`
    /// reads every `.pth` file in its package directories, which belong to
    /// whatever Python packages the host has installed. A module a script
    /// imports is not start-up: it stays the build's use.
    static func isInterpreterStartup(_ path: RawPath, executable: RawPath?) -> Bool {
        guard let name = executable?.lastComponent.description, name.hasPrefix("python") else { return false }
        let directory = path.parent.lastComponent
        return path.lastComponent.description.hasSuffix(".pth")
            && (directory == RawPath("dist-packages") || directory == RawPath("site-packages"))
    }
}
