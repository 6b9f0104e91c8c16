/// `realpath(3)` of directories, each found from its parent's answer with
/// one `lstat`: the real directories of every path dpkg lists (a Debian host
/// lists some 12,000 directories, and `realpath` reads every component of
/// each again: 83,000 `readlink` calls where 12,000 `lstat` do).
///
/// The answers are `realpath`'s: nil where the directory or a directory on
/// its way is absent; a symlink on the way is followed wherever it leads
/// (`realpath` of the link itself, which is rare: `/lib`, `/bin`, `/sbin`).
final class RealDirectories {
    private let host: any HostView
    private var known: [RawPath: RawPath?] = [:]

    init(host: any HostView) { self.host = host }

    /// The real path of the absolute `directory`, or nil where `realpath`
    /// fails.
    func real(_ directory: RawPath) -> RawPath? {
        if directory.bytes.count <= 1 { return directory.isAbsolute ? directory : host.realPath(of: directory) }
        if let answer = known[directory] { return answer }
        let name = directory.lastComponent.bytes
        if name == [46] || name == [46, 46] { return host.realPath(of: directory) }
        let answer: RawPath?
        if let parent = real(directory.parent) {
            let here = parent.appending(directory.lastComponent)
            switch host.kind(of: here) {
            case nil: answer = nil
            case .symlink: answer = host.realPath(of: here)
            case .directory, .other: answer = here
            }
        } else {
            answer = nil
        }
        known[directory] = answer
        return answer
    }
}
