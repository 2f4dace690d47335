"""Writes small valid wheels for the index benchmark.

make-wheels.py OUT PREFIX PROJECTS VERSIONS SIZE
  PROJECTS projects named PREFIX (when 1) or PREFIX00000.., each with VERSIONS versions
  (1.0, 1.1, ...), each holding SIZE random bytes (stored, so the size stays) or a one-line
  module when SIZE is 0. RECORD hashes are real, so the wheels pass any RECORD check.
"""
import base64, hashlib, os, sys, zipfile

out, prefix, projects, versions, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
os.makedirs(out, exist_ok=True)
for p in range(projects):
    name = prefix if projects == 1 else f"{prefix}{p:05d}"
    for v in range(versions):
        version = f"1.{v}"
        payload = os.urandom(size) if size else b"x = 1\n"
        files = {f"{name}/data.bin" if size else f"{name}/__init__.py": payload,
                 f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n".encode(),
                 f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: wheelfarm-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
        record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
                         for path, data in files.items())
        files[f"{name}-{version}.dist-info/RECORD"] = (record + f"{name}-{version}.dist-info/RECORD,,\n").encode()
        with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w", zipfile.ZIP_STORED) as z:
            for path, data in files.items():
                z.writestr(path, data)
