extension ELFFile {
    /// The wheel architecture name of this binary (`x86_64`, `aarch64`, `i686`, ...),
    /// or nil for a machine no manylinux policy covers (or a soft-float ARM binary).
    public var architecture: String? {
        switch (machine, bits, littleEndian) {
        case (3, 32, true): return "i686"
        case (62, 64, true): return "x86_64"
        case (21, 64, true): return "ppc64le"
        case (21, 64, false): return "ppc64"
        case (243, 64, true): return "riscv64"
        case (183, 64, true): return "aarch64"
        case (22, 64, false): return "s390x"
        case (258, 64, true): return "loongarch64"
        case (40, 32, true):
            // armv7l wheels must use EABI version 5 with the hard-float ABI.
            let eabi = flags & 0xff00_0000, hardFloat = flags & 0x400
            return eabi == 0x0500_0000 && hardFloat != 0 ? "armv7l" : nil
        default: return nil
        }
    }

    /// The x86-64 micro-architecture level this binary declares it needs (2, 3 or 4),
    /// 1 when it declares only the baseline, nil when it declares nothing.
    public var x86ISALevel: Int? {
        guard let mask = x86ISANeeded else { return nil }
        if mask & 8 != 0 { return 4 }
        if mask & 4 != 0 { return 3 }
        if mask & 2 != 0 { return 2 }
        return 1
    }

    /// Whether two binaries can be loaded into the same process (class, byte order, machine).
    public func isCompatible(with other: ELFFile) -> Bool {
        let gnuLike: Set<UInt8> = [0, 3]
        let abiOK = osABI == other.osABI || (gnuLike.contains(osABI) && gnuLike.contains(other.osABI))
        return abiOK && bits == other.bits && littleEndian == other.littleEndian && machine == other.machine
    }

    /// Whether this is a Python extension module: it defines `PyInit_<name>` (or the
    /// Python 2 / PyPy cffi entry points), where `<name>` is the file name up to its first dot.
    public func isPythonExtension(fileName: String) -> Bool {
        let module = fileName.split(separator: ".", maxSplits: 1).first.map(String.init) ?? fileName
        let entryPoints: Set<String> = ["PyInit_" + module, "init" + module, "_cffi_pypyinit_" + module]
        return dynamicSymbols.contains { !$0.isUndefined && $0.type == 2 && entryPoints.contains($0.name) }
    }

    /// Names of undefined symbols that are not weak: what this binary requires from others.
    public var requiredSymbols: Set<String> {
        Set(dynamicSymbols.lazy.filter { $0.isUndefined && $0.binding != 2 }.map(\.name))
    }
}
