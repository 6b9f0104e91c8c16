/// One entry of an rpm's `Requires` (`rpm -qp --requires`), sorted by what a
/// Debian host can judge of it (ARCHITECTURE.md, "System dependencies").
///
/// A Debian host has no rpm database, so a requirement by *name* (`gcc`,
/// `perl(strict)`, `elfutils-libelf-devel`) cannot be resolved: Fedora's
/// names are not Debian's, and guessing a mapping would be a guess. Two
/// kinds name something the host can look for itself: a *file* (`/bin/sh`,
/// `/usr/bin/perl`, which rpm's dependency generator writes for every
/// script's interpreter) and a *shared library* by soname
/// (`libelf.so.1()(64bit)`, written for every ELF program the package
/// ships). Those are resolved to the host package that owns the file.
/// rpm's own capabilities (`rpmlib(…)`, `rtld(GNU_HASH)`, `config(…)`)
/// describe the package format, not the system.
enum RpmRequirement: Sendable, Hashable {
    /// An absolute path the package needs to exist.
    case file(RawPath)
    /// A shared library by its soname; `wide` for `(64bit)`.
    case library(soname: String, wide: Bool)
    /// A capability by name: a package or a virtual provide.
    case name(String)
    /// A capability of rpm itself or of the loader.
    case feature(String)

    /// Parses one line of `rpm --requires`; nil for an empty line. A
    /// version constraint after the capability (`gcc >= 4.9`) is dropped.
    static func parse(_ line: String) -> RpmRequirement? {
        let entry = line.trimmingCharacters(in: .whitespaces)
        guard let capability = entry.split(separator: " ", maxSplits: 1).first.map(String.init), !capability.isEmpty else {
            return nil
        }
        if capability.hasPrefix("/") { return .file(RawPath(capability)) }
        for prefix in ["rpmlib(", "rtld(", "config("] where capability.hasPrefix(prefix) { return .feature(capability) }
        // `libc.so.6(GLIBC_2.34)(64bit)`, `libelf.so.1()(64bit)`; a 32-bit
        // package's plain `libcrypto.so.3` or `libc.so.6(GLIBC_2.0)`.
        let base = capability.prefix { $0 != "(" }
        if base.contains(".so") {
            return .library(soname: String(base), wide: capability.hasSuffix("(64bit)"))
        }
        return .name(capability)
    }

    /// The directories where a loader of this host finds a library of each
    /// width (Debian's multiarch directories first).
    static func libraryDirectories(wide: Bool, hostTriplet: String) -> [RawPath] {
        let multiarch = wide ? hostTriplet : "i386-linux-gnu"
        let legacy = wide ? ["/lib64", "/usr/lib64"] : ["/lib32", "/usr/lib32"]
        return (["/lib/\(multiarch)", "/usr/lib/\(multiarch)"] + legacy + ["/lib", "/usr/lib"]).map(RawPath.init)
    }
}

/// What an rpm candidate declares, resolved on a Debian host: the host
/// packages its files and libraries belong to, and what could not be
/// resolved. Pure over the owners' answers.
struct RpmDeclarations: Sendable, Equatable {
    /// Host packages that own a required file or library.
    var packages: Set<String> = []
    /// Required files and libraries this host does not have.
    var absent: [String] = []
    /// Requirements by name, which a Debian host cannot resolve.
    var names: [String] = []

    /// - Parameters:
    ///   - requirements: the rpms' `Requires`, parsed.
    ///   - owners: for a path, the packages owning it or any symlink on the
    ///     way to it; nil when the path does not exist on this host.
    static func resolve(
        _ requirements: [RpmRequirement], hostTriplet: String, owners: (RawPath) -> Set<String>?
    ) -> RpmDeclarations {
        var result = RpmDeclarations()
        for requirement in Set(requirements).sorted(by: { "\($0)" < "\($1)" }) {
            switch requirement {
            case .feature: continue
            case .name(let name): result.names.append(name)
            case .file(let path):
                if let found = owners(path) { result.packages.formUnion(found) } else { result.absent.append(path.description) }
            case .library(let soname, let wide):
                var found: Set<String>? = nil
                for directory in RpmRequirement.libraryDirectories(wide: wide, hostTriplet: hostTriplet) where found == nil {
                    found = owners(directory.appending(RawPath(soname)))
                }
                if let found { result.packages.formUnion(found) } else { result.absent.append(soname + (wide ? " (64-bit)" : "")) }
            }
        }
        return result
    }
}
