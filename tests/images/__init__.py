"""Real servers for the tests, from Debian's own packages (no image registry is reachable
here): `mmdebstrap` makes a root file system of the packages, `docker import` makes it an
image, and `Dockerfile` gives each server the entrypoint of its official image. Both steps are
keyed by what goes into them, so a machine builds them once (about 40 s) and reuses them."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = "bookworm"
PACKAGES = ("postgresql", "mariadb-server", "redis-server", "nginx", "procps", "wget")
SERVERS = ("postgres", "mariadb", "redis", "nginx")


def _has(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def _mirror() -> str:
    """The Debian archive this machine's apt already uses."""
    for source in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        try:
            text = source.read_text()
        except OSError:
            continue
        found = re.search(r"(https?|file)://\S*/debian/?(?=\s|$)", text)
        if found:
            return found.group(0)
    return "http://deb.debian.org/debian"


def rootfs() -> str:
    """The image of Debian's packages (`cfgroll-test/debian-db:<key>`), made once."""
    key = hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    ref = f"cfgroll-test/debian-db:{key}"
    if _has(ref):
        return ref
    mmdebstrap = shutil.which("mmdebstrap")
    assert mmdebstrap, "mmdebstrap is needed for the database tests (apt-get install mmdebstrap)"
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(
            [mmdebstrap, "--variant=apt", "--include=" + ",".join(PACKAGES), SUITE, str(tarball),
             _mirror()],
            check=True, capture_output=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        subprocess.run(["docker", "import", str(tarball), ref], check=True, capture_output=True)
    return ref


def server_images() -> dict[str, str]:
    """Server -> the image of it (`cfgroll-test/postgres:<key>`, …), made once."""
    base = rootfs()
    digest = hashlib.sha256(base.encode())
    for name in sorted(p.name for p in HERE.iterdir() if p.suffix in (".sh", "") and p.is_file()):
        digest.update(name.encode() + (HERE / name).read_bytes())
    key = digest.hexdigest()[:12]
    images = {server: f"cfgroll-test/{server}:{key}" for server in SERVERS}
    for server, ref in images.items():
        if not _has(ref):
            subprocess.run(
                ["docker", "build", "-q", "--build-arg", f"ROOTFS={base}", "--target", server,
                 "-t", ref, str(HERE)],
                check=True, capture_output=True,
            )  # fmt: skip
    return images
