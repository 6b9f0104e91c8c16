import Synchronization
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct MemoizedFileFactsTests {
        /// A table that counts the questions it is asked.
        final class Counting: FileFacts {
            let table: TableFileFacts
            let asked = Mutex<[String: Int]>([:])
            init(_ table: TableFileFacts) { self.table = table }
            private func count(_ question: String) { asked.withLock { $0[question, default: 0] += 1 } }
            func kind(of path: RawPath, following: Bool) -> FileKind? {
                count("kind \(following) \(path)")
                return table.kind(of: path, following: following)
            }
            func linkTarget(of path: RawPath) -> RawPath? {
                count("link \(path)")
                return table.linkTarget(of: path)
            }
            func size(of path: RawPath) -> Int? {
                count("size \(path)")
                return table.size(of: path)
            }
            func content(of path: RawPath) -> [UInt8]? {
                count("content \(path)")
                return table.content(of: path)
            }
            func elfMachine(of path: RawPath) -> ElfMachine? {
                count("machine \(path)")
                return table.elfMachine(of: path)
            }
            func files(under path: RawPath) -> [RawPath] { table.files(under: path) }
        }

        @Test("each question is asked of the base once, absent answers too, and the answers are the base's")
        func once() {
            let base = Counting(
                TableFileFacts([
                    RawPath("/t/a.h"): .file(Array("a".utf8)), RawPath("/t/link"): .symlink(RawPath("a.h")),
                ]))
            let memo = MemoizedFileFacts(base)
            for _ in 0..<3 {
                #expect(memo.kind(of: RawPath("/t/a.h"), following: false) == .file)
                #expect(memo.kind(of: RawPath("/t/link"), following: false) == .symlink)
                #expect(memo.kind(of: RawPath("/t/link"), following: true) == .file)
                #expect(memo.kind(of: RawPath("/t/missing"), following: false) == nil)
                #expect(memo.linkTarget(of: RawPath("/t/link")) == RawPath("a.h"))
                #expect(memo.size(of: RawPath("/t/a.h")) == 1)
                #expect(memo.content(of: RawPath("/t/a.h")) == Array("a".utf8))
                #expect(memo.content(of: RawPath("/t/missing")) == nil)
            }
            let asked = base.asked.withLock { $0 }
            #expect(asked.count == 8)
            #expect(asked.values.allSatisfy { $0 == 1 }, "\(asked)")
        }

        @Test("contents are kept up to the budget, then asked again")
        func contentBudget() {
            let size = MemoizedFileFacts.contentBudget / 2 + 1
            let base = Counting(
                TableFileFacts([
                    RawPath("/big1"): .file([UInt8](repeating: 1, count: size)),
                    RawPath("/big2"): .file([UInt8](repeating: 2, count: size)),
                ]))
            let memo = MemoizedFileFacts(base)
            for _ in 0..<2 {
                #expect(memo.content(of: RawPath("/big1"))?.first == 1)
                #expect(memo.content(of: RawPath("/big2"))?.first == 2)
            }
            let asked = base.asked.withLock { $0 }
            #expect(asked["content /big1"] == 1, "kept")
            #expect(asked["content /big2"] == 2, "over the budget: not kept")
        }
    }
}
