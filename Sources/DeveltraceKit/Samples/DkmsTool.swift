import Foundation

/// The host's `dkms`, which builds every DKMS sample inside the sandbox
/// (`SampleDriver`): the sandbox shows the host's `/usr` read-only, so the
/// host's package is the one that runs. develtrace does not imitate DKMS;
/// what it does (its `PRE_BUILD`, its `-j` and `KERNELRELEASE=`, its `CC`,
/// its signing, its reading of `/etc/dkms`) differs between versions and
/// distributions' patches, so the report records which one ran.
enum DkmsTool {
    static let path = "/usr/sbin/dkms"

    /// The installed `dkms` as the report names it, e.g. `3.0.10-8+deb12u1`
    /// (the package's version: Debian's patches change what it does), or
    /// why DKMS samples cannot be built here.
    static func installed() throws(InputError) -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw InputError.tool(
                "dkms",
                "DKMS samples are built by the real dkms, and \(path) is not there: install it (`apt-get install dkms`; tools/setup does)")
        }
        if let query = try? HostCommand.run(["dpkg-query", "-W", "-f=${Version}", "dkms"]), query.status == 0,
            case let version = String(decoding: query.output, as: UTF8.self), !version.isEmpty
        {
            return version
        }
        if let asked = try? HostCommand.run([path, "--version"]), asked.status == 0,
            let line = String(decoding: asked.output, as: UTF8.self).split(separator: "\n").first
        {
            return String(line)
        }
        return "unknown version"
    }
}
