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
