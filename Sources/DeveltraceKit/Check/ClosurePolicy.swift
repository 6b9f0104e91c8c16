/// Whether a sample's closure goes on after a candidate round, and with
/// which files: a pure decision over what the round's lookups found absent.
///
/// Files a candidate build probed and did not find come first: they are
/// what the candidate lacks where the build looked. Files only the
/// reference build used are added only when a failing build probed nothing
/// new: before that, the candidate may still show it holds them elsewhere
/// (relocated). A build that stops at the first file it lacks, though
/// (a compile at its first missing header, syncconfig at the first
/// `source`d Kconfig file that is not there), would take one round per
/// file: once `serialLimit` rounds in a row have failed, the files only
/// the reference used are added with the probed ones. A candidate round
/// skipped by `BUILD_EXCLUSIVE_*` (the
/// reference was not) counts as failed: the candidate lacks what DKMS
/// checks.
///
/// A compiler drops an include directory that does not exist before it
/// looks for anything in it, so a package without `security/selinux/include`
/// shows no lookup of `classmap.h`, only a failed `stat` of the directory.
/// When a failing round leaves nothing else to add, the directories it
/// looked for and the full tree has are made, empty: the next round's
/// lookups inside them name the files. A directory is never a finding.
///
/// A build that goes down a path the reference build never took (`make
/// scripts` running syncconfig in a split package, whose recorded `srctree`
/// differs) needs files no reference trace names, and finds them one per
/// round: Kconfig's `$(shell …)` stops at the first script it lacks, a host
/// program's compile at its first missing header. Once `kinLimit` rounds in
/// a row have failed, closure also restores the *kin* of each file a round
/// newly probed: the files of its directory in the full tree with the same
/// suffix (`as-version.sh` brings `cc-version.sh`, `expr.h` brings
/// `internal.h`). Kin no later round uses are no finding; kin a later round
/// uses are missing, found in the round that needed closure.
enum ClosurePolicy {
    /// Failed rounds in a row after which closure stops waiting for the
    /// candidate to show where it holds what only the reference used.
    static let serialLimit = 3
    /// Failed rounds in a row after which the kin of newly probed files
    /// are restored too.
    static let kinLimit = serialLimit + 1
    /// Kin restored per directory at most: a directory with more files of
    /// the suffix (`include/linux/*.h`) is left to be found file by file.
    static let kinPerDirectory = 256

    enum Decision: Equatable {
        /// Build another round with these tree paths added (sorted).
        case nextRound(adding: [RawPath])
        /// Closure is over: classify.
        case classify
    }

    /// - Parameters:
    ///   - probedAbsent: tree paths candidate builds up to this round probed
    ///     and the candidate lacks, with no substitute.
    ///   - usedAbsent: the same, counting what only the reference used
    ///     (asked for only when needed: finding substitutes reads files).
    ///   - added: tree paths closure added in earlier rounds.
    ///   - failedInARow: candidate rounds that failed in a row, this one
    ///     included (0 when this one built).
    ///   - absentDirectories: tree directories the candidate builds looked
    ///     for and the candidate lacks (asked for only when a failed round
    ///     leaves nothing else to add).
    ///   - kin: the tree paths of the kin of the given newly probed files
    ///     that the candidate lacks and closure has not put beside them yet
    ///     (one closure added elsewhere, where no build had looked, comes
    ///     again); asked for only when needed: it lists directories.
    static func decide(
        probedAbsent: Set<RawPath>, usedAbsent: () -> Set<RawPath>, added: Set<RawPath>, roundSucceeded: Bool, round: Int,
        maxRounds: Int, failedInARow: Int = 0, absentDirectories: () -> Set<RawPath> = { [] },
        kin: (Set<RawPath>) -> Set<RawPath> = { _ in [] }
    ) -> Decision {
        // No round left: nothing more is asked for (the closures read files).
        guard round < max(1, maxRounds) else { return .classify }
        let fresh = probedAbsent.subtracting(added)
        var missing = fresh
        if !roundSucceeded && (missing.isEmpty || failedInARow >= serialLimit) { missing.formUnion(usedAbsent().subtracting(added)) }
        if !roundSucceeded && missing.isEmpty { missing.formUnion(absentDirectories().subtracting(added)) }
        if !roundSucceeded, failedInARow >= kinLimit, !fresh.isEmpty { missing.formUnion(kin(fresh)) }
        return missing.isEmpty ? .classify : .nextRound(adding: missing.sorted())
    }

    /// The kin of file `name` among the names of the files (not
    /// directories) of its directory: those with the same suffix (from the
    /// last dot, not a leading one), itself left out, sorted; none when
    /// `name` has no suffix (`vmlinux` would bring a whole build's objects)
    /// or more than `kinPerDirectory` names share it.
    static func kin(of name: RawPath, among names: [RawPath]) -> [RawPath] {
        guard let suffix = suffix(of: name) else { return [] }
        let kin = names.filter { $0 != name && Self.suffix(of: $0) == suffix }
        guard kin.count <= kinPerDirectory else { return [] }
        return kin.sorted()
    }

    /// `.sh` of `as-version.sh`, `.cmd` of `.conf.o.cmd`; nil for
    /// `vmlinux` or `.gitignore`.
    static func suffix(of name: RawPath) -> [UInt8]? {
        guard let dot = name.bytes.lastIndex(of: 46), dot > 0, dot < name.bytes.count - 1 else { return nil }
        return Array(name.bytes[dot...])
    }
}
