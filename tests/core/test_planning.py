"""Core decisions without an engine: the drift `status` reports, and what a rollback does with
a release (which files it writes, which services it retags and recreates, what it refuses).
Real git for the store, a real folder for the project; hand-written fakes for the engine and
Compose doors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cfgroll.context import Context
from cfgroll.engine.daemon import Container
from cfgroll.errors import ImageMissing, ProjectError
from cfgroll.history.log import Side
from cfgroll.history.status import file_drift
from cfgroll.orchestrators.compose import UP_RECREATE, service_states
from cfgroll.settings import Flags
from cfgroll.store.files import FileData
from cfgroll.store.manifest import FileUse, Layout, Manifest, ServiceRecord
from cfgroll.store.repo import Entry, Store
from cfgroll.transactions.restore import restore
from cfgroll.transactions.rollback import plan
from tests.core.fakes import EveryReadAnEvent, container, healthy
from tests.core.test_hooks import Collecting

IMAGE = {"web": "sha256:" + "a" * 64, "worker": "sha256:" + "b" * 64}


class Engine:
    """The engine door: containers by project, image IDs, tags (recorded)."""

    def __init__(self, running: list[Container], images: set[str]) -> None:
        self.running = running
        self.images = images
        self.tags: list[tuple[str, str]] = []

    def containers(self, project: str, service: str | None = None) -> list[Container]:
        return [c for c in self.running if service is None or c.service == service]

    def image_id(self, ref: str) -> str | None:
        return ref if ref in self.images else None

    def tag(self, image_id: str, ref: str) -> None:
        self.tags.append((image_id, ref))

    def logs(self, container_id: str, lines: int = 20) -> str:
        return ""

    def health_log(self, container_id: str) -> str:
        return ""

    def watch(self, project: str) -> EveryReadAnEvent:
        return EveryReadAnEvent()


class FakeCompose:
    """The Compose door: records each `docker compose` argv; `on_up` plays what `up` does."""

    def __init__(self, directory: Path, on_up: Callable[[tuple[str, ...]], None] = print) -> None:
        self.directory = directory
        self.name: str | None = "p"
        self.runs: list[tuple[str, ...]] = []
        self.on_up = on_up

    def named(self, name: str) -> FakeCompose:
        self.name = name
        return self

    def variant(self, files: object, name: str, env_files: object) -> FakeCompose:
        return self.named(name)

    def config(self) -> dict[str, object]:
        return {"name": self.name, "services": {}}  # every service stop-first

    def run(self, *args: str, on_line: object = None, what: str = "") -> None:
        self.runs.append(args)
        if args[0] == "up":
            self.on_up(args)


def release(store: Store, n: int, files: dict[str, bytes], parent: str | None) -> Entry:
    uses = (
        FileUse("conf/web.conf", "web", "bind", "/etc/web.conf", True),
        FileUse("conf/worker.conf", "worker", "bind", "/etc/worker.conf", True),
    )
    roles = {p: ("compose" if p == "compose.yaml" else "mount") for p in files}
    manifest = Manifest(
        tag=f"backup_2026010{n}_000000",
        action="deploy",
        project="p",
        created_at=datetime(2026, 1, n, tzinfo=timezone.utc),
        host="h",
        user="u",
        cfgroll_version="0",
        result="ok",
        layout=Layout(roles, ("compose.yaml",), uses=uses),
        services={s: ServiceRecord(f"p-{s}", IMAGE[s], f"p-{s}:t{n}") for s in IMAGE},
    )
    content = {p: FileData(d) for p, d in files.items()}
    return store.record(content, manifest, f"deploy {n}\n", parent, on_main=True)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Store, Entry, Entry, Path]:
    """Releases 1 and 2 differ in conf/web.conf only; the project holds release 2's files."""
    store, _ = Store.create(tmp_path / "store.git")
    base = {"compose.yaml": b"services: {}\n", "conf/worker.conf": b"w1\n"}
    one = release(store, 1, {**base, "conf/web.conf": b"web1\n"}, None)
    two = release(store, 2, {**base, "conf/web.conf": b"web2\n"}, one.commit)
    proj = tmp_path / "proj"
    for path, data in store.files(two).items():
        (proj / path).parent.mkdir(parents=True, exist_ok=True)
        (proj / path).write_bytes(data.data)
    return store, one, two, proj


def context(proj: Path, engine: Engine, compose: FakeCompose, store: Path) -> Context:
    ctx = Context(compose, store, Collecting(), Flags(settle=0, timeout=5))  # type: ignore[arg-type]
    ctx._daemon = engine  # type: ignore[assignment]
    return ctx


def test_a_rollback_recreates_only_the_services_whose_mounted_files_changed(
    two: tuple[Store, Entry, Entry, Path],
) -> None:
    """`up` leaves both containers in place (nothing in their Compose config changed); only
    web mounts a file the rollback changed, so only web is recreated."""
    store, one, live, proj = two
    engine = Engine([healthy(container("web")), healthy(container("worker"))], set(IMAGE.values()))
    compose = FakeCompose(proj, on_up=lambda _args: None)
    ctx = context(proj, engine, compose, store.path)
    restore(ctx, store, one, set(one.manifest.files) | set(live.manifest.files))
    assert (proj / "conf/web.conf").read_bytes() == b"web1\n"
    assert sorted(ref for _, ref in engine.tags) == ["p-web", "p-worker"]
    assert compose.runs[-1] == (*UP_RECREATE, "web")


def test_a_service_that_up_recreated_is_not_recreated_again(
    two: tuple[Store, Entry, Entry, Path],
) -> None:
    store, one, live, proj = two
    engine = Engine([healthy(container("web")), healthy(container("worker"))], set(IMAGE.values()))

    def up_replaces_web(_args: tuple[str, ...]) -> None:
        engine.running[0] = replace(engine.running[0], id="id-web-new")

    compose = FakeCompose(proj, on_up=up_replaces_web)
    restore(context(proj, engine, compose, store.path), store, one, set(live.manifest.files))
    assert [r[0] for r in compose.runs] == ["up"]


def test_rollback_with_services_leaves_files_and_other_services_alone(
    two: tuple[Store, Entry, Entry, Path],
) -> None:
    store, one, _live, proj = two
    engine = Engine([healthy(container("web")), healthy(container("worker"))], set(IMAGE.values()))
    compose = FakeCompose(proj, on_up=lambda _args: None)
    restore(context(proj, engine, compose, store.path), store, one, None, only=["worker"])
    assert (proj / "conf/web.conf").read_bytes() == b"web2\n"  # files untouched
    assert engine.tags == [(IMAGE["worker"], "p-worker")]
    assert compose.runs == [
        ("up", "-d", "--remove-orphans", "--no-build", "--pull", "never", "--no-deps", "worker")
    ]


def test_a_plan_refuses_a_release_whose_image_is_gone_before_anything_changes(
    two: tuple[Store, Entry, Entry, Path],
) -> None:
    store, one, _live, proj = two
    engine = Engine([], {IMAGE["worker"]})
    compose = FakeCompose(proj)
    ctx = context(proj, engine, compose, store.path)
    with pytest.raises(ImageMissing, match="web"):
        plan(ctx, one.tag)
    planned = plan(ctx, one.tag, ["worker"])  # only what is asked for must exist
    assert planned.images == {"worker": "yes"} and compose.runs == [] and engine.tags == []


# -- drift ------------------------------------------------------------------------------------


def test_service_drift_from_container_states(two: tuple[Store, Entry, Entry, Path]) -> None:
    store, _one, live, proj = two
    web = healthy(container("web"))
    engine = Engine(
        [
            replace(web, image_id="sha256:" + "c" * 64),
            container("worker", state="exited"),
            container("extra"),
        ],
        set(),
    )
    states = {
        s.service: s
        for s in service_states(context(proj, engine, FakeCompose(proj), store.path), live)
    }
    assert not states["web"].ok and "runs image cccccccccccc" in states["web"].state
    assert not states["worker"].ok and "p-worker-1 exited (exit 0)" in states["worker"].state
    assert states["extra"].state == "not in the live release"
    engine.running = [web, replace(container("worker"), image_id=IMAGE["worker"])]
    states = {
        s.service: s
        for s in service_states(context(proj, engine, FakeCompose(proj), store.path), live)
    }
    assert states["web"].ok and states["web"].state == "running, healthy"
    assert states["worker"].ok and states["worker"].state == "running"


def test_file_drift_by_kind(two: tuple[Store, Entry, Entry, Path]) -> None:
    store, _one, live, _proj = two
    recorded = store.files(live)
    on_disk = {
        **recorded,
        "conf/web.conf": FileData(b"web3\n"),  # modified
        "conf/worker.conf": FileData(b"w1\n", "exec"),  # mode only
        ".env": FileData(b"A=1\nB=2\n"),  # added, an env file
    }
    del on_disk["compose.yaml"]  # removed
    roles = {**live.manifest.files, ".env": "env"}
    drift = {d.path: d for d in file_drift(store, live, Side("disk", on_disk, roles, None))}  # type: ignore[arg-type]
    assert {p: d.state for p, d in drift.items()} == {
        ".env": "added",
        "compose.yaml": "removed",
        "conf/web.conf": "modified",
        "conf/worker.conf": "mode",
    }
    env = drift[".env"].env
    assert env is not None and sorted(env.added) == ["A", "B"]


def test_images_gone_are_pulled_by_digest_and_must_be_the_recorded_ones(
    two: tuple[Store, Entry, Entry, Path],
) -> None:
    """A pull that fails, or brings another image than the release recorded, stops the
    rollback before anything changed, in one line saying what to do."""
    from cfgroll.errors import CfgrollError
    from cfgroll.transactions.restore import fetch

    store, one, _two, proj = two
    svc = replace(one.manifest.services["web"], repo_digest="reg/p-web@sha256:" + "c" * 64)
    entry = replace(one, manifest=replace(one.manifest, services={"web": svc}))
    engine = Engine([], set())
    ctx = context(proj, engine, FakeCompose(proj), store.path)
    engine.pull = lambda ref: IMAGE["web"]  # type: ignore[attr-defined]
    fetch(ctx, entry, ["web"])
    fetch(ctx, entry, [])  # nothing to pull: nothing asked
    engine.pull = lambda ref: "sha256:" + "d" * 64  # type: ignore[attr-defined]
    with pytest.raises(CfgrollError, match="is image sha256:dddd.* not the recorded sha256:aaaa"):
        fetch(ctx, entry, ["web"])

    def unreachable(ref: str) -> str:
        raise OSError("registry down")

    engine.pull = unreachable  # type: ignore[attr-defined]
    with pytest.raises(CfgrollError, match="cannot pull the image of web .*registry down.*nothing"):
        fetch(ctx, entry, ["web"])


def test_a_failed_rollback_says_what_runs_now(two: tuple[Store, Entry, Entry, Path]) -> None:
    from cfgroll.transactions.restore import running

    store, _one, _two, proj = two
    web = container("web", health="healthy")
    gone = replace(container("worker", state="exited"), exit_code=3)
    ctx = context(proj, Engine([web, gone], set()), FakeCompose(proj), store.path)
    assert running(ctx, "p") == "p-web-1 running/healthy, p-worker-1 exited 3"
    assert running(context(proj, Engine([], set()), FakeCompose(proj), store.path), "p") == (
        "no container"
    )


def test_the_project_is_found_from_a_subfolder_as_compose_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgroll.context import Context

    (tmp_path / "compose.yaml").write_text("services: {}\n")
    deeper = tmp_path / "sub" / "deeper"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert Context.create().directory == tmp_path.resolve()
    # -C wins: no walking up from a folder given on purpose
    with pytest.raises(ProjectError, match="no compose file in"):
        Context.create(deeper)
