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
enum ClosurePolicy {
    /// Failed rounds in a row after which closure stops waiting for the
    /// candidate to show where it holds what only the reference used.
    static let serialLimit = 3

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
    static func decide(
        probedAbsent: Set<RawPath>, usedAbsent: () -> Set<RawPath>, added: Set<RawPath>, roundSucceeded: Bool, round: Int,
        maxRounds: Int, failedInARow: Int = 0
    ) -> Decision {
        var missing = probedAbsent.subtracting(added)
        if !roundSucceeded && (missing.isEmpty || failedInARow >= serialLimit) { missing.formUnion(usedAbsent().subtracting(added)) }
        guard !missing.isEmpty, round < max(1, maxRounds) else { return .classify }
        return .nextRound(adding: missing.sorted())
    }
}
