"""What durability costs: recording releases into a store with git's fsync settings and
cfgroll's own object syncs, against the same store without them.

    .venv/bin/python bench/durability.py [--releases 100] [--dir /path/on/the/disk/to/measure]

Each release holds a compose file and a changed `.env`, as in the bench scenario. Prints the
median and the 90th percentile of recording one release, durable and not, alternating rounds
so that the machine's drift hits both alike. No engine needed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cfgroll.store.files import FileData
from cfgroll.store.manifest import Layout, Manifest
from cfgroll.store.repo import DURABLE, Store

T0 = datetime(2026, 11, 27, tzinfo=timezone.utc)


def record(folder: Path, durable: bool, releases: int) -> list[float]:
    store, _ = Store.create(folder / "store.git")
    if not durable:
        for key in DURABLE:
            store._repo.git.config("--unset", f"core.{key}")  # noqa: SLF001 - a bench
        store._sync_objects = lambda shas: None  # type: ignore[method-assign]  # noqa: SLF001
    layout = Layout({".env": "env", "compose.yaml": "compose"}, ("compose.yaml",))
    times = []
    for i in range(releases):
        live = store.live()
        files = {"compose.yaml": FileData(b"services: {}\n"), ".env": FileData(f"A={i}\n".encode())}
        manifest = Manifest(
            tag=f"backup_{i:06d}", action="deploy", project="bench", host="h", user="u",
            created_at=T0 + timedelta(seconds=i), cfgroll_version="0", result="ok", layout=layout,
        )  # fmt: skip
        start = time.perf_counter()
        store.record(files, manifest, "deploy\n", live.commit if live else None, on_main=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    results: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        for n in range(args.rounds):
            for durable in (False, True):
                results[durable] += record(Path(root) / f"{n}-{durable}", durable, args.releases)
    print(f"recording one release, {args.rounds} x {args.releases} releases each, in {args.dir}")
    for durable, times in results.items():
        p90 = sorted(times)[int(len(times) * 0.9)]
        label = "durable (core.fsync + object syncs)" if durable else "not durable"
        print(
            f"  {label:38} median {statistics.median(times) * 1000:6.1f} ms   p90 {p90 * 1000:6.1f} ms"
        )


if __name__ == "__main__":
    main()
