import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// What develtrace reads from DKMS's runs and from the modules it signs.
    @Suite struct DkmsDriverTests {
        /// A module's tail as sign-file writes it: the PKCS#7 message, the
        /// 12-byte `struct module_signature` (its length last, big endian),
        /// the marker.
        static func signedTail(message: [UInt8]) -> [UInt8] {
            let length = UInt32(message.count)
            let trailer: [UInt8] =
                [0, 0, 2, 0, 0, 0, 0, 0] + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: length >> $0) }
            return Array("\u{7f}ELF…module bytes".utf8) + message + trailer + ModuleSignature.marker
        }

        @Test("a module signature: its digest named from the PKCS#7 message, absent without the marker")
        func signature() {
            let sha256 = ModuleSignature.digests.first { $0.name == "sha256" }!.oid
            let sha512 = ModuleSignature.digests.first { $0.name == "sha512" }!.oid
            let message: (([UInt8]) -> [UInt8]) = { [0x30, 0x82, 0x01, 0x04] + $0 + Array(repeating: 0x5a, count: 40) }
            #expect(ModuleSignature(tail: Self.signedTail(message: message(sha256)))?.description == "signed (sha256)")
            #expect(ModuleSignature(tail: Self.signedTail(message: message(sha512)))?.description == "signed (sha512)")
            // A digest the table lacks is still a signature.
            #expect(ModuleSignature(tail: Self.signedTail(message: message([0x06, 0x01, 0x00])))?.description == "signed")
            // No marker: unsigned; a marker whose length runs past the file's
            // start names no digest rather than reading out of bounds.
            #expect(ModuleSignature(tail: Array("\u{7f}ELF plain module".utf8)) == nil)
            var lying = Self.signedTail(message: message(sha256))
            lying[lying.count - ModuleSignature.marker.count - 4] = 0x7f
            #expect(ModuleSignature(tail: lying)?.digest == nil)
        }

        @Test("a module signature read from a file: the comparison names both sides when they differ")
        func signatureInComparison() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-signature-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let signed = directory.appendingPathComponent("signed.ko")
            let plain = directory.appendingPathComponent("plain.ko")
            let sha256 = ModuleSignature.digests.first { $0.name == "sha256" }!.oid
            try Data(Self.signedTail(message: [0x30] + sha256)).write(to: signed)
            try Data("\u{7f}ELF plain module".utf8).write(to: plain)
            #expect(ModuleSignature(path: RawPath(signed.path)).description == "signed (sha256)")
            #expect(ModuleSignature(path: RawPath(plain.path)).description == "unsigned")
            #expect(ModuleSignature(path: RawPath(directory.appendingPathComponent("absent.ko").path)) == nil)
        }

        @Test("DKMS's reason for stopping: the dkms.conf error read_conf gave, else the last Error!")
        func dkmsSaid() {
            let skipped = """
                Sign command: /lib/modules/6.1.0-56-amd64/build/scripts/sign-file
                Error! The /var/lib/dkms/acpi-call/1.2.2/6.1.0-56-amd64/x86_64/dkms.conf for module acpi-call includes a BUILD_EXCLUSIVE directive which does not match this kernel/arch/config.
                This indicates that it should not be built.
                develtrace: dkms exited with 77
                """
            #expect(
                SampleBuild.dkmsSaid(skipped)
                    == "The /var/lib/dkms/acpi-call/1.2.2/6.1.0-56-amd64/x86_64/dkms.conf for module acpi-call includes a BUILD_EXCLUSIVE directive which does not match this kernel/arch/config."
            )
            let badConf = """
                dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.
                Error! Bad conf file.
                File: /usr/src/x-1/dkms.conf does not represent a valid dkms.conf file.
                """
            #expect(SampleBuild.dkmsSaid(badConf) == "No 'BUILT_MODULE_NAME' directive specified for record #0.")
            #expect(SampleBuild.dkmsSaid("make: *** [Makefile:2] Error 2\n") == nil)
        }

        @Test("DKMS's modules are found where it files them, by name; a Kbuild sample's anywhere, by path")
        func modulesFiled() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-filed-\(getpid())")
            defer { try? FileManager.default.removeItem(at: directory) }
            for path in ["m/1.0/6.1.0-56-amd64/x86_64/module/m.ko", "m/1.0/build/leftover.ko", "sub/k.ko"] {
                let file = directory.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data("\u{7f}ELF".utf8).write(to: file)
            }
            #expect(SampleBuild.modules(in: RawPath(directory.path), dkms: true).keys.sorted() == ["m.ko"])
            #expect(
                SampleBuild.modules(in: RawPath(directory.path), dkms: false).keys.sorted() == [
                    "m/1.0/6.1.0-56-amd64/x86_64/module/m.ko", "m/1.0/build/leftover.ko", "sub/k.ko",
                ])
        }

        @Test("the host's kernel trees are out of the builds' sight, except where the configuration mounts")
        func hostKernelsHidden() throws {
            let library = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-lib-\(getpid())")
            defer { try? FileManager.default.removeItem(at: library) }
            for name in ["linux-kbuild-6.1", "linux-kbuild-6.12", "gcc"] {
                try FileManager.default.createDirectory(at: library.appendingPathComponent(name), withIntermediateDirectories: true)
            }
            let lib = RawPath(library.path)
            var configuration = SandboxConfiguration()
            configuration.overlays = [.init(lower: RawPath("/x"), target: lib.appending(RawPath("linux-kbuild-6.1")))]
            let hidden = configuration.hidingHostKernels(libraryDirectory: lib)
            #expect(hidden.tmpfs == [RawPath("/usr/src"), RawPath("/usr/lib/modules")])
            #expect(hidden.hidden == [lib.appending(RawPath("linux-kbuild-6.12"))])
            // A candidate that brings /usr/lib/modules itself replaces it.
            configuration.overlays.append(.init(lower: RawPath("/y"), target: RawPath("/usr/lib/modules")))
            #expect(configuration.hidingHostKernels(libraryDirectory: lib).tmpfs == [RawPath("/usr/src")])
        }
    }
}
