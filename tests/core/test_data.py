"""`x-cfgroll: data:` read and refused, and the dumps' index kept (no engine: dumps written by
hand where `take` would put them). tests/cli/test_data.py dumps and restores for real."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cfgroll.capabilities import data
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.errors import ProjectError
from cfgroll.settings import DUMP_TIMEOUT, DataCommand, parse


def test_the_data_block_is_read_and_checked() -> None:
    block = {"data": {"db": {"dump": ["pg_dumpall"], "restore": "psql -q", "timeout": 60}}}
    assert parse(block).data == {"db": DataCommand(("pg_dumpall",), ("sh", "-c", "psql -q"), 60.0)}
    assert parse({"data": {"db": {"dump": ["a"], "restore": ["b"]}}}).data["db"].timeout == (
        DUMP_TIMEOUT
    )
    for bad in (
        {"data": ["db"]},
        {"data": {"db": {"dump": [], "restore": ["b"]}}},
        {"data": {"db": {"dump": ["a"]}}},
        {"data": {"db": {"dump": ["a"], "restore": ["b"], "when": "always"}}},
        {"data": {"db": {"dump": ["a"], "restore": ["b"], "timeout": 0}}},
    ):
        with pytest.raises(ProjectError, match="data"):
            parse(bad)


def test_a_service_the_project_does_not_have_is_refused() -> None:
    block = {"data": {"dbb": {"dump": ["a"], "restore": ["b"]}}}
    with pytest.raises(ProjectError, match="names dbb, which the project does not have"):
        data.commands(block, ["db", "web"])


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    store = tmp_path / ".cfgroll" / "store.git"
    return Context(Compose(tmp_path, ()), store)


def dump(ctx: Context, tag: str, service: str, content: bytes) -> data.Dump:
    name = f"{tag}/{service}.gz"
    path = data.folder(ctx) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    return data.Dump(tag, service, name, len(content), digest, 0.1, "2026-12-02T10:00:00Z")


def test_the_index_prune_and_doctors_view(ctx: Context) -> None:
    kept = [dump(ctx, "backup_1", "db", b"one"), dump(ctx, "backup_2", "db", b"two")]
    data._save(ctx, kept)
    assert data.dumps(ctx) == kept and data.newest(ctx, "backup_2") == {"db": kept[1]}
    assert data.damaged(ctx) == []
    (data.folder(ctx) / kept[0].file).write_bytes(b"changed")
    assert data.damaged(ctx) == ["db of backup_1 (backup_1/db.gz)"]
    (data.folder(ctx) / "backup_2" / "db.x.gz.partial").write_bytes(b"half")
    assert [p.name for p in data.partials(ctx)] == ["db.x.gz.partial"]
    gone = data.forget(ctx, {"backup_2"})
    assert gone == [kept[0]] and data.dumps(ctx) == [kept[1]]
    assert not (data.folder(ctx) / kept[0].file).exists()
