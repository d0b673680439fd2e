"""Requests lost during a deploy and a rollback: start-first against stop-first against
`docker compose up -d --wait`, the client inside the project network.

A `probe` service asks `web` every 20 ms (one request, a 1 s limit, no retry) and prints `ok` or
`fail` with the kernel's uptime; for each way the web service is replaced (one `.env` change),
the figures are the failed requests and the longest outage (from the first failure to the next
success). Then the same start-first service behind each proxy of docs/rollouts.md (Traefik,
nginx, Caddy: the recipes read from the doc, run as tests/cli/test_proxies.py runs them), a
client on the host asking through the proxy every 20 ms over a deploy, a rollback and a deploy
whose new container crashes: the failed requests and the slowest one.
Run: `python bench/outage.py [--rounds N] [--only direct|proxies]` (cfgroll on PATH, an engine
running; the proxies also need mmdebstrap, for nginx).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# bench/run.py's `web` (run as `python bench/outage.py`, this folder is on the path), with an
# order, and a probe beside it
from run import BASE, DOCKERFILE, REPO, sh
from run import COMPOSE as RUN_COMPOSE

COMPOSE = (
    RUN_COMPOSE.split("  worker:")[0]
    + """\
    deploy: {{update_config: {{order: {order}}}}}
  probe:
    image: {base}
    init: true
    command:
      - sh
      - -c
      - |
        until timeout 1 wget -q -O /dev/null http://web:8080/; do sleep 0.1; done
        while true; do
          if timeout 1 wget -q -O /dev/null http://web:8080/; then r=ok; else r=fail; fi
          echo "$$r $$(cut -d' ' -f1 /proc/uptime)"
          sleep 0.02
        done
"""
)


def lost(log: str, since: float) -> tuple[int, int, float]:
    """Requests, failed requests and the longest outage (s) in the probe's log after `since`."""
    answers = [
        (m[1], float(m[2]))
        for m in re.finditer(r"(ok|fail) (\d+\.\d+)", log)  # the lines may carry escapes
        if float(m[2]) > since
    ]
    failed, longest, down_since = 0, 0.0, None
    last_ok = since
    for result, at in answers:
        if result == "fail":
            failed += 1
            down_since = last_ok if down_since is None else down_since
        else:
            if down_since is not None:
                longest = max(longest, at - down_since)
            down_since, last_ok = None, at
    return len(answers), failed, longest


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def measure(work: Path, way: str, rounds: int) -> list[tuple[str, int, int, float]]:
    name = f"cfgout{uuid.uuid4().hex[:6]}"
    proj = work / name
    proj.mkdir()
    order = "start-first" if way == "start-first" else "stop-first"
    (proj / "compose.yaml").write_text(COMPOSE.format(name=name, order=order, base=BASE))
    (proj / "Dockerfile").write_text(DOCKERFILE)
    cfgroll = shutil.which("cfgroll") or sys.exit("bench: cfgroll is not on PATH")
    deploy = (
        ["docker", "compose", "up", "-d", "--wait"] if way == "compose" else [cfgroll, "deploy"]
    )
    steps = {"deploy": deploy}
    if way != "compose":
        steps["rollback"] = [cfgroll, "rollback", "previous", "--yes"]
    found = []
    try:
        (proj / ".env").write_text("GREETING=v0\n")
        sh(deploy, proj)
        for i in range(rounds):
            for what, argv in steps.items():
                if what == "deploy":
                    (proj / ".env").write_text(f"GREETING=v{i + 1}\n")
                since = uptime()
                sh(argv, proj)
                time.sleep(1.5)  # answers that hung for their 1 s limit come in
                log = sh(["docker", "compose", "logs", "--no-log-prefix", "probe"], proj)
                found.append((what, *lost(log, since)))
    finally:
        subprocess.run(["docker", "compose", "down", "-t", "1"], cwd=proj, capture_output=True)
    return found


def behind_proxies(work: Path, rounds: int) -> None:
    """The proxy rows: each recipe of docs/rollouts.md, `rounds` times."""
    sys.path.insert(0, str(REPO))
    from tests.images import server_images
    from tests.proxies import PROXIES, STEPS, from_docs, local_images, run_steps

    images = local_images(server_images()["nginx"])
    cfgroll = shutil.which("cfgroll") or sys.exit("bench: cfgroll is not on PATH")
    print("\n| proxy | step | requests | failed | slowest request |")
    print("|---|---|---|---|---|")
    for proxy in PROXIES:
        for _ in range(rounds):
            name = f"cfgout{uuid.uuid4().hex[:6]}"
            stack = from_docs(proxy, work / name, name, images)

            def run(*args: str, folder: Path = stack.folder) -> int:
                argv = [cfgroll, *args, "-C", str(folder)]
                return subprocess.run(argv, capture_output=True).returncode

            try:
                found = run_steps(stack, run, lambda step: None)
            finally:
                down = ["docker", "compose", "down", "-t", "1", "--rmi", "local"]
                subprocess.run(down, cwd=stack.folder, capture_output=True)
            for step, seen in zip(STEPS, found, strict=True):
                print(
                    f"| {proxy} | {step} | {seen.requests} | {seen.failed} "
                    f"| {seen.slowest * 1000:.0f} ms |"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="deploys (and rollbacks) per way")
    parser.add_argument("--only", choices=("direct", "proxies"), help="one of the two tables")
    args = parser.parse_args(argv)
    sh(["bash", str(REPO / "examples" / "make-base-image.sh")], REPO)
    with tempfile.TemporaryDirectory(prefix="cfgroll-outage-") as tmp:
        if args.only != "proxies":
            print("| way | step | requests | failed | longest outage |")
            print("|---|---|---|---|---|")
            for way in ("compose", "stop-first", "start-first"):
                label = {"compose": "`docker compose up -d --wait`"}.get(way, f"cfgroll, {way}")
                for what, total, failed, longest in measure(Path(tmp), way, args.rounds):
                    print(f"| {label} | {what} | {total} | {failed} | {longest:.2f} s |")
        if args.only != "direct":
            behind_proxies(Path(tmp), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
