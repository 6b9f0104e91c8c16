import Foundation

extension SandboxConfiguration {
    /// Where a host keeps kernel trees and devel packages: `/usr/src`
    /// (`linux-headers-*`, `kernels/*`, DKMS sources), `/usr/lib/modules`
    /// (every installed release's `build` link) and Debian's
    /// `/usr/lib/linux-kbuild-*`.
    static let hostKernelDirectories = ["/usr/src", "/usr/lib/modules"].map(RawPath.init)

    /// The configuration with the host's own kernel trees and devel packages
    /// out of sight, so a build sees only the tree or candidate it checks:
    /// DKMS signs with `/usr/lib/linux-kbuild-VERSION/scripts/sign-file`
    /// when it exists, and Makefiles reach for `/lib/modules/$(uname -r)`.
    /// `/usr/src` and `/usr/lib/modules` become empty tmpfs (what the
    /// configuration mounts there is placed inside), and every
    /// `linux-kbuild-*` of the host that nothing is mounted on is hidden.
    func hidingHostKernels(libraryDirectory: RawPath = RawPath("/usr/lib")) -> SandboxConfiguration {
        var configuration = self
        let targets = binds.map(\.target) + overlays.map(\.target)
        for directory in Self.hostKernelDirectories where !configuration.tmpfs.contains(directory) {
            // A mount on the directory itself replaces it anyway.
            if targets.contains(directory) { continue }
            configuration.tmpfs.append(directory)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: libraryDirectory.description)) ?? []
        for name in names.sorted() where name.hasPrefix("linux-kbuild-") {
            let path = libraryDirectory.appending(RawPath(name))
            if targets.contains(where: { $0.isSame(or: path) || path.isSame(or: $0) }) { continue }
            if !configuration.hidden.contains(path) { configuration.hidden.append(path) }
        }
        return configuration
    }
}
