import Foundation

/// The key pair DKMS signs the modules it builds with (`mok.key` and
/// `mok.pub` in its tree), made once for a check and placed in every DKMS
/// build's tree.
///
/// On a host, DKMS makes the pair with `openssl req` (RSA, 2,048 bits) the
/// first time it builds and uses it from then on. Each build of a check has
/// a DKMS tree of its own, empty, so each made a pair of its own: 0.06–0.3 s
/// of CPU a build, 5.6% of a three-sample check's CPU, and a host's
/// first DKMS build rather than its usual one. With the pair in place DKMS
/// makes none and signs with it (`scripts/sign-file`) as before.
struct DkmsSigningKey: Sendable {
    /// The private key (PEM) and the certificate (DER), under the scratch directory.
    var key: RawPath
    var certificate: RawPath

    /// DKMS's own names in its tree (`prepare_signing`).
    static let keyName = "mok.key"
    static let certificateName = "mok.pub"

    /// Makes a pair in `directory` (made here) with the host's `openssl`,
    /// as DKMS makes its own; nil where that cannot be done (no `openssl`):
    /// then each build makes its own, as before.
    static func make(in directory: RawPath) -> DkmsSigningKey? {
        do {
            try StagedCandidate.makeDirectory(directory)
        } catch {
            return nil
        }
        let pair = DkmsSigningKey(
            key: directory.appending(RawPath(keyName)), certificate: directory.appending(RawPath(certificateName)))
        let made = try? HostCommand.run([
            "openssl", "req", "-new", "-x509", "-nodes", "-days", "36500", "-subj", "/CN=DKMS module signing key", "-newkey",
            "rsa:2048", "-keyout", pair.key.description, "-outform", "DER", "-out", pair.certificate.description,
        ])
        guard made?.status == 0, FileManager.default.fileExists(atPath: pair.key.description),
            FileManager.default.fileExists(atPath: pair.certificate.description)
        else { return nil }
        return pair
    }

    /// Copies the pair into a build's DKMS tree (the key keeps its mode,
    /// 0600). False where a copy failed: DKMS then makes a pair there.
    func place(in dkmsTree: RawPath) -> Bool {
        for (file, name) in [(key, Self.keyName), (certificate, Self.certificateName)] {
            do {
                try FileManager.default.copyItem(atPath: file.description, toPath: dkmsTree.appending(RawPath(name)).description)
            } catch {
                return false
            }
        }
        return true
    }
}
