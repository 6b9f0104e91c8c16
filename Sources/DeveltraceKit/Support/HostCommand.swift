import CDeveltrace
import Foundation
import SystemPackage

/// Runs a host tool (dpkg-deb, bsdtar, rpm2cpio, dpkg, cp) outside any
/// sandbox, for staging inputs. Output is captured; the status is returned.
///
/// Started with `posix_spawn` (`dt_spawn_host`) and waited for with
/// `waitpid` on its own pid: Foundation's `Process` noticed a child's end
/// by polling a run loop every 50 ms, which a check paid for every tool it
/// ran (`dpkg-deb` twice a package, `cp` for every build).
enum HostCommand {
    struct Result {
        var status: Int32
        var output: Data
        var error: String
    }

    /// Runs `arguments` (the tool looked up in PATH), in `directory` if
    /// given, with standard input from /dev/null; returns its exit status
    /// (128 + the signal that ended it) and what it wrote.
    static func run(_ arguments: [String], directory: String? = nil) throws -> Result {
        precondition(!arguments.isEmpty, "a host command names its tool")
        let (outputPipe, errorPipe): ([Int32], [Int32])
        do throws(Errno) { (outputPipe, errorPipe) = try twoPipes() } catch {
            throw InputError.tool(arguments[0], "cannot be started: \(error)")
        }
        let outputRead = OwnedDescriptor(adopting: outputPipe[0])
        let outputWrite = OwnedDescriptor(adopting: outputPipe[1])
        let errorRead = OwnedDescriptor(adopting: errorPipe[0])
        let errorWrite = OwnedDescriptor(adopting: errorPipe[1])
        let null: OwnedDescriptor
        do throws(Errno) { null = try OwnedDescriptor.open(RawPath("/dev/null"), O_RDONLY) } catch {
            throw InputError.tool(arguments[0], "cannot be started: /dev/null: \(error)")
        }
        let (input, outputEnd, errorEnd) = (null.raw, outputWrite.raw, errorWrite.raw)
        let started = withCStrings(arguments) { argv in
            if let directory {
                directory.withCString { dt_spawn_host(argv, input, outputEnd, errorEnd, $0) }
            } else {
                dt_spawn_host(argv, input, outputEnd, errorEnd, nil)
            }
        }
        // The child has its copies: EOF on the pipes is its end.
        null.close()
        outputWrite.close()
        errorWrite.close()
        guard started > 0 else {
            throw InputError.tool(arguments[0], "cannot be started: \(Errno(rawValue: -started))")
        }
        let (out, err) = drain(outputRead.raw, errorRead.raw)
        var status: Int32 = 0
        do throws(Errno) { _ = try valueOrErrno { waitpid(started, &status, 0) } } catch {
            throw InputError.tool(arguments[0], "cannot be waited for: \(error)")
        }
        let exit: Int32
        switch WaitStatus(status) {
        case .exited(let code): exit = code
        case .signaled(let signal): exit = 128 + signal
        case .stopped, .other: exit = -1 // not asked for (no WUNTRACED)
        }
        return Result(status: exit, output: Data(out), error: String(decoding: err, as: UTF8.self))
    }

    /// Reads both pipes to their end, whichever has data (a tool that fills
    /// one while develtrace waited on the other would never end).
    private static func drain(_ first: Int32, _ second: Int32) -> ([UInt8], [UInt8]) {
        var buffers: [[UInt8]] = [[], []]
        var polled = [pollfd(fd: first, events: Int16(POLLIN), revents: 0), pollfd(fd: second, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65536)
        while polled.contains(where: { $0.fd >= 0 }) {
            guard (try? valueOrErrno({ poll(&polled, nfds_t(polled.count), -1) })) != nil else { break }
            for index in polled.indices where polled[index].fd >= 0 && polled[index].revents != 0 {
                let fd = polled[index].fd
                let count = (try? valueOrErrno { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }) ?? 0
                if count > 0 {
                    buffers[index].append(contentsOf: chunk[0..<count])
                } else {
                    polled[index].fd = -1 // the end, or an error: poll skips negative descriptors
                }
            }
        }
        return (buffers[0], buffers[1])
    }

    /// `body` with `strings` as a NULL-terminated array of C strings.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return body(copies + [nil])
    }
}
