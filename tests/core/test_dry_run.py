"""What `deploy --dry-run` says a deploy would do to each service, decided from Compose's
configuration hash, the files each service mounts and the containers' states (a scripted
engine, a stand-in for `docker compose config --hash`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cfgroll.context import Context
from cfgroll.engine.compose import Compose, Result
from cfgroll.orchestrators.compose import COMPOSE
from cfgroll.orchestrators.swarm import SWARM
from tests.core.fakes import ScriptedDaemon, container


class HashingCompose:
    """Answers `config --hash` with the hash each service's configuration has now."""

    name = "p"
    directory = Path(".")

    def __init__(self, hashes: dict[str, str]) -> None:
        self.hashes = hashes
        self.asked: list[tuple[str, ...]] = []

    def run(self, *args: str, **_: Any) -> Result:
        self.asked.append(args)
        assert args[:2] == ("config", "--hash")
        lines = [f"{s} {self.hashes[s]}" for s in args[2].split(",")]
        return Result("\n".join(lines) + "\n", "")


MODEL = {"services": {"web": {"build": "."}, "db": {"image": "db"}, "new": {"image": "x"}}}


def preview(hashes: dict[str, str], mounted: set[str], no_build: bool = False) -> dict[str, Any]:
    running = [
        replace(container("web"), config_hash="h-web"),
        replace(container("db"), config_hash="h-db"),
    ]
    ctx = cast(Context, SimpleNamespace(daemon=ScriptedDaemon([running])))
    compose = cast(Compose, HashingCompose(hashes))
    found = COMPOSE.preview(ctx, compose, MODEL, ["web", "db", "new"], mounted, no_build)
    return {s.service: (s.change, s.why, s.build) for s in found}


def test_a_changed_configuration_recreates_and_a_missing_container_is_created() -> None:
    found = preview({"web": "h-web2", "db": "h-db", "new": "h-new"}, set())
    assert found == {
        "web": ("recreate", "its configuration changed", True),
        "db": ("unchanged", "", False),
        "new": ("create", "", False),
    }


def test_a_changed_mounted_file_recreates_what_compose_would_leave_running() -> None:
    found = preview({"web": "h-web", "db": "h-db", "new": "h-new"}, {"db"}, no_build=True)
    assert found["db"] == ("recreate", "files it mounts changed", False)
    assert found["web"] == ("unchanged", "", False)  # --no-build: nothing built


def test_a_stopped_container_is_recreated() -> None:
    running = [replace(container("db", state="exited"), config_hash="h-db")]
    ctx = cast(Context, SimpleNamespace(daemon=ScriptedDaemon([running])))
    compose = cast(Compose, HashingCompose({"db": "h-db"}))
    (db,) = COMPOSE.preview(ctx, compose, MODEL, ["db"], set(), False)
    assert (db.change, db.why) == ("recreate", "it is not running")


def test_a_swarm_stack_says_swarm_decides() -> None:
    ctx = cast(Context, SimpleNamespace())
    compose = cast(Compose, HashingCompose({}))
    found = SWARM.preview(ctx, compose, MODEL, ["web", "db"], {"db"}, False)
    assert [(s.change, s.why, s.build) for s in found] == [
        ("update", "if its spec changed", True),
        ("update", "files it uses changed", False),
    ]
