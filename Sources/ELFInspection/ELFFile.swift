import Glibc

/// Errors from reading an ELF file.
public enum ELFError: Error, CustomStringConvertible, Equatable {
    /// The bytes do not start with the ELF magic.
    case notELF
    /// A structure points outside the file.
    case truncated(String)
    /// A structure lies in the part of the file that was not supplied (see `ELFFile.init(head:tail:size:)`).
    case incomplete
    /// The file cannot be opened or mapped.
    case unreadable(String)
    /// A header field has a value the reader does not understand.
    case unsupported(String)

    public var description: String {
        switch self {
        case .notELF: return "not an ELF file"
        case let .truncated(what): return "truncated or corrupt ELF file (\(what))"
        case .incomplete: return "ELF data lies outside the part that was read"
        case let .unreadable(path): return "\(path): cannot open or map"
        case let .unsupported(what): return "unsupported ELF file (\(what))"
        }
    }
}

/// A versioned dependency on another shared object (one `Elf_Verneed` with its `Elf_Vernaux` entries).
public struct VersionNeed: Hashable, Sendable {
    /// The file name of the library, for example `libc.so.6`.
    public var file: String
    /// The version names required from it, for example `GLIBC_2.17`.
    public var versions: [String]
}

/// One entry of the dynamic symbol table.
public struct DynamicSymbol: Hashable, Sendable {
    /// The symbol name.
    public var name: String
    /// Whether the symbol is undefined here (to be provided by another object).
    public var isUndefined: Bool
    /// `STB_*` binding: 0 local, 1 global, 2 weak.
    public var binding: UInt8
    /// `STT_*` type: 0 notype, 1 object, 2 func.
    public var type: UInt8
    /// For an undefined symbol bound to a needed version, that version (for example `GLIBC_2.34`).
    public var version: String?
}

/// The parts of an ELF file that matter for auditing a wheel: identity, dynamic
/// linking information, symbol versions and x86 ISA requirements.
///
/// The parser is pure: it reads bytes in memory; `init(path:)` only maps a file for it.
public struct ELFFile: Sendable {
    /// 32 or 64.
    public let bits: Int
    /// Byte order.
    public let littleEndian: Bool
    /// `EI_OSABI`.
    public let osABI: UInt8
    /// `e_type` (2 executable, 3 shared object).
    public let fileType: UInt16
    /// `e_machine` (62 x86-64, 183 AArch64, ...).
    public let machine: UInt16
    /// `e_flags`.
    public let flags: UInt32
    /// The program interpreter (`PT_INTERP`), when present.
    public let interpreter: String?
    /// Whether the file has a dynamic section at all.
    public let isDynamic: Bool
    /// `DT_NEEDED` entries in order.
    public let needed: [String]
    /// `DT_SONAME`.
    public let soname: String?
    /// `DT_RPATH`, as written (colon separated).
    public let rpath: String?
    /// `DT_RUNPATH`, as written (colon separated).
    public let runpath: String?
    /// Versioned dependencies from `.gnu.version_r`.
    public let versionNeeds: [VersionNeed]
    /// The `GNU_PROPERTY_X86_ISA_1_NEEDED` bit mask, when the note is present.
    public let x86ISANeeded: UInt32?
    /// The undefined symbols of the dynamic symbol table, and the defined functions that
    /// look like module entry points (`PyInit_*`, `init*`, `_cffi_pypyinit_*`). Other defined
    /// symbols are not kept: large libraries export tens of thousands the auditor never needs.
    public let dynamicSymbols: [DynamicSymbol]

    /// Quick check of the ELF magic, for filtering archive members before reading them whole.
    public static func hasMagic<C: Collection>(_ prefix: C) -> Bool where C.Element == UInt8 {
        Array(prefix.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46]
    }

    /// Parses an ELF file from its bytes.
    public init(bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { buffer in
            try ELFFile(reader: ByteReader(head: buffer, tail: UnsafeRawBufferPointer(start: nil, count: 0), size: buffer.count))
        }
    }

    /// Parses the ELF file at `path`, mapping it rather than reading it, so that only the pages
    /// the parser touches are loaded (a 2 MB libc costs a few pages).
    public init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ELFError.unreadable(path) }
        defer { close(fd) }
        try self.init(fileDescriptor: fd, name: path)
    }

    /// Parses the ELF file open as `fd` (a regular file), by mapping it.
    public init(fileDescriptor fd: Int32, name: String = "file") throws {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw ELFError.unreadable(name) }
        let size = Int(info.st_size)
        guard size >= 52 else { throw size >= 4 ? ELFError.truncated("header") : ELFError.notELF }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { throw ELFError.unreadable(name) }
        defer { munmap(base, size) }
        let buffer = UnsafeRawBufferPointer(start: base, count: size)
        self = try ELFFile(reader: ByteReader(head: buffer, tail: UnsafeRawBufferPointer(start: nil, count: 0), size: size))
    }

    init(reader r: ByteReader) throws {
        bits = r.bits
        littleEndian = r.little
        osABI = try r.u8(7)
        fileType = try r.u16(16)
        machine = try r.u16(18)
        let is64 = bits == 64
        flags = try r.u32(is64 ? 48 : 36)
        let phoff = try r.word(is64 ? 32 : 28)
        let shoff = try r.word(is64 ? 40 : 32)
        let phentsize = Int(try r.u16(is64 ? 54 : 42))
        let phnum = Int(try r.u16(is64 ? 56 : 44))
        let shentsize = Int(try r.u16(is64 ? 58 : 46))
        var shnum = Int(try r.u16(is64 ? 60 : 48))
        var shstrndx = Int(try r.u16(is64 ? 62 : 50))

        // Program headers: the interpreter, and the dynamic segment as a fallback for stripped section tables.
        var interp: String? = nil
        var dynamicSegment: (offset: Int, size: Int)? = nil
        var loads: [(vaddr: Int, offset: Int, filesz: Int)] = []
        var propertySegment: (offset: Int, size: Int)? = nil
        if phoff > 0 && phnum > 0 {
            guard phentsize >= (is64 ? 56 : 32) else { throw ELFError.truncated("program header size") }
            for i in 0..<phnum {
                let base = phoff + i * phentsize
                let type = try r.u32(base)
                let offset = is64 ? try r.word(base + 8) : try r.word(base + 4)
                let vaddr = is64 ? try r.word(base + 16) : try r.word(base + 8)
                let filesz = is64 ? try r.word(base + 32) : try r.word(base + 16)
                switch type {
                case 3: interp = try r.cString(offset, limit: filesz)
                case 2: dynamicSegment = (offset, filesz)
                case 1: loads.append((vaddr, offset, filesz))
                case 0x6474_e553: propertySegment = (offset, filesz)
                default: break
                }
            }
        }
        interpreter = interp

        // Section headers.
        struct Section { var type: UInt32; var offset: Int; var size: Int; var link: Int; var entsize: Int; var name: Int }
        var sections: [Section] = []
        if shoff > 0 {
            guard shentsize >= (is64 ? 64 : 40) else { throw ELFError.truncated("section header size") }
            // Extended numbering: a zero count or SHN_XINDEX index lives in section 0.
            if shnum == 0 { shnum = Int(try r.word(shoff + (is64 ? 32 : 20))) }
            if shstrndx == 0xffff { shstrndx = try Int(r.u32(shoff + (is64 ? 40 : 24))) }
            guard shnum < 1 << 20 else { throw ELFError.truncated("section count") }
            for i in 0..<shnum {
                let base = shoff + i * shentsize
                if is64 {
                    sections.append(
                        Section(
                            type: try r.u32(base + 4), offset: try r.word(base + 24), size: try r.word(base + 32),
                            link: Int(try r.u32(base + 40)), entsize: try r.word(base + 56), name: Int(try r.u32(base))))
                } else {
                    sections.append(
                        Section(
                            type: try r.u32(base + 4), offset: try r.word(base + 16), size: try r.word(base + 20),
                            link: Int(try r.u32(base + 24)), entsize: try r.word(base + 36), name: Int(try r.u32(base))))
                }
            }
        }

        // The dynamic section: prefer the section (it names its string table), fall back to the segment.
        var needed: [String] = []
        var soname: String? = nil, rpath: String? = nil, runpath: String? = nil
        var dynEntries: [(tag: Int, value: Int)] = []
        var dynStrOffset: Int? = nil
        var dynStrSize = 0
        let dynEntSize = is64 ? 16 : 8
        if let dyn = sections.first(where: { $0.type == 6 }) {
            dynEntries = try Self.readDynamic(r, offset: dyn.offset, size: dyn.size, entsize: dynEntSize)
            if dyn.link < sections.count { dynStrOffset = sections[dyn.link].offset; dynStrSize = sections[dyn.link].size }
        } else if let seg = dynamicSegment {
            dynEntries = try Self.readDynamic(r, offset: seg.offset, size: seg.size, entsize: dynEntSize)
            if let strtab = dynEntries.first(where: { $0.tag == 5 })?.value,
                let load = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.filesz })
            {
                dynStrOffset = strtab - load.vaddr + load.offset
                dynStrSize = dynEntries.first(where: { $0.tag == 10 })?.value ?? (r.size - (dynStrOffset ?? 0))
            }
        }
        isDynamic = !dynEntries.isEmpty
        if let strOff = dynStrOffset {
            for entry in dynEntries {
                switch entry.tag {
                case 1: needed.append(try r.cString(strOff + entry.value, limit: dynStrSize - entry.value))
                case 14: soname = try r.cString(strOff + entry.value, limit: dynStrSize - entry.value)
                case 15: rpath = try r.cString(strOff + entry.value, limit: dynStrSize - entry.value)
                case 29: runpath = try r.cString(strOff + entry.value, limit: dynStrSize - entry.value)
                default: break
                }
            }
        } else if dynEntries.contains(where: { [1, 14, 15, 29].contains($0.tag) }) {
            throw ELFError.truncated("dynamic string table")
        }
        self.needed = needed
        self.soname = soname
        self.rpath = rpath
        self.runpath = runpath

        // Version needs (SHT_GNU_verneed).
        var needs: [VersionNeed] = []
        var versionByIndex: [UInt16: String] = [:]
        if let vr = sections.first(where: { $0.type == 0x6fff_fffe }), vr.link < sections.count {
            let str = sections[vr.link]
            var offset = vr.offset
            var guardCount = 0
            while guardCount < 4096 {
                guardCount += 1
                let cnt = Int(try r.u16(offset + 2))
                let file = try r.cString(str.offset + Int(try r.u32(offset + 4)), limit: str.size)
                let auxOffset = Int(try r.u32(offset + 8))
                let next = Int(try r.u32(offset + 12))
                var versions: [String] = []
                var aux = offset + auxOffset
                for _ in 0..<min(cnt, 4096) {
                    let versionName = try r.cString(str.offset + Int(try r.u32(aux + 8)), limit: str.size)
                    versions.append(versionName)
                    versionByIndex[try r.u16(aux + 6) & 0x7fff] = versionName
                    let auxNext = Int(try r.u32(aux + 12))
                    if auxNext == 0 { break }
                    aux += auxNext
                }
                needs.append(VersionNeed(file: file, versions: versions))
                if next == 0 { break }
                offset += next
            }
        }
        versionNeeds = needs

        // Dynamic symbols (SHT_DYNSYM).
        var symbols: [DynamicSymbol] = []
        if let ds = sections.first(where: { $0.type == 11 }), ds.link < sections.count {
            let str = sections[ds.link]
            // SHT_GNU_versym: one 16-bit version index per dynamic symbol.
            let versym = sections.first(where: { $0.type == 0x6fff_ffff })
            let entsize = ds.entsize > 0 ? ds.entsize : (is64 ? 24 : 16)
            // The header's size is a claim: a table cannot hold more entries than the file has
            // bytes, and nothing is reserved from the claim (a 192-byte file once asked for 2^44).
            guard ds.offset <= r.size, ds.size <= r.size - ds.offset else { throw ELFError.truncated("dynamic symbol table") }
            let count = ds.size / entsize
            symbols.reserveCapacity(min(count, 1 << 16))
            for i in 0..<count {
                let base = ds.offset + i * entsize
                let nameOffset = Int(try r.u32(base))
                let info = try r.u8(base + (is64 ? 4 : 12))
                let shndx = try r.u16(base + (is64 ? 6 : 14))
                guard nameOffset != 0 else { continue }
                if try shndx != 0 && !r.hasEntryPointPrefix(str.offset + nameOffset) { continue }
                let name = try r.cString(str.offset + nameOffset, limit: str.size - nameOffset)
                var version: String? = nil
                if shndx == 0, let versym, (i + 1) * 2 <= versym.size {
                    version = versionByIndex[try r.u16(versym.offset + i * 2) & 0x7fff]
                }
                symbols.append(DynamicSymbol(name: name, isUndefined: shndx == 0, binding: info >> 4, type: info & 0xf, version: version))
            }
        }
        dynamicSymbols = symbols

        // GNU property notes, for the x86 ISA level (x86-64 only).
        var isa: UInt32? = nil
        if machine == 62 {
            // The property note is found through PT_GNU_PROPERTY, else by its section name,
            // else by trying every note section (some of which may lie where the reader has no bytes).
            if let segment = propertySegment {
                isa = try Self.x86ISA(r, offset: segment.offset, size: segment.size, align: is64 ? 8 : 4)
            } else {
                var notes = sections.filter { $0.type == 7 }
                if shstrndx < sections.count {
                    let names = sections[shstrndx]
                    let named = notes.filter { (try? r.cString(names.offset + $0.name, limit: names.size - $0.name)) == ".note.gnu.property" }
                    if !named.isEmpty { notes = named }
                }
                for note in notes {
                    if let found = try Self.x86ISA(r, offset: note.offset, size: note.size, align: is64 ? 8 : 4) { isa = found; break }
                }
            }
        }
        x86ISANeeded = isa
    }

    private static func readDynamic(_ r: ByteReader, offset: Int, size: Int, entsize: Int) throws -> [(tag: Int, value: Int)] {
        var entries: [(Int, Int)] = []
        guard offset >= 0, size >= 0, offset <= r.size, size <= r.size - offset else { throw ELFError.truncated("dynamic section") }
        let count = size / entsize
        for i in 0..<count {
            let base = offset + i * entsize
            let tag = r.bits == 64 ? Int(truncatingIfNeeded: try r.u64(base)) : Int(Int32(bitPattern: try r.u32(base)))
            if tag == 0 { break }
            entries.append((tag, try r.word(base + entsize / 2)))
        }
        return entries
    }

    private static func x86ISA(_ r: ByteReader, offset: Int, size: Int, align: Int) throws -> UInt32? {
        var pos = offset
        let end = offset + size
        while pos + 12 <= end {
            let namesz = Int(try r.u32(pos)), descsz = Int(try r.u32(pos + 4)), type = try r.u32(pos + 8)
            let nameStart = pos + 12
            let descStart = nameStart + ((namesz + 3) & ~3)
            let name = namesz > 0 ? try r.cString(nameStart, limit: namesz) : ""
            if type == 5 && name == "GNU" {
                // NT_GNU_PROPERTY_TYPE_0: an array of (type, size, data padded to the word size).
                var p = descStart
                let descEnd = descStart + descsz
                while p + 8 <= descEnd {
                    let prType = try r.u32(p), prSize = Int(try r.u32(p + 4))
                    if prType == 0xc000_8002 && prSize == 4 { return try r.u32(p + 8) }
                    p += 8 + ((prSize + align - 1) & ~(align - 1))
                }
            }
            pos = descStart + ((descsz + align - 1) & ~(align - 1))
            if descsz == 0 && namesz == 0 { break }
        }
        return nil
    }
}

/// Bounds-checked, endian-aware reads over the bytes of an ELF file, of which the reader may
/// hold only a head and a tail (see `ELFFile.init(head:tail:size:)`).
struct ByteReader {
    let head: UnsafeRawBufferPointer
    let tail: UnsafeRawBufferPointer
    let tailStart: Int
    let size: Int
    let bits: Int
    let little: Bool

    init(head: UnsafeRawBufferPointer, tail: UnsafeRawBufferPointer, size: Int) throws {
        self.head = head
        self.tail = tail
        self.size = size
        tailStart = size - tail.count
        guard head.count >= 4, head[0] == 0x7f, head[1] == 0x45, head[2] == 0x4c, head[3] == 0x46 else { throw ELFError.notELF }
        guard head.count >= 52 else { throw ELFError.truncated("header") }
        switch head[4] {
        case 1: bits = 32
        case 2: bits = 64
        default: throw ELFError.unsupported("class \(head[4])")
        }
        switch head[5] {
        case 1: little = true
        case 2: little = false
        default: throw ELFError.unsupported("data encoding \(head[5])")
        }
        guard bits == 32 || head.count >= 64 else { throw ELFError.truncated("header") }
    }

    /// The buffer holding `[offset, offset + length)` and the index of `offset` in it.
    @inline(__always) func locate(_ offset: Int, _ length: Int) throws -> (UnsafeRawBufferPointer, Int) {
        guard offset >= 0, length >= 0, offset <= size - length else { throw ELFError.truncated("offset \(offset)") }
        if offset + length <= head.count { return (head, offset) }
        if offset >= tailStart { return (tail, offset - tailStart) }
        throw ELFError.incomplete
    }

    func u8(_ o: Int) throws -> UInt8 { let (b, i) = try locate(o, 1); return b[i] }

    func u16(_ o: Int) throws -> UInt16 {
        let (b, i) = try locate(o, 2)
        let x = UInt16(b[i]), y = UInt16(b[i + 1])
        return little ? x | y << 8 : x << 8 | y
    }

    func u32(_ o: Int) throws -> UInt32 {
        let (b, i) = try locate(o, 4)
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(b[i + k]) << (little ? 8 * k : 8 * (3 - k)) }
        return v
    }

    func u64(_ o: Int) throws -> UInt64 {
        let (b, i) = try locate(o, 8)
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(b[i + k]) << (little ? 8 * k : 8 * (7 - k)) }
        return v
    }

    /// A file offset or address, sized by the ELF class; rejects values that cannot be offsets.
    func word(_ o: Int) throws -> Int {
        let v = bits == 64 ? try u64(o) : UInt64(try u32(o))
        guard v < UInt64(Int.max / 4) else { throw ELFError.truncated("value at \(o)") }
        return Int(v)
    }

    /// Whether the NUL-terminated string at `offset` starts like a Python module entry point.
    func hasEntryPointPrefix(_ offset: Int) throws -> Bool {
        let (b, i) = try locate(offset, 1)
        for prefix in Self.entryPointPrefixes where i + prefix.count <= b.count {
            var match = true
            for (k, byte) in prefix.enumerated() where b[i + k] != byte { match = false; break }
            if match { return true }
        }
        return false
    }

    static let entryPointPrefixes: [[UInt8]] = [Array("PyInit_".utf8), Array("init".utf8), Array("_cffi_pypyinit_".utf8)]

    func cString(_ offset: Int, limit: Int) throws -> String {
        let (b, start) = try locate(offset, 1)
        let end = min(b.count, limit > 0 ? start + limit : b.count)
        var i = start
        while i < end && b[i] != 0 { i += 1 }
        // A string that runs off the end of the head continues in the part that is not held.
        if i == b.count && b.baseAddress == head.baseAddress && head.count < tailStart { throw ELFError.incomplete }
        return String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
    }
}
