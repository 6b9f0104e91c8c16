import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct ElfMachineTests {
        /// The first 20 bytes of an ELF header: magic, class, data, then
        /// e_type and e_machine in the file's byte order.
        static func header(data: UInt8, machine: UInt16) -> [UInt8] {
            var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, data, 1] + [UInt8](repeating: 0, count: 9) + [0, 2]
            bytes += data == 1 ? [UInt8(machine & 0xFF), UInt8(machine >> 8)] : [UInt8(machine >> 8), UInt8(machine & 0xFF)]
            return bytes
        }

        @Test("e_machine in either byte order; not ELF, or too short: nil")
        func machineOfAHeader() {
            #expect(ElfMachine.of(header: Self.header(data: 1, machine: 183)) == .aarch64)
            #expect(ElfMachine.of(header: Self.header(data: 2, machine: 22))?.description == "IBM S/390")
            #expect(ElfMachine.of(header: Self.header(data: 1, machine: 62))?.description == "x86-64")
            #expect(ElfMachine.of(header: Array("#!/bin/sh\necho not a program\n".utf8)) == nil)
            #expect(ElfMachine.of(header: Self.header(data: 1, machine: 62).prefix(19)) == nil)
            #expect(ElfMachine.of(header: Self.header(data: 0, machine: 62)) == nil, "no byte order")
            #expect(ElfMachine(code: 9999).description == "ELF machine 9999")
        }

        @Test("what a machine runs natively: its own programs and its 32-bit companion's")
        func runnable() {
            #expect(ElfMachine.runnable(onMachine: "x86_64") == [.x86_64, .i386])
            #expect(ElfMachine.runnable(onMachine: "aarch64") == [.aarch64, .arm])
            #expect(!ElfMachine.runnable(onMachine: "x86_64").contains(.aarch64))
            #expect(ElfMachine.runnable(onMachine: "vax").isEmpty)
            #expect(!ElfMachine.native.isEmpty, "this machine is known")
        }
    }
}
