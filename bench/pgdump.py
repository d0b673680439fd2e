"""The dump a deploy takes of a real PostgreSQL (tests/images: Debian's packages), against the
bare `pg_dumpall | zstd -3 > file` of the same data: what cfgroll adds to the database's own
dump (the stream through `docker exec`, zstd in the process, the file synced, its checksum).

`bench/run.py --only pgdump` (1 GB; `--quick`: 30 MB). The rows compare, pair by pair, the
dump's time as the deploy records it (`.cfgroll/data/index.json`) with the bare pipeline's."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench

REPO = Path(__file__).resolve().parent.parent
ROWS_PER_MB = 8900  # rows of the table below in a megabyte of database


def pgdump(bench: Bench, megabytes: int) -> None:
    from run import BASE, Row, sh, timed

    sys.path.insert(0, str(REPO))
    from tests.images import server_images

    image = server_images()["postgres"]
    proj, name = bench.work / "pgdump", bench.name + "pg"
    proj.mkdir()
    compose = (
        f"name: {name}\nservices:\n"
        f'  app:\n    image: {BASE}\n    init: true\n    environment: {{VERSION: "${{VERSION}}"}}\n'
        '    command: ["sh", "-c", "exec sleep 100000"]\n'
        f"  db:\n    image: {image}\n    init: true\n"
        "    environment: {POSTGRES_PASSWORD: pw, POSTGRES_DB: app}\n"
        "    volumes: [pg:/var/lib/postgresql/data]\n"
        "    healthcheck: {test: [CMD, pg_isready, -U, postgres], interval: 1s, retries: 60}\n"
        "volumes:\n  pg: {}\nx-cfgroll:\n  data:\n    db: postgres\n"
    )
    (proj / "compose.yaml").write_text(compose)
    version = [1]
    (proj / ".env").write_text("VERSION=1\n")
    bench.cleanups.append(name)
    sh([bench.cfgroll, "deploy", "--settle", "0.5"], proj)
    rows = megabytes * ROWS_PER_MB
    fill = (
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, "
        f"now() AS t, g % 1000 AS k FROM generate_series(1, {rows}) g"
    )
    sh(["docker", "compose", "-p", name, "exec", "-T", "db", "psql", "-U", "postgres", "-d",
        "app", "-q", "-c", fill])  # fmt: skip
    zstd = shutil.which("zstd") or sys.exit("bench: zstd is not installed (apt-get install zstd)")
    out = bench.work / "bare.zst"
    bare = f"docker compose -p {name} exec -T db pg_dumpall -U postgres | {zstd} -q -3 -f -o {out}"

    def anchor() -> float:
        return timed(["sh", "-c", bare])

    def ours() -> float:
        version[0] += 1
        (proj / ".env").write_text(f"VERSION={version[0]}\n")
        sh([bench.cfgroll, "deploy", "--settle", "0.5"], proj)
        index = json.loads((proj / ".cfgroll" / "data" / "index.json").read_text())
        return float(index["dumps"][-1]["seconds"])

    a, b = bench.pairs_of(anchor, ours)
    kept = json.loads((proj / ".cfgroll" / "data" / "index.json").read_text())["dumps"][-1]
    bench.rows.append(Row(
        f"a deploy's dump of a PostgreSQL of {megabytes:,} MB (preset)", b, a,
        "`pg_dumpall | zstd -3 > file` of the same data", "≤ 1.10×",
    ))  # fmt: skip
    bench.notes.append(
        f"pgdump: the dump kept takes {kept['size'] / 2**20:.0f} MiB (zstd level 3); the bare "
        f"pipeline's file {out.stat().st_size / 2**20:.0f} MiB"
    )
