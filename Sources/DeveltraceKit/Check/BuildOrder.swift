/// In which order a check's samples are queued: the largest first (their
/// size in bytes of source, a stand-in for how long they build), so that a
/// long build starts while the short ones fill the other CPUs instead of
/// starting last and running alone. A sweep of Debian's 30 DKMS packages
/// queued openafs (8 MB of sources, a configure that runs kbuild hundreds of
/// times, about six minutes a build) after 29 others, by name: its
/// reference, candidate and experiment rebuild then ran one after another
/// at the end, one CPU idle. Pure.
enum BuildOrder {
    /// The positions of `sizes` largest first; equal sizes keep their order.
    static func largestFirst(_ sizes: [Int]) -> [Int] {
        sizes.indices.sorted { (sizes[$1], $0) < (sizes[$0], $1) }
    }

    /// The bytes of the regular files under `directory` (0 when it cannot
    /// be read).
    static func sourceSize(of directory: RawPath) -> Int {
        var total = 0
        try? DirectoryWalk.walk(directory) { entry in
            if entry.isRegularFile { total += Int(entry.status.st_size) }
            return true
        }
        return total
    }
}
