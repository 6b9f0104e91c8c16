/// Which system packages a candidate build may use without declaring them,
/// and which it must declare (ARCHITECTURE.md, "System dependencies").
/// Pure: built from package names, asked about package names.
///
/// - Every `Essential: yes` package and what it depends on: every Debian
///   system has them.
/// - The harness, which runs every sample whatever the candidate: bash (the
///   in-sandbox driver) and `make` (every sample's build command), with
///   their dependencies; for a DKMS sample also `dkms` with its own (it
///   depends on `gcc | c-compiler`, `make`, `dpkg-dev`, `kmod`, `patch`).
/// - Everything else a candidate build executed or read must come from the
///   candidate's own declarations (`Pre-Depends`, `Depends`, resolved
///   through the host's dpkg database, transitively). What does not is a
///   `dependency` finding. A `build-essential` member (`gcc`, `libc6-dev`,
///   `dpkg-dev`, `g++`, `make`) is no exception: a plain `make M=` build
///   has no dkms to pull the compiler in, and a kernel built with another
///   compiler than the default's (Ubuntu's gcc-13 kernels on a gcc-11
///   release) needs its headers to say so. Such findings are marked as
///   build-essential members so a packager can decide.
struct DependencyPolicy: Sendable, Equatable {
    /// What the candidate's packages bring in (nil: no package metadata —
    /// a directory candidate, or rpms on a host without an rpm database).
    var declared: Set<String>?
    /// Essential packages and their closure.
    var essential: Set<String>
    /// The harness of every sample (bash, make) with its closure.
    var harness: Set<String>
    /// The harness of a DKMS sample (dkms) with its closure.
    var dkmsHarness: Set<String>
    /// `build-essential`'s closure, for the finding's detail.
    var buildEssential: Set<String>
    /// What the candidate also requires by a name this host cannot resolve
    /// (an rpm's `Requires: gcc` on a Debian host), for the finding's
    /// detail: `declared` holds only what its files and libraries resolve to.
    var unresolvedNames: [String] = []

    /// Whether `package`, used by a build of a sample of `kind`, is a
    /// finding.
    func mustDeclare(_ package: String, dkms: Bool) -> Bool {
        guard let declared else { return false }
        if declared.contains(package) || essential.contains(package) || harness.contains(package) { return false }
        return !(dkms && dkmsHarness.contains(package))
    }

    /// The policy for a candidate whose packages declare `relations`
    /// (nil: none known), on a host whose dpkg database is `installed`.
    /// Relations a candidate package satisfies itself (the flavour's
    /// `Depends` on its `-common`) are not looked up on the host.
    ///
    /// `crossTriplet` (`aarch64-linux-gnu`, for `check --arch`): a foreign
    /// flavour's `Depends: gcc-12` means its own architecture's compiler,
    /// which a cross build replaces with Debian's cross package of the same
    /// name and the triplet (`gcc-12-aarch64-linux-gnu`, which brings
    /// `cpp-12-…` and `binutils-…`): that substitution is taken first, and is
    /// not a missing dependency.
    static func make(
        candidateRelations relations: [PackageRelation]?, candidateNames: Set<String>, installed: InstalledPackages,
        crossTriplet: String? = nil, unresolvedNames: [String] = []
    ) -> (policy: DependencyPolicy, unsatisfied: Set<String>) {
        let declared = relations.map { relations in
            let own = relations.filter { !$0.alternatives.contains { candidateNames.contains($0.name) } }
            return installed.closure(of: crossTriplet.map { triplet in own.map { $0.crossing(triplet) } } ?? own)
        }
        func closure(_ names: [String]) -> Set<String> {
            installed.closure(of: names.map { PackageRelation(alternatives: [.init(name: $0)]) }).packages
        }
        let policy = DependencyPolicy(
            declared: declared?.packages, essential: installed.essentialClosure, harness: closure(["bash", "make"]),
            dkmsHarness: closure(["dkms"]), buildEssential: closure(["build-essential"]), unresolvedNames: unresolvedNames)
        return (policy, declared?.unsatisfied ?? [])
    }
}
