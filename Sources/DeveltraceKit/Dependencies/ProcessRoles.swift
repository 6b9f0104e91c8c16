/// Which traced processes are the kernel's build and which are not. Pure.
///
/// The build is every `make` that reads a file of the kernel tree (the
/// kernel's `Makefile`, kbuild's `scripts/Makefile.*`: the driver's `make -C
/// … M=…`, a hook's `make syncconfig`, DKMS's `MAKE`, the `make -C $(KDIR)`
/// a sample's Makefile runs) and what it runs. Everything else is not the
/// kernel package's business: the in-sandbox driver and, for a DKMS sample,
/// `dkms` itself with what it runs outside `make` (its `openssl` for a
/// signing key, its `rpm` and `weak-modules` probes), and a sample's own
/// `make` with its recipes (a `configure`, a code generator, a user-space
/// helper), whose use of the system is the sample package's dependency.
enum ProcessRoles {
    /// Program names that start a build.
    static let buildCommands: Set<RawPath> = [RawPath("make"), RawPath("gmake")]

    /// The `make` processes that read a file `isKernelFile` accepts.
    static func kernelMakes(
        _ processes: [Int32: TracedProcess], accesses: [FileAccess], isKernelFile: (RawPath) -> Bool
    ) -> Set<Int32> {
        let makes = Set(processes.values.filter { $0.executable.map { buildCommands.contains($0.lastComponent) } == true }.map(\.id))
        var found = Set<Int32>()
        for access in accesses where access.intent == .read && access.result.isOK && makes.contains(access.process) {
            if !found.contains(access.process), isKernelFile(access.path) { found.insert(access.process) }
        }
        return found
    }

    /// The pids of the build's processes: `kernelMakes` and everything
    /// they started.
    static func buildProcesses(_ processes: [Int32: TracedProcess], kernelMakes: Set<Int32>) -> Set<Int32> {
        var known: [Int32: Bool] = [:]
        func isBuild(_ pid: Int32, depth: Int) -> Bool {
            if let answer = known[pid] { return answer }
            guard let process = processes[pid], depth < 4096 else { return false }
            let answer = kernelMakes.contains(pid) || (process.parent != 0 && isBuild(process.parent, depth: depth + 1))
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
