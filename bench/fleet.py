#!/usr/bin/env python3
"""A fleet deploy's time against the slowest single-host deploy (issue 38; docs/fleet.md).

    .venv/bin/python bench/fleet.py [--pairs 5] [--registry]

Needs root, `unshare`, `dockerd` and busybox-static: it starts three engines of their own
(tests/hosts.py), each a "host". The project: one `web` service built from the busybox base.
Each round changes `.env` (one container recreated on every host), and once in a while the
image too (`--image-every`: then the fleet builds once and sends the image to the others).

Measured in pairs, alternately: `cfgroll deploy` of the project on one host alone (its own
store), then `cfgroll deploy` of the same project to the three hosts (`parallel: 3`, no
canary), then with a canary first (`parallel: 2` after it). The figure is the median of
the fleet's time over the single host's. Nothing asserts a duration. The three engines share
this machine's cores: three Compose runs at once contend for them, as hosts of their own
would not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import web_compose  # noqa: E402
from tests.hosts import Engine, start  # noqa: E402

BASE = "cfgroll-example-base:latest"  # examples/make-base-image.sh


def project(root: Path, name: str, hosts: list[Engine] | None, fleet: str) -> Path:
    root.mkdir(parents=True)
    text = web_compose(name)
    if hosts:
        text += "x-cfgroll:\n  hosts:\n" + "".join(
            f"    - name: {e.name}\n      endpoint: {e.address}\n"
            + ("      groups: [canary]\n" if e.name == "a" else "")
            for e in hosts
        )
        text += fleet
    (root / "compose.yaml").write_text(text)
    (root / "Dockerfile").write_text(f"FROM {BASE}\nRUN mkdir -p /www\n")
    (root / ".env").write_text("GREETING=0\n")
    return root


SETTLE = ["--settle", "1"]


def deploy(root: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["cfgroll", "deploy", "-C", str(root), *SETTLE],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def change(root: Path, n: int, image: bool) -> None:
    (root / ".env").write_text(f"GREETING={n}\n")
    if image:
        with (root / "Dockerfile").open("a") as f:
            f.write(f"RUN echo {n} > /round\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--image-every", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="the gate's settle time")
    parser.add_argument(
        "--registry",
        action="store_true",
        help="images through Debian's docker-registry (one storage, served in each host's "
        "network namespace at 127.0.0.1:5000), not engine to engine",
    )
    args = parser.parse_args()
    SETTLE[1] = str(args.settle)
    base = tempfile.mkdtemp(prefix="cfgb-", dir="/tmp")
    hosts: list[Engine] = []
    registries: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("a", "b", "c"):
            hosts.append(start(name, Path(base) / name))
        if args.registry:
            registries = [e.serve_registry(Path(base) / "registry") for e in hosts]
        extra = "  registry: 127.0.0.1:5000/bench\n" if args.registry else ""
        subprocess.run(["bash", str(REPO / "examples" / "make-base-image.sh")], check=True)
        hosts[0].load(BASE)
        work = Path(tempfile.mkdtemp(prefix="cfgbw-"))
        single = project(work / "single", f"cfgb{uuid.uuid4().hex[:8]}", None, "")
        flat = project(work / "flat", f"cfgb{uuid.uuid4().hex[:8]}", hosts, _fleet("x", 3) + extra)
        canary = project(
            work / "canary", f"cfgb{uuid.uuid4().hex[:8]}", hosts, _fleet("canary", 2) + extra
        )
        on_a = {**os.environ, "DOCKER_HOST": hosts[0].address}
        for root, env in ((single, on_a), (flat, dict(os.environ)), (canary, dict(os.environ))):
            deploy(root, env)  # first deploys: build, send, record
        rows: list[tuple[float, float, float]] = []
        for n in range(1, args.pairs + 1):
            image = n % args.image_every == 0
            for root in (single, flat, canary):
                change(root, n, image)
            one = deploy(single, on_a)
            three = deploy(flat, dict(os.environ))
            waves = deploy(canary, dict(os.environ))
            rows.append((one, three, waves))
            kind = "image+env" if image else "env"
            print(f"round {n} ({kind}): one host {one:.2f} s, three in one wave {three:.2f} s "
                  f"({three / one:.2f}x), canary then two {waves:.2f} s ({waves / one:.2f}x)")  # fmt: skip
        print(
            f"median: one host {statistics.median(r[0] for r in rows):.2f} s; three hosts in one "
            f"wave {statistics.median(r[1] / r[0] for r in rows):.2f}x; canary then two "
            f"{statistics.median(r[2] / r[0] for r in rows):.2f}x"
        )
    finally:
        for registry in registries:
            registry.terminate()
        for engine in hosts:
            engine.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _fleet(canary: str, parallel: int) -> str:
    return f"  fleet:\n    canary: {canary}\n    parallel: {parallel}\n"


if __name__ == "__main__":
    sys.exit(main())
