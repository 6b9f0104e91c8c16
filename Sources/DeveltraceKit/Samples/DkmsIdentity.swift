import CDeveltrace
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A DKMS sample's `PACKAGE_NAME` and `PACKAGE_VERSION`, learnt by sourcing
/// its `dkms.conf` as DKMS does (what it prints and the status of its last
/// command do not matter; DKMS carries on), in a sandbox under the time limit: a
/// `dkms.conf` is a shell script from the sample's author, and nothing of it
/// runs on the host. DKMS builds in `$dkms_tree/NAME/VERSION/build`, so the
/// build's sandbox needs them before it starts.
enum DkmsIdentity {
    /// Where the sample's sources are, inside the evaluation's sandbox.
    static let sourceInSandbox = RawPath("/usr/src/develtrace-dkms-sample")

    static let script = """
        cd "$1" || exit 1
        kernelver=$2 kernel_source_dir=/lib/modules/$2/build arch=x86_64 dkms_tree=/var/lib/dkms source_tree=/usr/src
        # As DKMS: what it prints and its status do not matter, the directives do.
        . ./dkms.conf > /dev/null
        printf '%s\\n%s\\n' "$PACKAGE_NAME" "$PACKAGE_VERSION" >&3
        """

    /// `sample` with its name and version, or why its `dkms.conf` does not
    /// give them. Only the sample's directory (read-only) is in the sandbox.
    static func evaluate(
        _ sample: Sample, kernelRelease: String, timeout: Duration?, cancel: CancellationHandle
    ) throws -> Sample {
        guard sample.kind == .dkms else { return sample }
        // Each call's errno read at once (the second call would overwrite the first's).
        let output: CInt
        let errors: CInt
        do {
            output = try valueOrErrno { dt_memfd("develtrace-dkms-identity") }
        } catch {
            throw InputError.brokenDkmsConf(sample.directory, "cannot evaluate it: \(error)")
        }
        defer { close(output) }
        do {
            errors = try valueOrErrno { dt_memfd("develtrace-dkms-errors") }
        } catch {
            throw InputError.brokenDkmsConf(sample.directory, "cannot evaluate it: \(error)")
        }
        defer { close(errors) }
        let sandbox = SandboxConfiguration(binds: [.init(source: sample.path, target: sourceInSandbox)])
        // fd 3 carries the answer, so what dkms.conf prints cannot pose as it.
        let arguments = [
            "/bin/bash", "-c", "exec 3>&1 1>/dev/null; \(script)", "develtrace-dkms", sourceInSandbox.description, kernelRelease,
        ]
        var request = TraceRequest(
            program: RawPath("/bin/bash"), arguments: arguments.map(RawPath.init),
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"].map(RawPath.init),
            workingDirectory: sourceInSandbox, sandbox: sandbox, standardOutput: output, standardError: errors)
        // In the sandbox, untraced: nothing of the trace is used, and the
        // sandbox's refusals are the same either way.
        request.traced = false
        let session = TraceSession(request: request)
        cancel.register(session)
        defer { cancel.unregister(session) }
        let outcome = try session.run(timeout: timeout)
        if outcome.termination == .timedOut {
            throw InputError.brokenDkmsConf(sample.directory, "sourcing it took longer than the time limit")
        }
        if case .interrupted(let signal) = outcome.termination { throw CheckInterrupted(signal: signal) }
        let lines = String(decoding: Self.contents(of: output), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let name = lines.first.map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let version = lines.count > 1 && !lines[1].isEmpty ? String(lines[1]) : nil
        guard let name, let version, !name.contains("/"), !version.contains("/"), name != ".", name != "..",
            version != ".", version != ".."
        else {
            // What the shell said (a syntax error) explains it best.
            let said = String(decoding: Self.contents(of: errors), as: UTF8.self).split(separator: "\n").first.map(String.init)
            throw InputError.brokenDkmsConf(sample.directory, said ?? "PACKAGE_NAME or PACKAGE_VERSION is not set")
        }
        var identified = sample
        identified.packageName = name
        identified.packageVersion = version
        return identified
    }

    private static func contents(of fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while bytes.count < 65536 {
            guard let n = try? valueOrErrno({ chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) } }),
                n > 0
            else { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        return bytes
    }
}
