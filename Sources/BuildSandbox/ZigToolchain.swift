import Foundation
import WheelfarmBasics

/// Installs zig into a toolchain image as the C/C++ compiler for a glibc baseline.
///
/// Zig links against its own stubs of the chosen glibc version, so an extension built in a
/// Debian 12 root references only symbol versions that glibc 2.17 already had. The image gets:
/// - the `ziglang` wheel of the host's architecture unpacked in `/opt/wheelfarm/zig` (zig is a
///   static executable, so the host's zig also runs inside a foreign-architecture root, natively,
///   and cross-compiles for it);
/// - wrappers `cc`, `c++`, `gcc`, `g++` and the multiarch names in `/opt/wheelfarm/zig/bin`, which
///   add the target triple and put the root's headers and libraries *after* zig's libc, so
///   that `Python.h` and `-dev` packages are found while the libc stays the baseline's;
/// - a sysconfig module without Debian's gcc-only flags (`-Wl,-Bsymbolic-functions`, LTO), selected
///   with `_PYTHON_SYSCONFIGDATA_NAME`, since setuptools always adds sysconfig's flags;
/// - zig's cache, filled by compiling a C and a C++ extension at -O0 and -O2 (libc++ alone takes
///   about a minute), owned by the sandbox user so builds can add to it in their overlay.
public enum ZigToolchain {
    /// Where the wrappers are, inside the root.
    public static let binDirectory = "/opt/wheelfarm/zig/bin"
    /// Where the `ziglang` wheel is unpacked, inside the root.
    public static let installDirectory = "/opt/wheelfarm/zig"
    /// zig's cache, inside the root.
    public static let cacheDirectory = "/opt/wheelfarm/zig-cache"
    /// The sysconfig data module zig builds select.
    public static let sysconfigModule = "_sysconfigdata_wheelfarm"

    /// The zig target of a spec, for example `x86_64-linux-gnu.2.17`.
    public static func target(_ spec: ToolchainSpec) -> String { "\(spec.architecture)-linux-gnu.\(spec.baselineGlibc)" }

    /// The host's machine name as wheels spell it (`x86_64`, `aarch64`).
    public static var hostMachine: String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    /// Downloads the pinned `ziglang` wheel for the host into `directory` with pip (through
    /// pip's own index configuration); returns its path.
    public static func download(version: String, sha256: String?, into directory: String) throws -> String {
        guard let sha256, sha256.count == 64 else {
            throw ToolchainError.invalidSpec(path: "ziglang \(version)", reason: "the target pins no ziglang_sha256 for \(hostMachine)")
        }
        try Files.makeDirectories(directory)
        try Files.writeAtomically(Array("ziglang==\(version) --hash=sha256:\(sha256)\n".utf8), to: "\(directory)/ziglang.txt")
        struct Failed: Error { var stderr: String }
        do {
            return try Backoff(attempts: 3, baseSeconds: 3, maxSeconds: 12).retry(clock: SystemClock(), isTransient: { _ in true }) { _ in
                let result = try ProcessRunner.run(
                    .python3,
                    [
                        "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", "--require-hashes", "--dest", directory, "-r",
                        "\(directory)/ziglang.txt"
                    ])
                if result.status == 0,
                    let file = try FileManager.default.contentsOfDirectory(atPath: directory).first(where: { $0.hasPrefix("ziglang-") && $0.hasSuffix(".whl") })
                {
                    return "\(directory)/\(file)"
                }
                throw Failed(stderr: result.stderr)
            }
        } catch let failed as Failed {
            throw ToolchainError.buildFailed(target: "ziglang \(version)", step: "downloading the ziglang wheel", detail: failed.stderr)
        }
    }

    /// Installs zig from `wheel` into `rootfs` and prepares wrappers, sysconfig and cache.
    static func install(spec: ToolchainSpec, wheel: String, rootfs: String, progress: (String) -> Void) throws {
        let unpacked = try ProcessRunner.run(
            .python3,
            [
                "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                "--target", rootfs + installDirectory, wheel
            ])
        guard unpacked.status == 0 else {
            throw ToolchainError.buildFailed(target: spec.name, step: "unpacking ziglang", detail: unpacked.stderr)
        }
        try Files.makeDirectories(rootfs + binDirectory)
        let triplet = spec.multiarchTriplet
        for (name, mode) in [("cc", "cc"), ("gcc", "cc"), ("\(triplet)-gcc", "cc"), ("c++", "c++"), ("g++", "c++"), ("\(triplet)-g++", "c++")] {
            try Files.writeAtomically(Array(wrapper(mode: mode, spec: spec).utf8), to: "\(rootfs)\(binDirectory)/\(name)", mode: 0o755)
        }

        progress("zig \(target(spec)): sysconfig without gcc-only flags, and zig's cache (C and C++ runtimes, once)")
        let script = installScript
        let result = try ProcessRunner.run(.setpriv, PrivateNamespaces.shell(script, [rootfs, sysconfigProgram, warmUpScript(spec)]))
        guard result.status == 0 else {
            throw ToolchainError.buildFailed(target: spec.name, step: "preparing zig", detail: result.stdout + result.stderr)
        }
    }

    /// Writes the sysconfig module and fills zig's cache in the root `$1`: `$2` is
    /// ``sysconfigProgram``, `$3` the warm-up script.
    static let installScript = """
        set -e
        mount -t proc proc "$1/proc"
        chroot "$1" /usr/bin/env -i PATH=\(binDirectory):/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp python3 -c "$2" \(binDirectory) \(sysconfigModule)
        chroot "$1" /usr/bin/env -i PATH=\(binDirectory):/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp sh -c "$3"
        chown -R 65534:65534 "$1\(cacheDirectory)"
        """

    static func wrapper(mode: String, spec: ToolchainSpec) -> String {
        let triplet = spec.multiarchTriplet
        let zig = "\(installDirectory)/ziglang/zig"
        let extraFlags = "-idirafter /usr/include/\(triplet) -idirafter /usr/include -L/usr/lib/\(triplet)"
        // zig's cc turns UBSan on by default: objects made so either fail to link for want of its
        // runtime (the test programs of PyNaCl's bundled libsodium) or carry it into the wheel
        // (MarkupSafe's extension: 4.2 MB with it, 22 KB without). A wheel never wants it; a flag
        // of the build's own comes later and still wins.
        let sanitizers = "-fno-sanitize=undefined"
        // Build systems probe the compiler in ways zig hands straight to clang's driver, which
        // rejects the glibc version in the target (`x86_64-unknown-linux-gnu.2.17`): meson
        // preprocesses standard input (`-E -dM -`), and asks `-v` and `-print-search-dirs`.
        // Standard input goes through a file; a query that compiles nothing gets the target
        // without the version (it only describes the compiler). zig's linker is lld: its version
        // line says so, since meson releases (numpy 2.1's vendored one) break on "zig ld".
        // zig reads `-march=a-b` as CPU a without feature b, so gcc's x86 names (`x86-64`,
        // `x86-64-v3`, `skylake-avx512`: OpenBLAS's kernels, projects' own flags) are refused;
        // its names for the same CPUs use underscores. Arm's `-march` names an architecture, not a CPU.
        let cpuNames =
            spec.architecture == "x86_64"
            ? """
            n=$#
            for a in "$@"; do
              case "$a" in
                -march=*-*|-mtune=*-*) a="${a%%=*}=$(printf '%s' "${a#*=}" | tr - _)" ;;
              esac
              set -- "$@" "$a"
            done
            shift "$n"

            """ : ""
        return """
            #!/bin/sh
            # wheelfarm: zig \(mode) for \(target(spec)) (glibc \(spec.baselineGlibc) baseline). The root's headers
            # and libraries come after zig's own libc, so the libc linked against stays the baseline's.
            ZIG_GLOBAL_CACHE_DIR=\(cacheDirectory)
            ZIG_LOCAL_CACHE_DIR=\(cacheDirectory)
            export ZIG_GLOBAL_CACHE_DIR ZIG_LOCAL_CACHE_DIR
            \(cpuNames)stdin=0 inputs=0 query=0 linker=0
            for a in "$@"; do
              case "$a" in
                -) stdin=1 ;;
                -Wl,--version|-Wl,-v) linker=1 ;;
                -v|'-###'|-print-*|--print-*|-dumpversion|-dumpmachine|-dumpfullversion) query=1 ;;
                -*) ;;
                *) inputs=1 ;;
              esac
            done
            if [ "$stdin" = 1 ]; then
              input=$(mktemp /tmp/wheelfarm-stdin-XXXXXX.\(mode == "c++" ? "cpp" : "c"))
              cat > "$input"
              n=$#
              for a in "$@"; do if [ "$a" = - ]; then set -- "$@" "$input"; else set -- "$@" "$a"; fi; done
              shift "$n"
              status=0
              \(zig) \(mode) -target \(target(spec)) \(sanitizers) "$@" \(extraFlags) || status=$?
              rm -f "$input"
              exit "$status"
            fi
            if [ "$linker" = 1 ] && [ "$inputs" = 0 ]; then
              \(zig) \(mode) -target \(target(spec)) "$@" 2>&1 | sed 's/^zig ld \\([0-9.]*\\)/LLD \\1 (compatible with GNU linkers)/'
              exit 0
            fi
            if [ "$query" = 1 ] && [ "$inputs" = 0 ]; then
              exec \(zig) \(mode) -target \(spec.architecture)-linux-gnu "$@"
            fi
            exec \(zig) \(mode) -target \(target(spec)) \(sanitizers) "$@" \(extraFlags)

            """
    }

    /// Writes the sysconfig module: the interpreter's own build variables with gcc's names
    /// replaced by the wrappers and gcc-only flags dropped. Arguments: the wrappers' folder, the module name.
    static let sysconfigProgram = """
        import importlib, os, pprint, sys, sysconfig
        bindir, module = sys.argv[1], sys.argv[2]
        data = importlib.import_module(sysconfig._get_sysconfigdata_name())
        original = data.build_time_vars
        dropped = {'-Wl,-Bsymbolic-functions', '-Wl,-O1', '-ffat-lto-objects', '-fuse-linker-plugin'}
        def drop(token):
            return token in dropped or token.startswith('-flto') or token.startswith('-specs=')
        def compiler(token):
            base = token.rsplit('/', 1)[-1]
            if base in ('gcc', 'cc') or base.endswith('-gcc'): return bindir + '/cc'
            if base in ('g++', 'c++') or base.endswith('-g++'): return bindir + '/c++'
            if base.endswith('-gcc-ar'): return 'ar'
            return None
        patched = {}
        for key, value in original.items():
            if isinstance(value, str) and any(compiler(t) or drop(t) for t in value.split()):
                value = ' '.join(compiler(t) or t for t in value.split() if not drop(t))
            patched[key] = value
        # Beside the interpreter's own module: on sys.path (sysconfig is a package from 3.13 on).
        path = os.path.join(os.path.dirname(data.__file__), module + '.py')
        with open(path, 'w') as f:
            f.write('# Written by wheelfarm: this interpreter\\'s build variables for zig (gcc-only flags dropped).\\n')
            f.write('build_time_vars = ' + pprint.pformat(patched) + '\\n')
        """

    /// Compiles and imports a C and a C++ extension at -O0 and -O2: fills zig's cache (its C
    /// runtime, libc stubs and libc++ per optimisation mode) and proves the compiler works.
    static func warmUpScript(_ spec: ToolchainSpec) -> String {
        """
        set -e
        mkdir -p /tmp/zigwarm && cd /tmp/zigwarm
        cat > warmc.c <<'EOF'
        #include <Python.h>
        #include <pthread.h>
        #include <sys/stat.h>
        static void *work(void *arg) { return arg; }
        static PyObject *run(PyObject *self, PyObject *args) {
            pthread_t thread; struct stat st;
            pthread_create(&thread, 0, work, 0); pthread_join(thread, 0);
            return PyLong_FromLong(stat("/", &st) == 0);
        }
        static PyMethodDef methods[] = {{"run", run, METH_NOARGS, 0}, {0}};
        static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "warmc", 0, -1, methods};
        PyMODINIT_FUNC PyInit_warmc(void) { return PyModule_Create(&module); }
        EOF
        cat > warmcpp.cpp <<'EOF'
        #include <Python.h>
        #include <stdexcept>
        #include <string>
        #include <vector>
        static PyObject *run(PyObject *, PyObject *) {
            std::vector<std::string> words{"zig", "c++"};
            try { throw std::runtime_error(words[0] + words[1]); } catch (const std::exception &e) { return PyUnicode_FromString(e.what()); }
        }
        static PyMethodDef methods[] = {{"run", run, METH_NOARGS, nullptr}, {nullptr, nullptr, 0, nullptr}};
        static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "warmcpp", nullptr, -1, methods};
        PyMODINIT_FUNC PyInit_warmcpp(void) { return PyModule_Create(&module); }
        EOF
        INC=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
        for opt in -O0 -O2; do
          cc $opt -g -fPIC -shared -I"$INC" warmc.c -o warmc.so
          c++ $opt -g -fPIC -shared -I"$INC" warmcpp.cpp -o warmcpp.so
          python3 -c 'import warmc, warmcpp; assert warmc.run() == 1; assert warmcpp.run() == "zigc++"'
        done
        cd / && rm -rf /tmp/zigwarm
        """
    }
}
