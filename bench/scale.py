"""The bench rows of scale: a configuration of 10, 1,500 and 2,000 recorded files (a read-only
mounted folder) and a stack of 10 and 50 services. Run by `bench/run.py --only scale`.

- `cfgroll status` at each size against the same command on a 3-file project;
- `cfgroll deploy` (one `.env` value changed) against `docker compose up -d --build --wait` on
  the same project, at each size.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench

HEALTH = """\
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8080/"]
      interval: 1s
      retries: 10
"""


def files_project(folder: Path, name: str, base: str, mounted: int) -> Path:
    """compose.yaml, .env and `mounted` files under `static/` (read-only in `web`)."""
    (folder / "static").mkdir(parents=True)
    for i in range(mounted):
        sub = folder / "static" / f"d{i % 40:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"page{i}.html").write_text(f"<p>page {i}</p>\n" * 8)
    (folder / "Dockerfile").write_text(f"FROM {base}\nRUN mkdir -p /www\n")
    (folder / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  web:\n    build: .\n    init: true\n"
        "    environment:\n      GREETING: ${GREETING}\n"
        "    volumes: [./static:/srv/static:ro]\n"
        '    command: ["sh", "-c", "echo \\"$$GREETING\\" > /www/index.html && '
        'exec httpd -f -p 8080 -h /www"]\n' + HEALTH
    )
    return folder


def services_project(folder: Path, name: str, base: str, count: int) -> Path:
    """`count` services; the first serves GREETING from `.env` (with a healthcheck, as the
    files project's `web`), the others sleep."""
    folder.mkdir(parents=True)
    lines = [f"name: {name}", "services:"]
    for i in range(count):
        lines += [f"  s{i:02d}:", f"    image: {base}", "    init: true"]
        if i == 0:
            lines += ["    environment:", "      GREETING: ${GREETING}"]
            lines += ['    command: ["sh", "-c", "mkdir -p /www && echo \\"$$GREETING\\" > '
                      '/www/index.html && exec httpd -f -p 8080 -h /www"]']  # fmt: skip
            lines += HEALTH.rstrip("\n").splitlines()
        else:
            lines += ['    command: ["sleep", "100000"]']
    (folder / "compose.yaml").write_text("\n".join(lines) + "\n")
    return folder


def scale(bench: Bench) -> None:
    from run import BASE, Row, timed

    version = [0]

    def change(proj: Path) -> None:
        version[0] += 1
        (proj / ".env").write_text(f"GREETING=v{version[0]}\n")

    def deploy_rows(proj: Path, what: str, goal: str) -> None:
        change(proj)
        timed(["docker", "compose", "up", "-d", "--build", "--wait"], proj)
        timed([bench.cfgroll, "deploy"], proj)

        def anchor() -> float:
            change(proj)
            return timed(["docker", "compose", "up", "-d", "--build", "--wait"], proj)

        def ours() -> float:
            change(proj)
            return timed([bench.cfgroll, "deploy"], proj)

        a, b = bench.pairs_of(anchor, ours)
        bench.rows.append(
            Row(f"`cfgroll deploy`, {what}", b, a, "`docker compose up -d --build --wait`", goal)
        )

    small = files_project(bench.work / "files3", bench.name + "f3", BASE, 1)
    change(small)
    timed([bench.cfgroll, "deploy"], small)
    for recorded in (10, 1500, 2000):
        proj = files_project(
            bench.work / f"files{recorded}", f"{bench.name}f{recorded}", BASE, recorded - 2
        )
        deploy_rows(proj, f"{recorded:,} recorded files", "≤ 1.10×")
        timed([bench.cfgroll, "status"], proj)  # the stat cache is filled on first read
        a, b = bench.pairs_of(
            lambda: timed([bench.cfgroll, "status"], small),
            lambda proj=proj: timed([bench.cfgroll, "status"], proj),  # type: ignore[misc]
        )
        bench.rows.append(
            Row(f"`cfgroll status`, {recorded:,} recorded files", b, a,
                "`cfgroll status` of a 3-file project", "≤ 1.5×")
        )  # fmt: skip
    for count, goal in ((10, "≤ 1.10×"), (50, "≤ 1.05×")):
        proj = services_project(bench.work / f"svc{count}", f"{bench.name}s{count}", BASE, count)
        deploy_rows(proj, f"{count} services", goal)


def cleanup(bench: Bench) -> None:
    for suffix in ("f3", "f10", "f1500", "f2000", "s10", "s50"):
        subprocess.run(["docker", "compose", "-p", bench.name + suffix, "down", "-t", "1"],
                       capture_output=True)  # fmt: skip
