import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct TraceEncoderTests {
        private func line(path: [UInt8], raw: [UInt8]? = nil) -> [UInt8] {
            let access = FileAccess(
                pid: 7, process: 5, syscall: "openat", path: RawPath(bytes: path), rawPath: RawPath(bytes: raw ?? path),
                intent: .read, result: .failed(.noSuchFileOrDirectory), sequence: 3)
            return TraceEncoder(format: .jsonl).encode(access)
        }

        @Test("a plain path is written as it is, with every member in order")
        func plain() {
            let text = String(decoding: line(path: Array("/usr/include/stdio.h".utf8)), as: UTF8.self)
            #expect(
                text
                    == #"{"kind":"access","seq":3,"pid":7,"process":5,"syscall":"openat","path":"/usr/include/stdio.h","intent":"read","result":"ENOENT"}"#
                    + "\n")
        }

        @Test("quotes, backslashes, control bytes and UTF-8 are escaped or kept as JSON says, and parse back to the same path")
        func escapes() throws {
            let path = Array("/a\"b\\c\nd\te\u{1}é".utf8)
            let bytes = line(path: path, raw: Array("./x\"".utf8))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains(#""path":"/a\"b\\c\nd\te\u0001é""#))
            #expect(text.contains(#""raw":"./x\"""#))
            #expect(!text.contains("Base64"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            #expect((object["path"] as? String).map { Array($0.utf8) } == path)
        }

        @Test("a path that is not UTF-8 gets U+FFFD in its string and its exact bytes in pathBase64")
        func notUTF8() throws {
            let path = Array("/bad-".utf8) + [0xFF, 0x22] + Array(".h".utf8)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line(path: path))) as? [String: Any])
            #expect(object["path"] as? String == "/bad-\u{FFFD}\".h")
            #expect((object["pathBase64"] as? String).flatMap(Base64.decode) == path)
        }
    }
}
