import Foundation

/// An external module built to exercise the candidate: a DKMS source
/// directory (with `dkms.conf`) or a plain Kbuild/Makefile directory.
public struct Sample: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        case dkms, kbuild
    }

    public var name: String
    /// The directory, for people (bytes that are not UTF-8 show as U+FFFD).
    public var directory: String
    /// The directory, byte for byte.
    public var pathBytes: [UInt8]
    public var kind: Kind
    /// `PACKAGE_NAME` and `PACKAGE_VERSION` of a DKMS sample: DKMS builds in
    /// `$dkms_tree/NAME/VERSION/build` and `MAKE[0]` may say so. Nil until
    /// `DkmsIdentity.evaluate` has sourced its `dkms.conf` in a sandbox.
    public var packageName: String?
    public var packageVersion: String?

    /// The directory, byte for byte.
    var path: RawPath { RawPath(bytes: pathBytes) }

    /// Checks `directory` is a module source directory.
    public init(directory: String) throws(InputError) {
        try self.init(path: RawPath(directory))
    }

    /// Checks `given` (relative to the working directory, any bytes) is a
    /// module source directory.
    public init(path given: RawPath) throws(InputError) {
        let absolute = (given.isAbsolute ? given : RawPath(FileManager.default.currentDirectoryPath).appending(given)).normalized()
        let host = LiveHostView()
        guard host.followedKind(of: absolute) == .directory else { throw .notFound(given.description) }
        let has = { (name: String) in host.followedKind(of: absolute.appending(RawPath(name))) != nil }
        if has("dkms.conf") {
            // Its name and version come from sourcing dkms.conf, which only
            // ever happens in a sandbox (`DkmsIdentity`).
            kind = .dkms
        } else if has("Makefile") || has("Kbuild") {
            kind = .kbuild
        } else {
            throw .moduleWithoutMakefile(given.description)
        }
        self.directory = absolute.description
        self.pathBytes = absolute.bytes
        self.name = absolute.lastComponent.description
    }

    /// Where a Kbuild sample is built inside the sandbox (DKMS samples are
    /// built where DKMS puts them: `SampleDriver.dkmsTree`).
    var buildDirectory: RawPath {
        // develtrace's own name for it: kbuild cannot build in a directory
        // whose path has a space or another character make treats specially.
        let safe = String(
            name.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-+".unicodeScalars.contains(scalar))
                    ? Character(scalar) : "_"
            })
        return RawPath("/develtrace-build/\(safe)")
    }

    /// The samples of the built-in corpus (`Fixtures/modules/*`).
    public static func corpus(at directory: String) throws(InputError) -> [Sample] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { throw .notFound(directory) }
        var samples: [Sample] = []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            samples.append(try Sample(directory: directory + "/" + entry))
        }
        return samples
    }
}

/// The script that builds a sample inside the sandbox. A DKMS sample is
/// built by the real `dkms` (the host's package, seen read-only through the
/// sandbox's `/usr`), with its trees inside the sandbox: `dkms build` adds
/// the source from `/usr/src/NAME-VERSION`, copies it to its build
/// directory, runs `PRE_BUILD`, `MAKE[…]` (with its own `-j`,
/// `KERNELRELEASE=`, `CC` from `.kernelvariables`), `POST_BUILD`, strips and
/// signs as configured, and files the modules under its tree. Nothing is
/// installed and no kernel hook runs: `build` is as far as it goes. Plain
/// Kbuild directories get `make -C KBUILD M=DIR modules`.
enum SampleDriver {
    /// Exit status for "skipped by BUILD_EXCLUSIVE_*" (DKMS's own).
    static let skipped: Int32 = 77
    /// Exit status for "dkms.conf does not evaluate" (DKMS says 8).
    static let brokenConfiguration: Int32 = 78
    /// Where DKMS keeps its tree inside the sandbox (a scratch directory of
    /// the build, where the built modules are found afterwards).
    static let dkmsTree = RawPath("/var/lib/dkms")

    static let script = #"""
        #!/bin/bash
        # develtrace's sample driver (see SampleDriver in the sources).
        kernelver=$1 kernel_source_dir=$2 module_dir=$3 kind=$4 name=$5 version=$6 arch=$7
        if [ "$kind" = kbuild ]; then
            cd "$module_dir" || exit 1
            exec make -C "$kernel_source_dir" M="$module_dir" modules
        fi
        cd /
        # The trees on the command line: the host's /etc/dkms/framework.conf
        # may name others, which are not in the sandbox.
        # -a: the machine DKMS builds for (BUILD_EXCLUSIVE_ARCH is matched
        # against it); ARCH and CROSS_COMPILE come through the environment.
        dkms build -m "$name" -v "$version" -k "$kernelver" ${arch:+-a "$arch"} --kernelsourcedir "$kernel_source_dir"             --dkmstree /var/lib/dkms --sourcetree /usr/src --verbose
        status=$?
        # DKMS sends make's output to make.log: the build directory's while
        # it fails, the kernel's log directory once it succeeded.
        for log in "/var/lib/dkms/$name/$version/build/make.log" "/var/lib/dkms/$name/$version/$kernelver"/*/log/make.log; do
            [ -f "$log" ] && { echo "develtrace: $log:"; cat "$log"; }
        done
        echo "develtrace: dkms exited with $status"
        # 8: DKMS found the dkms.conf or the source directory unusable.
        [ $status = 8 ] && exit 78
        exit $status
        """#
}
