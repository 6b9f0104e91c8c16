import Foundation

/// Runs a host tool (dpkg-deb, bsdtar, rpm2cpio, dpkg) outside any sandbox,
/// for staging inputs. Output is captured; the status is returned.
enum HostCommand {
    struct Result {
        var status: Int32
        var output: Data
        var error: String
    }

    static func run(
        _ arguments: [String], input: FileHandle? = nil, output: FileHandle? = nil, directory: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = output ?? out
        process.standardError = err
        if let input { process.standardInput = input } else { process.standardInput = FileHandle.nullDevice }
        do { try process.run() } catch { throw InputError.tool(arguments[0], "cannot be started: \(error)") }
        var data = Data()
        let errData: Data
        if output == nil {
            // Read both pipes without deadlocking on a full one.
            let group = DispatchGroup()
            nonisolated(unsafe) var stderrData = Data()
            group.enter()
            DispatchQueue.global().async {
                stderrData = err.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
            data = out.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            errData = stderrData
        } else {
            errData = err.fileHandleForReading.readDataToEndOfFile()
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: data, error: String(decoding: errData, as: UTF8.self))
    }
}
