/// The `install.sh` of a bundle: it needs only `sh` and Python (and uses minisign too when the
/// host has it). It checks the lock's and the requirements file's signatures with the farm's
/// public key (the one given with `--key`; the bundle's own only with `--trust-bundled-key`,
/// which proves the bundle whole but not its origin), checks that
/// the wheels folder holds exactly the locked wheels with their hashes, and only then runs
/// `pip install --no-index --find-links wheels --require-hashes` into the given venv.
///
/// The verifier is written for this script: Ed25519 (RFC 8032) in plain Python integers and
/// BLAKE2b from hashlib, enough to check minisign's prehashed signatures and trusted comments.
enum InstallScript {
    static func render(lock: LockFile) -> String {
        let requirements = lock.requirementsName
        let pylock = lock.pylockName
        return """
            #!/bin/sh
            # Installs this wheelfarm bundle (target \(lock.target), key \(lock.signingKey)) into a venv,
            # offline. Usage: sh install.sh VENV --key FARM_PUBLIC_KEY [--python PYTHON]
            # It refuses a bundle whose lock, requirements or wheels were changed, added to or
            # signed by another key than the one given with --key.
            set -eu
            here=$(cd "$(dirname "$0")" && pwd)
            usage() { echo "usage: sh install.sh VENV --key FARM_PUBLIC_KEY [--python PYTHON]  (or --trust-bundled-key instead of --key)"; }
            venv=""
            key=""
            trust_bundled=0
            python=python3
            while [ $# -gt 0 ]; do
              case "$1" in
                --key) [ $# -ge 2 ] || { usage >&2; exit 2; }; key="$2"; shift 2 ;;
                --python) [ $# -ge 2 ] || { usage >&2; exit 2; }; python="$2"; shift 2 ;;
                --trust-bundled-key) trust_bundled=1; shift ;;
                -h|--help) usage; exit 0 ;;
                -*) usage >&2; exit 2 ;;
                *) [ -z "$venv" ] || { usage >&2; exit 2; }; venv="$1"; shift ;;
              esac
            done
            [ -n "$venv" ] || { usage >&2; exit 2; }
            if [ -z "$key" ]; then
              # The bundle's own key proves only that the bundle is whole, not who made it: a
              # bundle re-signed by someone else carries their key. Trust needs a key from outside.
              if [ "$trust_bundled" != 1 ]; then
                echo "install.sh: give the farm's public key with --key (key id \(lock.signingKey)), or --trust-bundled-key to check only that the bundle is whole" >&2
                exit 2
              fi
              key="$here/wheelfarm.pub"
              echo "install.sh: warning: checking with the key inside the bundle; this proves the bundle whole, not where it comes from" >&2
            fi
            [ -f "$key" ] || { echo "install.sh: no public key at $key" >&2; exit 2; }
            if command -v minisign >/dev/null 2>&1; then
              for f in \(pylock) \(requirements); do
                minisign -V -q -p "$key" -m "$here/$f" || { echo "install.sh: REFUSED: minisign rejects the signature of $f" >&2; exit 3; }
              done
            fi
            "$python" - "$here" "$key" <<'WHEELFARM_VERIFY' || exit 3
            \(verifier(pylock: pylock, requirements: requirements))
            WHEELFARM_VERIFY
            [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
            exec "$venv/bin/python" -m pip install --no-index --find-links "$here/wheels" --require-hashes -r "$here/\(requirements)"

            """
    }

    static func verifier(pylock: String, requirements: String) -> String {
        """
        import base64, hashlib, os, re, sys

        P = 2 ** 255 - 19
        L = 2 ** 252 + 27742317777372353535851937790883648493
        D = -121665 * pow(121666, P - 2, P) % P
        SQRT_M1 = pow(2, (P - 1) // 4, P)

        def refuse(why):
            sys.stderr.write("install.sh: REFUSED: %s\\n" % why)
            sys.exit(3)

        def x_for(y, sign):
            if y >= P:
                return None
            xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
            x = pow(xx, (P + 3) // 8, P)
            if (x * x - xx) % P:
                x = x * SQRT_M1 % P
            if (x * x - xx) % P:
                return None
            if x == 0 and sign:
                return None
            return P - x if x & 1 != sign else x

        def point(data):
            y = int.from_bytes(data, "little")
            sign, y = y >> 255, y & ((1 << 255) - 1)
            x = x_for(y, sign)
            return None if x is None else (x, y, 1, x * y % P)

        def add(a, b):
            e1 = (a[1] - a[0]) * (b[1] - b[0]) % P
            e2 = (a[1] + a[0]) * (b[1] + b[0]) % P
            c = 2 * a[3] * b[3] * D % P
            z = 2 * a[2] * b[2] % P
            e, f, g, h = e2 - e1, z - c, z + c, e2 + e1
            return (e * f % P, g * h % P, f * g % P, e * h % P)

        def times(n, q):
            r = (0, 1, 1, 0)
            while n:
                if n & 1:
                    r = add(r, q)
                q = add(q, q)
                n >>= 1
            return r

        def same(a, b):
            return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0

        GY = 4 * pow(5, P - 2, P) % P
        BASE = (x_for(GY, 0), GY, 1, x_for(GY, 0) * GY % P)

        def ed25519(public, message, signature):
            a, r = point(public), point(signature[:32])
            s = int.from_bytes(signature[32:], "little")
            if a is None or r is None or s >= L:
                return False
            h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
            return same(times(s, BASE), add(r, times(h, a)))

        def lines(path):
            with open(path, "rb") as f:
                return [l.strip() for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]

        here, key_path = sys.argv[1], sys.argv[2]
        key_lines = [l for l in lines(key_path) if not l.startswith("untrusted comment:")]
        try:
            key = base64.b64decode(key_lines[0], validate=True)
        except Exception:
            refuse("%s is not a minisign public key" % key_path)
        if len(key) != 42 or key[:2] != b"Ed":
            refuse("%s is not a minisign public key" % key_path)
        key_id, public = key[2:10], key[10:]

        def check(name):
            path = os.path.join(here, name)
            try:
                with open(path, "rb") as f:
                    content = f.read()
                sig = lines(path + ".minisig")
                first, trusted, second = base64.b64decode(sig[1]), sig[2], base64.b64decode(sig[3])
            except Exception as error:
                refuse("%s or its signature cannot be read (%s)" % (name, error))
            if len(first) != 74 or first[:2] not in (b"ED", b"Ed") or len(second) != 64:
                refuse("%s.minisig is not a minisign signature" % name)
            if first[2:10] != key_id:
                refuse("%s is signed by key %s, not by %s" % (name, first[2:10][::-1].hex().upper(), key_id[::-1].hex().upper()))
            message = hashlib.blake2b(content).digest() if first[:2] == b"ED" else content
            if not ed25519(public, message, first[10:]):
                refuse("%s does not match its signature: it was changed" % name)
            if not trusted.startswith("trusted comment: ") or not ed25519(public, first[10:] + trusted[17:].encode(), second):
                refuse("the trusted comment of %s.minisig was changed" % name)
            return content

        check("\(pylock)")
        wanted = {}
        for line in check("\(requirements)").decode().splitlines():
            m = re.search(r"--hash=sha256:([0-9a-f]{64})", line)
            if m:
                wanted[m.group(1)] = True
        if not wanted:
            refuse("\(requirements) names no wheel")
        wheels = os.path.join(here, "wheels")
        found = {}
        for name in sorted(os.listdir(wheels)):
            path = os.path.join(wheels, name)
            if name.endswith(".minisig") or name.endswith(".intoto.json"):
                continue
            if not name.endswith(".whl") or not os.path.isfile(path) or os.path.islink(path):
                refuse("wheels/%s is not a locked wheel" % name)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() not in wanted:
                refuse("wheels/%s is not in the lock (an extra or changed wheel)" % name)
            found[digest.hexdigest()] = name
        missing = [h for h in wanted if h not in found]
        if missing:
            refuse("%d locked wheel(s) are missing from wheels/" % len(missing))
        print("install.sh: the lock's signature (key %s) and all %d wheels check out" % (key_id[::-1].hex().upper(), len(found)))
        """
    }
}
