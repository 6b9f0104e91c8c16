#if canImport(Glibc)
import Glibc
#endif

/// What a run changed, read from the upper layers of its overlays: the one
/// place the sandbox's writes are analysed.
enum OverlayDiff {
    /// An overlay: where its upper layer is on the host, its lower layers,
    /// and where it shows up inside the sandbox.
    struct Layer: Sendable, Equatable {
        var upper: RawPath
        var lowers: [RawPath]
        var target: RawPath
    }

    /// Every write the overlays caught, except the mount points the plan
    /// made (`premade`, paths inside the sandbox).
    static func capturedWrites(layers: [Layer], premade: Set<RawPath>) -> [CapturedWrite] {
        var writes: [CapturedWrite] = []
        for layer in layers {
            try? DirectoryWalk.walk(layer.upper) { entry in
                let inside = layer.target.appending(entry.relativePath)
                if premade.contains(inside) { return true }
                let existed = layer.lowers.contains { lower in
                    FileSystem.kind(of: lower.appending(entry.relativePath), following: false) != nil
                }
                if entry.isWhiteout {
                    writes.append(CapturedWrite(path: inside, kind: .deleted, isDirectory: false))
                } else if entry.isDirectory {
                    if !existed { writes.append(CapturedWrite(path: inside, kind: .created, isDirectory: true)) }
                } else {
                    writes.append(CapturedWrite(path: inside, kind: existed ? .modified : .created, isDirectory: false))
                }
                return true
            }
        }
        return writes.sorted()
    }
}
