import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct LookupCaching {
        static func key(_ path: String, _ signature: UInt64 = 1) -> LookupCache.Key {
            LookupCache.Key(path: RawPath(path), signature: signature)
        }

        static func filled(_ entries: [(String, AccessResult)]) -> LookupCache {
            var cache = LookupCache()
            for (path, result) in entries { cache.insert(result, for: key(path), lookedUpAt: cache.generation) }
            return cache
        }

        @Test("only canonical paths key a result: absolute, no .. and no trailing slash")
        func canonical() {
            #expect(LookupCache.isCanonical(RawPath("/")))
            #expect(LookupCache.isCanonical(RawPath("/usr/include/stdio.h")))
            #expect(LookupCache.isCanonical(RawPath("/a/..b/.c")))
            #expect(!LookupCache.isCanonical(RawPath("include/stdio.h")))
            #expect(!LookupCache.isCanonical(RawPath("/usr/../etc/passwd")))
            #expect(!LookupCache.isCanonical(RawPath("/usr/..")))
            #expect(!LookupCache.isCanonical(RawPath("/usr/include/")))
            #expect(!LookupCache.isCanonical(RawPath("/usr//include")))
            var cache = LookupCache()
            cache.insert(.ok, for: Self.key("/usr/../etc/passwd"), lookedUpAt: 0)
            #expect(cache.count == 0)
        }

        @Test("a result is found under its path and signature only")
        func found() {
            let cache = Self.filled([("/usr/include/stdio.h", .ok), ("/tree/include/linux/x.h", .failed(.noSuchFileOrDirectory))])
            #expect(cache.result(for: Self.key("/usr/include/stdio.h")) == .ok)
            #expect(cache.result(for: Self.key("/usr/include/stdio.h", 2)) == nil)
            #expect(cache.result(for: Self.key("/tree/include/linux/x.h")) == .failed(.noSuchFileOrDirectory))
            #expect(cache.count == 2)
        }

        @Test("a change drops its path and everything below it, and nothing else")
        func scoped() {
            var cache = Self.filled([
                ("/m/a.o", .failed(.noSuchFileOrDirectory)), ("/m/b.o", .ok), ("/m/sub/c.h", .failed(.noSuchFileOrDirectory)),
                ("/m/sub/deeper/d.h", .failed(.noSuchFileOrDirectory)), ("/usr/include/stdio.h", .ok), ("/m2/x", .ok),
            ])
            cache.beginChange(at: RawPath("/m/a.o"))
            cache.endChange()
            #expect(cache.result(for: Self.key("/m/a.o")) == nil)
            #expect(cache.result(for: Self.key("/m/b.o")) == .ok)
            cache.beginChange(at: RawPath("/m/sub"))
            cache.endChange()
            #expect(cache.result(for: Self.key("/m/sub/c.h")) == nil)
            #expect(cache.result(for: Self.key("/m/sub/deeper/d.h")) == nil)
            #expect(cache.result(for: Self.key("/m/b.o")) == .ok)
            #expect(cache.result(for: Self.key("/m2/x")) == .ok, "/m2 is not below /m")
            #expect(cache.result(for: Self.key("/usr/include/stdio.h")) == .ok)
            #expect(cache.count == 3)
        }

        @Test("a change that is not canonical, or of permissions (nil), drops everything")
        func unscoped() {
            var cache = Self.filled([("/m/a.o", .ok), ("/usr/include/stdio.h", .ok)])
            cache.beginChange(at: RawPath("/m/../usr/x"))
            cache.endChange()
            #expect(cache.count == 0)
            cache = Self.filled([("/m/a.o", .ok)])
            cache.beginChange(at: nil)
            cache.endChange()
            #expect(cache.result(for: Self.key("/m/a.o")) == nil)
        }

        @Test("a lookup that began before a change began or ended is not kept, nor one made while a change runs")
        func races() {
            var cache = LookupCache()
            let before = cache.generation
            cache.beginChange(at: RawPath("/m/a.o"))
            cache.insert(.failed(.noSuchFileOrDirectory), for: Self.key("/m/a.o"), lookedUpAt: before)
            #expect(cache.count == 0, "looked up before the change began")
            cache.insert(.failed(.noSuchFileOrDirectory), for: Self.key("/m/a.o"), lookedUpAt: cache.generation)
            #expect(cache.count == 0, "looked up while the change ran")
            let during = cache.generation
            cache.endChange()
            cache.insert(.ok, for: Self.key("/m/a.o"), lookedUpAt: during)
            #expect(cache.count == 0, "began before the change ended")
            cache.insert(.ok, for: Self.key("/m/a.o"), lookedUpAt: cache.generation)
            #expect(cache.result(for: Self.key("/m/a.o")) == .ok)
        }

        @Test("a path known to meet a symlink is remembered as such, gives no result, and goes with a change above it")
        func throughSymlink() {
            var cache = LookupCache()
            cache.insert(.throughSymlink, for: Self.key("/lib/x86_64-linux-gnu/libc.so.6"), lookedUpAt: cache.generation)
            #expect(cache.entry(for: Self.key("/lib/x86_64-linux-gnu/libc.so.6")) == .throughSymlink)
            #expect(cache.result(for: Self.key("/lib/x86_64-linux-gnu/libc.so.6")) == nil)
            cache.beginChange(at: RawPath("/lib"))
            cache.endChange()
            #expect(cache.entry(for: Self.key("/lib/x86_64-linux-gnu/libc.so.6")) == nil)
        }

        @Test("past its capacity the cache starts again empty")
        func capacity() {
            var cache = LookupCache(capacity: 4)
            for i in 0..<4 { cache.insert(.ok, for: Self.key("/d/\(i)"), lookedUpAt: cache.generation) }
            #expect(cache.count == 4)
            cache.insert(.ok, for: Self.key("/d/4"), lookedUpAt: cache.generation)
            #expect(cache.count == 1)
            #expect(cache.result(for: Self.key("/d/4")) == .ok)
            #expect(cache.result(for: Self.key("/d/0")) == nil)
        }
    }
}
