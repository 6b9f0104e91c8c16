import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct RawPathTests {
        @Test(
            "joining and normalizing keeps .. and drops . and repeated slashes",
            arguments: [
                ("/a/b", "c", "/a/b/c"),
                ("/a/b", "./c", "/a/b/c"),
                ("/a/b", "../c", "/a/b/../c"),
                ("/a/b", "c//d/", "/a/b/c/d"),
                ("/a/b", "/x/./y", "/x/y"),
                ("/a/b", ".", "/a/b"),
                ("/", "etc", "/etc"),
                ("/a/b", "", "/a/b"),
                ("/a", "./.hidden/..x", "/a/.hidden/..x"),
                ("/a", "x/.", "/a/x"),
            ])
        func join(base: String, path: String, expected: String) {
            #expect(RawPath(path).absolute(relativeTo: RawPath(base)) == RawPath(expected))
        }

        @Test("the one-pass join agrees with joining by hand and normalizing by components, on 20,000 made-up paths")
        func joinAgreesWithComponents() {
            // A fixed sequence (SplitMix64), so a failure can be replayed.
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            func next(_ bound: Int) -> Int {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return Int((z ^ (z >> 31)) % UInt64(bound))
            }
            let pieces: [[UInt8]] = [[], [47], [47, 47], [46], [46, 46], [46, 46, 46], [97], [98, 46, 104], [0xFF], [46, 104]]
            func path() -> [UInt8] { (0..<next(7)).flatMap { _ in pieces[next(pieces.count)] } }
            // The reference: join with a slash as the old code did, split
            // on slashes, drop empty and `.` components.
            func normalize(_ joined: [UInt8]) -> [UInt8] {
                let components = joined.split(separator: 47).filter { $0 != [46] }
                let body = components.map(Array.init).joined(separator: [47]).map { $0 }
                if joined.first == 47 { return [47] + body }
                return body.isEmpty ? [46] : body
            }
            func reference(_ base: [UInt8], _ relative: [UInt8]) -> [UInt8] {
                normalize(relative.first == 47 ? relative : base + (relative.isEmpty ? [] : [47] + relative))
            }
            var disagreements: [String] = []
            for _ in 0..<20_000 {
                let base = path()
                let relative = path()
                let joined = RawPath(bytes: relative).absolute(relativeTo: RawPath(bytes: base))
                let expected = reference(base, relative)
                if joined.bytes != expected {
                    disagreements.append(
                        "\(RawPath(bytes: base)) + \(RawPath(bytes: relative)): \(joined), not \(RawPath(bytes: expected))")
                }
                let alone = RawPath(bytes: base).normalized()
                let expectedAlone = normalize(base)
                if alone.bytes != expectedAlone {
                    disagreements.append("\(RawPath(bytes: base)) alone: \(alone), not \(RawPath(bytes: expectedAlone))")
                }
            }
            #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        }

        @Test("already normal paths come back unchanged", arguments: ["/", "/a", "/a/b.c", "/a/..", "/.a", "/a/.b/c", "a/b", "."])
        func normalIsUnchanged(path: String) {
            #expect(RawPath(path).normalized() == RawPath(path))
        }

        @Test(
            "resolvingDotDot takes .. lexically, drops . and empty components, and leaves names with dots alone",
            arguments: [
                ("/a/b/../c.h", "/a/c.h"),
                ("/a/./b.c", "/a/b.c"),
                ("/a//b.h", "/a/b.h"),
                ("/a/b.h/", "/a/b.h"),
                ("/a/b/..", "/a"),
                ("/..", "/"),
                ("a/../b.c", "b.c"),
                ("/x.c", "/x.c"),
                ("a/b.c", "a/b.c"),
                ("/a/.hidden/b", "/a/.hidden/b"),
                ("/a/..b/c...", "/a/..b/c..."),
                ("/", "/"),
                // Nothing is done without a dot at all (as before).
                ("/a//b", "/a//b"),
            ])
        func resolvingDotDot(path: String, expected: String) {
            #expect(RawPath(path).resolvingDotDot() == RawPath(expected))
        }

        @Test("bytes that are not UTF-8 survive, shown as \\xNN")
        func nonUTF8() {
            let path = RawPath(bytes: Array("/tmp/a-".utf8) + [0xFF, 0xFE] + Array("-é".utf8))
            #expect(path.utf8String == nil)
            #expect(path.description == "/tmp/a-\\xff\\xfe-é")
            #expect(RawPath(path.filePath) == path)
            #expect(path.absolute(relativeTo: RawPath("/x")) == path)
        }

        @Test("base64 round-trips every byte")
        func base64() {
            let bytes = (0...255).map { UInt8($0) }
            for length in [0, 1, 2, 3, 4, 255, 256] {
                let slice = Array(bytes.prefix(length))
                #expect(Base64.decode(Base64.encode(slice)) == slice)
            }
            #expect(Base64.encode(Array("foob".utf8)) == "Zm9vYg==")
        }
    }
}
