#!/usr/bin/env python3
"""Image disk use after many deploys, with and without `x-cfgroll: keep:`.

    python bench/retention.py [--deploys 50] [--keep 5]

Needs `cfgroll` installed, a Docker engine and the example base image
(`examples/make-base-image.sh`). Each deploy builds a new image of one service with 1 MB of
its own (random bytes on a shared busybox base), as a release of a real application would;
the figure is the disk those images hold afterwards (the sum of what each adds to the base),
with every release tag kept (the default) and with `keep:` (prune after each release).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BASE = "cfgroll-example-base:latest"
COMPOSE = """\
name: {name}
services:
  app:
    build: .
    init: true
    command: ["sleep", "3600"]
{extra}"""


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def image_bytes(name: str) -> tuple[int, int]:
    """(images, bytes beyond the base) of the project's images still on disk."""
    base = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", BASE))
    ids = set(
        sh("docker", "images", "-q", "--no-trunc", "--filter", f"reference={name}-app").split()
    )
    sizes = [int(sh("docker", "image", "inspect", "-f", "{{.Size}}", i)) for i in ids]
    return len(sizes), sum(s - base for s in sizes)


def run(deploys: int, keep: int | None, work: Path) -> tuple[int, int, float]:
    name = f"cfgbench{uuid.uuid4().hex[:8]}"
    proj = work / name
    proj.mkdir()
    extra = f"x-cfgroll:\n  keep: {keep}\n" if keep else ""
    (proj / "compose.yaml").write_text(COMPOSE.format(name=name, extra=extra))
    started = time.monotonic()
    try:
        for n in range(deploys):
            (proj / "Dockerfile").write_text(
                f"FROM {BASE}\nRUN echo {n} > /version && head -c 1000000 /dev/urandom > /blob\n"
            )
            sh("cfgroll", "deploy", "--settle", "0", "-C", str(proj))
        elapsed = time.monotonic() - started
        count, size = image_bytes(name)
        return count, size, elapsed
    finally:
        sh("docker", "compose", "-p", name, "down", "-t", "0", cwd=proj)
        refs = sh(
            "docker", "images", "-q", "--no-trunc", "--filter", f"reference={name}-app"
        ).split()
        if refs:
            subprocess.run(["docker", "rmi", "-f", *set(refs)], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--keep", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for keep in (None, args.keep):
            count, size, elapsed = run(args.deploys, keep, Path(tmp))
            label = f"keep: {keep}" if keep else "no keep (default)"
            rows.append((label, count, size, elapsed))
    print(f"| after {args.deploys} deploys (1 MB of own data per image) | images | disk | time |")
    print("|---|---|---|---|")
    for label, count, size, elapsed in rows:
        print(f"| {label} | {count} | {size / 1e6:.1f} MB | {elapsed:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
