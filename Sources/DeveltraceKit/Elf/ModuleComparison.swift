import CElf
import Foundation

/// Compares a module built against the full tree with the same module built
/// against the candidate, with libelf: the sections that make up the
/// module (code, data, `.modinfo` with vermagic, `__versions` CRCs, `.BTF`),
/// not those that carry build paths (DWARF) or hash them (build-id); `.BTF`
/// by what it describes (`BTFShape`), not by its bytes.
public struct ModuleComparison: Sendable, Hashable, Codable {
    /// Sections only the reference has, only the candidate has, or whose
    /// bytes differ.
    public var onlyInReference: [String]
    public var onlyInCandidate: [String]
    public var differing: [String]
    /// `vermagic=` of each, when they differ.
    public var vermagic: [String]?
    /// `srcversion=` of each, when they differ. Left out of `.modinfo`'s
    /// comparison: modpost hashes the text of the module's own sources,
    /// generated ones included, so a `configure` that writes its compile
    /// tests' output (with the kernel directory's paths) into a header
    /// changes it while the code stays the same (iptables-netflow's
    /// `compat_def.h`); what the code became is in the other sections.
    public var srcversion: [String]? = nil
    /// Each one's module signature (`unsigned`, `signed (sha256)`), when
    /// they differ. DKMS appends one with `sign-file` when it finds the tool
    /// and a key: a module the candidate leaves unsigned does not load under
    /// Secure Boot, and without `.config` DKMS signs with another digest
    /// than the kernel's. The signature's bytes are not compared (DKMS makes
    /// a key for each build that has none).
    public var signature: [String]? = nil

    public var isIdentical: Bool { onlyInReference.isEmpty && onlyInCandidate.isEmpty && differing.isEmpty && signature == nil }

    /// Sections whose content depends on where the sources were, not on what
    /// was built.
    static func ignored(_ name: String) -> Bool {
        name.hasPrefix(".debug") || name.hasPrefix(".rela.debug") || name.hasPrefix(".zdebug") || name == ".note.gnu.build-id"
            || name == ".comment" || name == ".symtab" || name == ".strtab" || name == ".shstrtab"
    }

    /// Bytes, except for `.BTF`, whose bytes depend on pahole's thread
    /// timing: there, what it describes (`BTFShape`).
    static func sameContent(_ name: String, _ left: [UInt8], _ right: [UInt8]) -> Bool {
        if left == right { return true }
        guard name == ".BTF", let leftShape = BTFShape(left), let rightShape = BTFShape(right) else { return false }
        return leftShape == rightShape
    }

    /// `ignoringVermagic`: the reference tree and the candidate are for
    /// different kernel releases, so `vermagic=` differs by design and is
    /// left out of `.modinfo`'s comparison (it is still reported).
    public static func compare(reference: RawPath, candidate: RawPath, ignoringVermagic: Bool = false) -> ModuleComparison? {
        guard var left = sections(of: reference), var right = sections(of: candidate) else { return nil }
        let leftMagic = vermagic(left[".modinfo"])
        let rightMagic = vermagic(right[".modinfo"])
        let leftSource = modinfo("srcversion", left[".modinfo"])
        let rightSource = modinfo("srcversion", right[".modinfo"])
        let leftOut = ignoringVermagic ? ["vermagic", "srcversion"] : ["srcversion"]
        left[".modinfo"] = left[".modinfo"].map { without(leftOut, $0) }
        right[".modinfo"] = right[".modinfo"].map { without(leftOut, $0) }
        let leftNames = Set(left.keys.filter { !ignored($0) })
        let rightNames = Set(right.keys.filter { !ignored($0) })
        var result = ModuleComparison(
            onlyInReference: leftNames.subtracting(rightNames).sorted(), onlyInCandidate: rightNames.subtracting(leftNames).sorted(),
            differing: leftNames.intersection(rightNames).filter { !sameContent($0, left[$0]!, right[$0]!) }.sorted(),
            vermagic: nil)
        if leftMagic != rightMagic { result.vermagic = [leftMagic ?? "", rightMagic ?? ""] }
        if leftSource != rightSource { result.srcversion = [leftSource ?? "", rightSource ?? ""] }
        let signatures = [ModuleSignature(path: reference).description, ModuleSignature(path: candidate).description]
        if signatures[0] != signatures[1] { result.signature = signatures }
        return result
    }

    /// Section contents by name (SHT_NOBITS sections as their size).
    static func sections(of path: RawPath) -> [String: [UInt8]]? {
        guard elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE) else { return nil }
        let sections = try? withOpened(path, O_RDONLY) { fd -> [String: [UInt8]]? in
            guard let elf = elf_begin(fd, ELF_C_READ, nil) else { return nil }
            defer { elf_end(elf) }
            var stringIndex: Int = 0
            guard elf_getshdrstrndx(elf, &stringIndex) == 0 else { return nil }
            var result: [String: [UInt8]] = [:]
            var section = elf_nextscn(elf, nil)
            while let current = section {
                var header = GElf_Shdr()
                if gelf_getshdr(current, &header) != nil, let namePointer = elf_strptr(elf, stringIndex, Int(header.sh_name)) {
                    let name = String(cString: namePointer)
                    if header.sh_type == UInt32(SHT_NOBITS) {
                        result[name] = Array("nobits:\(header.sh_size)".utf8)
                    } else if let data = elf_getdata(current, nil), let buffer = data.pointee.d_buf {
                        result[name] = Array(UnsafeRawBufferPointer(start: buffer, count: Int(data.pointee.d_size)))
                    } else {
                        result[name] = []
                    }
                }
                section = elf_nextscn(elf, current)
            }
            return result
        }
        return sections ?? nil
    }

    /// `.modinfo` without its `vermagic=` entry.
    static func withoutVermagic(_ modinfo: [UInt8]) -> [UInt8] { without(["vermagic"], modinfo) }

    /// `.modinfo` without the entries of these keys.
    static func without(_ keys: [String], _ modinfo: [UInt8]) -> [UInt8] {
        let prefixes = keys.map { Array("\($0)=".utf8) }
        return Array(
            modinfo.split(separator: 0, omittingEmptySubsequences: false).filter { entry in
                !prefixes.contains { entry.starts(with: $0) }
            }.joined(separator: [0]))
    }

    static func vermagic(_ modinfo: [UInt8]?) -> String? { Self.modinfo("vermagic", modinfo) }

    /// The value of `key=` in `.modinfo`.
    static func modinfo(_ key: String, _ modinfo: [UInt8]?) -> String? {
        guard let modinfo else { return nil }
        let prefix = Array("\(key)=".utf8)
        for entry in modinfo.split(separator: 0) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }
}
