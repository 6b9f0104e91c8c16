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

    /// Where the sample is built inside the sandbox (DKMS's build directory
    /// for DKMS samples).
    var buildDirectory: RawPath {
        if kind == .dkms, let packageName, let packageVersion {
            return RawPath("/var/lib/dkms/\(packageName)/\(packageVersion)/build")
        }
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

/// The script that builds a sample inside the sandbox, as DKMS would: it
/// evaluates `dkms.conf` with `kernelver`, `kernel_source_dir` and `arch`
/// (its messages go to the log, its status is ignored, as DKMS does)
/// set, reads `.config` as DKMS does for signing and `BUILD_EXCLUSIVE_CONFIG`,
/// honours `BUILD_EXCLUSIVE_*`, and runs `MAKE[0]` (or DKMS's default).
/// Plain Kbuild directories get `make -C KBUILD M=DIR modules`.
enum SampleDriver {
    /// Exit status for "skipped by BUILD_EXCLUSIVE_*".
    static let skipped: Int32 = 77
    /// Exit status for "dkms.conf does not evaluate".
    static let brokenConfiguration: Int32 = 78

    static let script = #"""
        #!/bin/bash
        # develtrace's sample driver (see SampleDriver in the sources).
        kernelver=$1 kernel_source_dir=$2 arch=$3 module_dir=$4 kind=$5
        cd "$module_dir" || exit 1
        if [ "$kind" = kbuild ]; then
            exec make -C "$kernel_source_dir" M="$module_dir" modules
        fi
        dkms_tree=/var/lib/dkms source_tree=/usr/src
        PACKAGE_NAME= PACKAGE_VERSION= BUILT_MODULE_NAME=() MAKE=()
        BUILD_EXCLUSIVE_KERNEL= BUILD_EXCLUSIVE_ARCH= BUILD_EXCLUSIVE_CONFIG=
        # As DKMS sources it: what it prints goes to the log and its status
        # does not matter (a failing test at its top level, a `find` of an
        # absent directory); it is broken when the directives are missing.
        . ./dkms.conf 2> .develtrace-dkms-conf.err
        cat .develtrace-dkms-conf.err >&2
        if [ -z "$PACKAGE_NAME" ] || [ -z "$PACKAGE_VERSION" ]; then
            echo "develtrace: dkms.conf does not evaluate: $(head -n 1 .develtrace-dkms-conf.err | grep . || echo PACKAGE_NAME or PACKAGE_VERSION is not set)" >&2
            exit 78
        fi
        if [ -n "$BUILD_EXCLUSIVE_KERNEL" ] && ! [[ $kernelver =~ $BUILD_EXCLUSIVE_KERNEL ]]; then
            echo "develtrace-skip: BUILD_EXCLUSIVE_KERNEL=$BUILD_EXCLUSIVE_KERNEL does not match $kernelver" >&2
            exit 77
        fi
        if [ -n "$BUILD_EXCLUSIVE_ARCH" ] && ! [[ $arch =~ $BUILD_EXCLUSIVE_ARCH ]]; then
            echo "develtrace-skip: BUILD_EXCLUSIVE_ARCH=$BUILD_EXCLUSIVE_ARCH does not match $arch" >&2
            exit 77
        fi
        # Debian 12's dkms (3.0.10) tests BUILD_EXCLUSIVE_CONFIG only where
        # .config exists: without one (6.12's upstream headers) it builds.
        [ -e "$kernel_source_dir/.config" ] || BUILD_EXCLUSIVE_CONFIG=
        for option in $BUILD_EXCLUSIVE_CONFIG; do
            name=${option#!}
            if grep -qE "^$name=[ym]" "$kernel_source_dir/.config" 2>/dev/null; then set=1; else set=0; fi
            if { [ "$option" = "$name" ] && [ $set = 0 ]; } || { [ "$option" != "$name" ] && [ $set = 1 ]; }; then
                echo "develtrace-skip: BUILD_EXCLUSIVE_CONFIG wants $option" >&2
                exit 77
            fi
        done
        # DKMS reads the kernel configuration to decide on module signing.
        grep -E '^CONFIG_MODULE_SIG(_ALL|_HASH)?=' "$kernel_source_dir/.config" > /dev/null 2>&1
        make_command=${MAKE[0]:-"make -C $kernel_source_dir M=$module_dir"}
        eval "$make_command"
        """#
}
