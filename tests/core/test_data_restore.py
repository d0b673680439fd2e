"""The decisions of a data restore, with a small stand-in for the engine: the presets and the
`data:` forms read, which dumps a rollback restores (`--services`), the copy of a service's
folders taken before anything touches them and put back (emptied first), and a journal that
the next command finishes or leaves alone. tests/cli/test_data_real.py runs them for real."""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cfgroll.capabilities import volumes
from cfgroll.context import Context
from cfgroll.engine.compose import Compose, model_of
from cfgroll.engine.folders import Mount
from cfgroll.errors import ProjectError
from cfgroll.presets import RECIPES
from cfgroll.settings import parse
from cfgroll.store import lock
from tests.core.fakes import container

VOLUME = Mount("volume", "p_data", "/var/lib/postgresql/data", True)


def test_a_preset_names_its_recipe_and_the_long_forms_are_read() -> None:
    found = parse({"data": {"db": "postgres", "cache": {"preset": "redis", "timeout": 30}}}).data
    assert found["db"].restore == RECIPES["postgres"].restore and found["db"].preset == "postgres"
    assert found["cache"].offline and found["cache"].timeout == 30
    hand = parse({"data": {"db": {"dump": "a", "restore": ["b"], "check": "c", "offline": True}}})
    assert hand.data["db"].check == ("sh", "-c", "c") and hand.data["db"].offline
    for bad, says in (
        ({"db": "oracle"}, "no preset 'oracle'"),
        ({"db": {"preset": "redis", "dump": "x"}}, "takes `check`, `preset`"),
        ({"db": {"dump": "a", "restore": "b", "offline": "yes"}}, "true or false"),
        ({"db": {"dump": "a", "restore": "b", "check": []}}, "`check:` must be a command"),
    ):
        with pytest.raises(ProjectError, match=says):
            parse({"data": bad})


def test_the_postgres_preset_drops_what_the_dump_would_not_make_again() -> None:
    script = RECIPES["postgres"].restore[-1]
    assert "DROP DATABASE %I WITH (FORCE)" in script and "DROP ROLE %I" in script
    assert "ON_ERROR_STOP=1" in script
    assert "DROP DATABASE" in RECIPES["mariadb"].restore[-1]


def test_compose_writes_dollars_twice_and_the_extensions_are_read_as_written() -> None:
    # what `docker compose config --format json` prints for `$$POSTGRES_DB` in both places
    out = (
        '{"services": {"db": {"command": ["echo", "$$HOME"]}}, '
        '"x-cfgroll": {"data": {"db": {"dump": "pg_dump \\"$$POSTGRES_DB\\"", '
        '"restore": ["a$$b"]}}}}'
    )
    model = model_of(out)
    assert model["x-cfgroll"] == {"data": {"db": {"dump": 'pg_dump "$POSTGRES_DB"',
                                                  "restore": ["a$b"]}}}  # fmt: skip
    assert model["services"]["db"]["command"] == ["echo", "$$HOME"]  # Compose's own, as it is


def _tar(top: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo(top)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        row = tarfile.TarInfo(f"{top}/PG_VERSION")
        row.size = 3
        tar.addfile(row, io.BytesIO(b"15\n"))
    return buf.getvalue()


class Folders:
    def __init__(self, calls: list[str], fail: str = "") -> None:
        self.calls, self.fail = calls, fail

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if what.startswith(self.fail or "\0"):
            raise OSError(f"{what} failed")

    def start(self, ids: Any) -> None:
        self._call(f"start {' '.join(ids)}")

    def copy_out(self, cid: str, path: str, sink: Any, timeout: float) -> None:
        self._call(f"copy out {cid}:{path}")
        sink.write(_tar("data"))

    def copy_in(self, cid: str, folder: str, source: Any, timeout: float) -> None:
        self._call(f"copy in {cid}:{folder} {len(source.read())} bytes")

    def one_off(self, image: str, mounts: Any, argv: Any, stdin: bool = False) -> str:
        self._call(f"one-off {' '.join(argv)} on {','.join(m.name for m in mounts)}")
        return "helper"

    def run_one_off(self, cid: str, timeout: float, what: str, source: Any = None,
                    sink: Any = None) -> None:  # fmt: skip
        self._call(f"run {cid}")
        if sink is not None:
            sink.write(b"2048\t/var/lib/postgresql/data\n")

    def remove(self, cid: str) -> None:
        self._call(f"remove {cid}")


class Engine:
    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.folders = Folders(self.calls, fail)
        self.db = replace(container("db"), mounts=(VOLUME, Mount("tmpfs", "", "/tmp", True)))

    def containers(self, project: str, service: str | None = None) -> list[Any]:
        return [self.db]

    def stop(self, ids: Any) -> None:
        self.calls.append(f"stop {' '.join(ids)}")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    store = tmp_path / ".cfgroll" / "store.git"
    store.mkdir(parents=True)
    context = Context(Compose(tmp_path, ()), store)
    context._daemon = Engine()  # type: ignore[assignment]
    return context


def engine(ctx: Context) -> Engine:
    assert isinstance(ctx._daemon, Engine)
    return ctx._daemon


def test_the_copy_is_taken_stopped_named_in_the_journal_and_put_back_emptied_first(
    ctx: Context,
) -> None:
    assert volumes.size(ctx, engine(ctx).db) == 2048 * 1024  # the volume, not the tmpfs
    journal = volumes.begin(ctx, "p", "backup_2", "backup_1", None)
    assert volumes.read(ctx) == journal  # durable before any service stops
    journal = volumes.take(ctx, journal, engine(ctx).db)
    assert volumes.read(ctx) == journal and journal.saved[0].folders[0].mount == VOLUME
    calls = engine(ctx).calls
    assert calls.index("stop id-db") < calls.index("copy out id-db:/var/lib/postgresql/data")
    calls.clear()
    volumes.put_back(ctx, journal)
    assert calls == [
        "stop id-db",
        "one-off find /var/lib/postgresql/data -mindepth 1 -maxdepth 1 -exec rm -rf {} + on p_data",
        "run helper",
        "copy in helper:/var/lib/postgresql 10240 bytes",
        "remove helper",
    ]
    volumes.finish(ctx, journal)
    assert volumes.read(ctx) is None and not list(volumes.copies_root(ctx).rglob("*.tar"))


def test_a_copy_that_fails_starts_the_service_again_and_restores_nothing(ctx: Context) -> None:
    ctx._daemon = Engine(fail="copy out")  # type: ignore[assignment]
    journal = volumes.begin(ctx, "p", "backup_2", "backup_1", None)
    with pytest.raises(volumes.CopyFailed, match="nothing was restored"):
        volumes.take(ctx, journal, engine(ctx).db)
    assert engine(ctx).calls[-1] == "start id-db"


def test_a_copy_that_cannot_go_back_names_its_files_and_keeps_the_journal(ctx: Context) -> None:
    journal = volumes.take(ctx, volumes.begin(ctx, "p", "b2", "b1", None), engine(ctx).db)
    ctx._daemon = Engine(fail="copy in")  # type: ignore[assignment]
    with pytest.raises(volumes.PutBackFailed, match=r"kept in .*0\.tar; `cfgroll doctor --fix`"):
        volumes.put_back(ctx, journal)
    assert volumes.read(ctx) == journal


def test_the_next_command_leaves_a_restore_under_way_alone(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgroll.transactions import unfinished

    volumes.begin(ctx, "p", "b2", "b1", None)
    monkeypatch.setattr(lock, "state", lambda _path: "held")
    assert unfinished.resume(ctx) is None and volumes.read(ctx) is not None
    assert engine(ctx).calls == []


def test_dumps_of_either_compression_are_read(tmp_path: Path) -> None:
    import gzip

    import zstandard

    from cfgroll.transactions.data_restore import _unpacked

    for name, packed in (
        ("db.1.zst", zstandard.compress(b"rows")),
        ("db.1.gz", gzip.compress(b"rows")),
    ):
        (tmp_path / name).write_bytes(packed)
        with open(tmp_path / name, "rb") as raw, _unpacked(raw, name) as source:
            assert source.read() == b"rows"


def test_doctor_names_a_restore_that_did_not_finish(ctx: Context) -> None:
    from cfgroll.operations.doctor import Report, _data

    volumes.take(ctx, volumes.begin(ctx, "p", "b2", "b1", None), engine(ctx).db)
    report = Report()
    _data(ctx, report, fix=False)
    (finding,) = [f for f in report.findings if f.verdict == "problem"]
    assert "a restore of b1's data" in finding.message and "did not finish" in finding.message
    assert "copies" in finding.message  # where they are; not a dump cut short
