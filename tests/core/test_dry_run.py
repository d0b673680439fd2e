"""What `deploy --dry-run` says a deploy would do to each service: Compose's own dry run (its
progress lines, as Compose 2.26 prints them) and the files each service mounts, with a
scripted engine and a stand-in for `docker compose`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cfgroll.context import Context
from cfgroll.engine.compose import Compose, Result
from cfgroll.orchestrators import Asked
from cfgroll.orchestrators.compose import COMPOSE, dry_run_changes
from cfgroll.orchestrators.swarm import SWARM
from tests.core.fakes import ScriptedDaemon, container

# `docker compose --dry-run up -d --no-build` after a `.env` change that only `web` reads, with
# `worker` stopped and `cron` not created yet
SAID = """\
 DRY-RUN MODE -  Container p-worker-1  Created
 DRY-RUN MODE -  Container p-db-1  Running
 DRY-RUN MODE -  Container p-web-1  Recreate
 DRY-RUN MODE -  Container p-web-1  Recreated
 DRY-RUN MODE -  Container 22f7262b3436_p-web-1  Starting
 DRY-RUN MODE -  Container 22f7262b3436_p-web-1  Started
 DRY-RUN MODE -  Container p-cron-1  Creating
 DRY-RUN MODE -  Container p-cron-1  Created
 DRY-RUN MODE -  Container p-cron-1  Starting
 DRY-RUN MODE -  Container p-worker-1  Starting
 DRY-RUN MODE -  Container p-worker-1  Started
"""
SERVICES = ["web", "worker", "db", "cron"]
RUNNING = {"p-web-1": "web", "p-worker-1": "worker", "p-db-1": "db"}


def test_compose_s_dry_run_is_read_service_by_service() -> None:
    assert dry_run_changes(SAID, RUNNING, "p", SERVICES) == {
        "web": ("recreate", "its configuration changed"),
        "worker": ("start", "it is not running"),
        "cron": ("create", "no container yet"),
    }  # db: running, left alone


class ScriptedCompose:
    """Answers `--dry-run up` with what Compose printed; keeps what it was asked."""

    name = "p"
    directory = Path(".")

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def run(self, *args: str, **_: Any) -> Result:
        self.asked.append(args)
        return Result("", SAID)


MODEL = {"services": {"web": {"build": "."}, "worker": {}, "db": {}, "cron": {}}}


def preview(services: list[str], mounted: set[str], no_build: bool = False) -> Any:
    running = [replace(container(s), name=n) for n, s in RUNNING.items()]
    ctx = cast(Context, SimpleNamespace(daemon=ScriptedDaemon([running])))
    compose = ScriptedCompose()
    only = services != SERVICES
    asked = Asked(cast(Compose, compose), MODEL, services, mounted, no_build, only)
    found = COMPOSE.preview(ctx, asked)
    return {s.service: (s.change, s.why, s.build) for s in found}, compose.asked


def test_a_changed_mounted_file_recreates_what_compose_would_leave_running() -> None:
    found, asked = preview(SERVICES, {"db", "web"})
    assert found == {
        "web": ("recreate", "its configuration changed; files it mounts changed", True),
        "worker": ("start", "it is not running", False),
        "db": ("recreate", "files it mounts changed", False),
        "cron": ("create", "no container yet", False),
    }
    # Compose is asked to pretend only: nothing built, pulled or started
    assert asked == [("--dry-run", "up", "-d", "--no-build", "--pull", "never", "--remove-orphans")]


def test_an_update_asks_about_its_services_only() -> None:
    found, asked = preview(["web"], set(), no_build=True)
    assert found == {"web": ("recreate", "its configuration changed", False)}
    assert asked[0][-2:] == ("--no-deps", "web")


def test_a_swarm_stack_says_swarm_decides() -> None:
    ctx = cast(Context, SimpleNamespace())
    asked = Asked(cast(Compose, ScriptedCompose()), MODEL, ["web", "db"], {"db"}, False)
    found = SWARM.preview(ctx, asked)
    assert [(s.change, s.why, s.build) for s in found] == [
        ("update", "if its spec changed", True),
        ("update", "files it uses changed", False),
    ]
