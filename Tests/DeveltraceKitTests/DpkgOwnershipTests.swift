import Foundation
import Testing

@testable import DeveltraceKit

extension Machine {
    /// `FileOwners` against the real `dpkg -S` on this host: the same owner
    /// for every path dpkg records, found from the path a build opens
    /// (merged `/usr`, where dpkg -S itself finds nothing).
    @Suite struct DpkgOwnership {
        /// `dpkg -S PATH`'s packages, or nil if it knows no owner.
        static func dpkgOwners(_ path: String) throws -> Set<String>? {
            let pipe = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg")
            process.arguments = ["-S", path]
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
            // `pkg1, pkg2: /path` (or `diversion by …` lines, skipped).
            var owners = Set<String>()
            for line in output.split(separator: "\n") where !line.hasPrefix("diversion ") {
                guard let colon = line.range(of: ": /") else { continue }
                for name in line[..<colon.lowerBound].split(separator: ",") {
                    owners.insert(String(name.trimmingCharacters(in: .whitespaces).split(separator: ":").first!))
                }
            }
            return owners
        }

        @Test("the owner of what a build opens equals dpkg -S of the path dpkg records")
        func againstDpkg() throws {
            let owners = try #require(FileOwners.load(), "this host has a dpkg database")
            let host = LiveHostView()
            // (what a build names, what dpkg records for the file it reaches)
            var cases: [(String, String)] = [("/usr/bin/make", "/usr/bin/make"), ("/usr/bin/dash", "/bin/dash")]
            if host.kind(of: RawPath("/bin")) == .symlink { cases.append(("/usr/bin/sh", "/bin/sh")) }
            if host.kind(of: RawPath("/usr/bin/x86_64-linux-gnu-gcc-12")) != nil {
                cases.append(("/usr/bin/x86_64-linux-gnu-gcc-12", "/usr/bin/x86_64-linux-gnu-gcc-12"))
            }
            for (opened, recorded) in cases {
                let expected = try #require(try Self.dpkgOwners(recorded), "dpkg -S \(recorded)")
                let hops = owners.hops(of: RawPath(opened), host: host)
                #expect(hops.first?.owners == expected, "\(opened): \(hops)")
            }
            // Through an alternative: cc → /etc/alternatives/cc → … → a file
            // dpkg says a package owns.
            if host.kind(of: RawPath("/usr/bin/cc")) == .symlink {
                let hops = owners.hops(of: RawPath("/usr/bin/cc"), host: host)
                #expect(hops.first?.alternative == "cc")
                let last = try #require(hops.last)
                #expect(!last.isLink)
                #expect(!last.owners.isEmpty, "\(hops)")
                if let real = host.realPath(of: RawPath("/usr/bin/cc")), let expected = try Self.dpkgOwners(real.description) {
                    #expect(last.owners == expected)
                }
            }
        }

        @Test("every path this host's dpkg lists: the index's owners and files as a plain dictionary of the same lists has them")
        func indexAgainstDictionary() throws {
            let info = "/var/lib/dpkg/info"
            let names = try FileManager.default.contentsOfDirectory(atPath: info).filter { $0.hasSuffix(".list") }.sorted()
            var lists: [(package: String, text: [UInt8])] = []
            for name in names {
                let package = String(name.dropLast(5).split(separator: ":").first!)
                lists.append((package, try FileReading.bytes(of: RawPath("\(info)/\(name)"))))
            }
            let resolver = RealDirectories(host: LiveHostView())
            let real = { (directory: RawPath) in resolver.real(directory) ?? directory }
            let owners = FileOwners(listTexts: lists, diversions: [], alternatives: [], realDirectory: real)
            // The model: each listed path keyed by its parent's real path and its name.
            var expected: [RawPath: Set<String>] = [:]
            var files: [String: Set<RawPath>] = [:]
            for (package, text) in lists {
                for line in text.split(separator: 10) where line.first == 47 && line.count > 1 {
                    let path = RawPath(bytes: Array(line))
                    let parent = real(path.parent)
                    let location = parent == path.parent ? path : parent.appending(path.lastComponent)
                    expected[location, default: []].insert(package)
                    files[package, default: []].insert(location)
                }
            }
            #expect(expected.count > 10000, "a Debian host lists tens of thousands of paths")
            var differing = 0
            for (location, packages) in expected where owners.owners(of: location) != packages {
                differing += 1
                if differing < 5 { Issue.record("\(location): \(owners.owners(of: location)) where the lists say \(packages)") }
            }
            #expect(differing == 0)
            for (package, locations) in files { #expect(Set(owners.files(of: package)) == locations, "\(package)") }
        }

        @Test("the host's dpkg database: Essential packages are installed and closed over")
        func installed() throws {
            let installed = try #require(InstalledPackages.load())
            let essential = installed.essentialClosure
            for name in ["dpkg", "bash", "coreutils", "libc6"] { #expect(essential.contains(name), "\(name)") }
            #expect(!essential.contains("gcc-12"))
            let make = installed.closure(of: PackageRelation.parse("make"))
            #expect(make.packages.contains("make") && make.unsatisfied.isEmpty)
        }

        @Test("every directory dpkg lists here resolves as realpath(3) resolves it, one lstat each")
        func realDirectoriesAgainstRealpath() throws {
            let info = "/var/lib/dpkg/info"
            let lists = try FileManager.default.contentsOfDirectory(atPath: info).filter { $0.hasSuffix(".list") }
            var directories = Set<RawPath>()
            for list in lists {
                let bytes = try FileReading.bytes(of: RawPath("\(info)/\(list)"))
                for line in bytes.split(separator: 10) where line.first == 47 && line.count > 1 {
                    directories.insert(RawPath(bytes: Array(line)).parent)
                }
            }
            #expect(directories.count > 1000, "a Debian host lists thousands of directories")
            let host = LiveHostView()
            let resolver = RealDirectories(host: host)
            var throughLinks = 0
            for directory in directories.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
                let real = resolver.real(directory)
                #expect(real == host.realPath(of: directory), "\(directory)")
                if let real, real != directory { throughLinks += 1 }
            }
            // Merged /usr: /lib/…, /bin/… and /sbin/… are listed and lead into /usr.
            if host.kind(of: RawPath("/lib")) == .symlink { #expect(throughLinks > 0) }
        }
    }
}
