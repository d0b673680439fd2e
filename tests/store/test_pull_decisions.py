"""`cfgroll pull`'s decisions against real git repositories (a bare origin, a clone, a second
clone that pushes), with the deploy faked: what is new, what is skipped, what is refused, and
where the work tree is left. tests/cli/test_pull.py runs the real deploy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cfgroll.context import Context
from cfgroll.errors import DeployFailed
from cfgroll.operations import pull as pulling
from cfgroll.operations.pull import PullOptions, PullRefused, pull
from cfgroll.store.files import FileData
from cfgroll.store.manifest import ATTEMPT, GitSource
from cfgroll.store.worktree import FetchFailed
from cfgroll.transactions.deploy import Deployed
from cfgroll.transactions.init import Initialised
from tests.helpers import git_in as sh
from tests.store.test_repo import manifest

COMPOSE = "services:\n  web:\n    image: busybox\n"


@dataclass
class Origin:
    """A bare origin, the host's clone of it, and a developer's clone that pushes."""

    bare: Path
    host: Path
    dev: Path

    def commit(self, message: str, **files: str) -> str:
        for name, text in files.items():
            (self.dev / name).write_text(text)
        sh(self.dev, "add", "-A")
        sh(self.dev, "commit", "-q", "--allow-empty", "-m", message)
        sh(self.dev, "push", "-q", "origin", "main")
        return sh(self.dev, "rev-parse", "HEAD")


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    bare, dev, host = tmp_path / "origin.git", tmp_path / "dev", tmp_path / "host"
    sh(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    sh(tmp_path, "clone", "-q", str(bare), str(dev))
    (dev / "compose.yaml").write_text(COMPOSE)
    (dev / ".gitignore").write_text(".env\n")
    sh(dev, "add", "-A")
    sh(dev, "commit", "-q", "-m", "first")
    sh(dev, "push", "-q", "origin", "HEAD:main")
    sh(tmp_path, "clone", "-q", str(bare), str(host))
    (host / ".env").write_text("PASSWORD=host-only\n")  # ignored by the repository
    return Origin(bare, host, dev)


@dataclass
class FakeDeploy:
    """Records a release (or, when told to fail, an attempt) carrying the commit."""

    fail: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    unchanged: bool = False

    def __call__(self, ctx: Context, git: GitSource | None = None) -> Deployed:
        assert git is not None
        self.calls.append(git.commit)
        store = ctx.open_store()
        live = store.live()
        files = {"compose.yaml": FileData((ctx.directory / "compose.yaml").read_bytes())}
        n = len(store.tags()) + 1
        init = Initialised(store, False, None)
        if git.commit in self.fail:
            m = manifest(f"failed_20261202_1000{n:02d}", kind=ATTEMPT, result="failed", git=git)
            store.record(files, m, "failed\n", live.commit if live else None, on_main=False)
            raise DeployFailed("deploy failed (web crashed); rolled back")
        if self.unchanged and live is not None:
            return Deployed(live, init, None, unchanged=True)
        m = manifest(f"backup_20261202_1000{n:02d}", git=git)
        entry = store.record(files, m, "deploy\n", live.commit if live else None, on_main=True)
        return Deployed(entry, init, None)


@pytest.fixture
def deployer(monkeypatch: pytest.MonkeyPatch) -> FakeDeploy:
    fake = FakeDeploy()
    monkeypatch.setattr(pulling, "deploy", fake)
    return fake


def test_a_new_commit_is_deployed_once(origin: Origin, deployer: FakeDeploy) -> None:
    ctx = Context.create(origin.host)
    first = pull(ctx)
    assert first.outcome == "deployed" and deployer.calls == [sh(origin.host, "rev-parse", "HEAD")]
    assert pull(ctx).outcome == "up to date"
    second = origin.commit("second", **{"compose.yaml": COMPOSE + "# two\n"})
    done = pull(ctx)
    assert done.outcome == "deployed" and done.source.commit == second
    assert done.source.author == "dev <dev@example.com>" and done.source.branch == "main"
    assert sh(origin.host, "rev-parse", "HEAD") == second
    assert (origin.host / ".env").read_text() == "PASSWORD=host-only\n"
    assert pull(ctx).outcome == "up to date" and len(deployer.calls) == 2
    # the store never reaches the project's own repository, and .gitignore is not touched
    assert sh(origin.host, "status", "--porcelain") == ""


def test_a_commit_that_changes_nothing_is_not_deployed_again(
    origin: Origin, deployer: FakeDeploy
) -> None:
    ctx = Context.create(origin.host)
    pull(ctx)
    deployer.unchanged = True
    origin.commit("docs only", **{"README.md": "# docs\n"})
    assert pull(ctx).outcome == "unchanged"
    assert pull(ctx).outcome == "up to date"
    origin.commit("empty")  # an empty commit: nothing changes either
    assert pull(ctx).outcome == "unchanged"
    assert len(deployer.calls) == 3
    assert pull(ctx).outcome == "up to date"  # not held: nothing was done by hand
    # a person deploys other files by hand (no commit recorded): that holds the branch
    store = ctx.open_store()
    mine = manifest("backup_20261202_120000", action="deploy")
    store.record({"compose.yaml": FileData(b"services: {}\n")}, mine, "deploy\n",
                 store.live().commit, on_main=True)  # type: ignore[union-attr]  # fmt: skip
    got = pull(ctx)
    assert got.outcome == "held" and pulling.said(got).startswith("held: deployed by hand at")


def test_a_failed_commit_puts_the_tree_back_and_is_skipped(
    origin: Origin, deployer: FakeDeploy
) -> None:
    ctx = Context.create(origin.host)
    pull(ctx)
    good = sh(origin.host, "rev-parse", "HEAD")
    bad = origin.commit("crash", **{"compose.yaml": COMPOSE + "# crash\n"})
    deployer.fail.add(bad)
    with pytest.raises(DeployFailed):
        pull(ctx)
    assert sh(origin.host, "rev-parse", "HEAD") == good
    assert "crash" not in (origin.host / "compose.yaml").read_text()
    skipped = pull(ctx)
    assert skipped.outcome == "skipped" and skipped.failed_as.startswith("failed_")
    assert len(deployer.calls) == 2
    with pytest.raises(DeployFailed):
        pull(ctx, PullOptions(retry=True))
    fixed = origin.commit("fix", **{"compose.yaml": COMPOSE + "# fixed\n"})
    assert pull(ctx).outcome == "deployed"
    assert sh(origin.host, "rev-parse", "HEAD") == fixed


def test_a_persons_work_is_never_overwritten(origin: Origin, deployer: FakeDeploy) -> None:
    ctx = Context.create(origin.host)
    pull(ctx)
    origin.commit("upstream change", **{"compose.yaml": COMPOSE + "# upstream\n"})
    (origin.host / "compose.yaml").write_text(COMPOSE + "# my edit\n")
    with pytest.raises(
        PullRefused, match="uncommitted changes to tracked files \\(compose.yaml\\)"
    ):
        pull(ctx)
    assert (origin.host / "compose.yaml").read_text() == COMPOSE + "# my edit\n"
    sh(origin.host, "commit", "-q", "-am", "a local commit")
    mine = sh(origin.host, "rev-parse", "HEAD")
    with pytest.raises(PullRefused, match="commits that are not on origin/main"):
        pull(ctx)
    assert sh(origin.host, "rev-parse", "HEAD") == mine and len(deployer.calls) == 1


def test_a_force_push_is_followed_only_when_asked(origin: Origin, deployer: FakeDeploy) -> None:
    ctx = Context.create(origin.host)
    origin.commit("will be rewritten", **{"compose.yaml": COMPOSE + "# v1\n"})
    pull(ctx)
    sh(origin.dev, "reset", "-q", "--hard", "HEAD~1")
    (origin.dev / "compose.yaml").write_text(COMPOSE + "# rewritten\n")
    sh(origin.dev, "commit", "-qam", "rewritten")
    sh(origin.dev, "push", "-q", "--force", "origin", "main")
    with pytest.raises(PullRefused, match="force-pushed.*--allow-reset"):
        pull(ctx)
    assert "# v1" in (origin.host / "compose.yaml").read_text()
    assert pull(ctx, PullOptions(allow_reset=True)).outcome == "deployed"
    assert "# rewritten" in (origin.host / "compose.yaml").read_text()


def test_fetch_failures_and_a_branch_that_disappears(origin: Origin, deployer: FakeDeploy) -> None:
    ctx = Context.create(origin.host)
    with pytest.raises(FetchFailed, match="the branch gone is gone from origin"):
        pull(ctx, PullOptions(branch="gone"))
    sh(origin.host, "remote", "set-url", "origin", str(origin.bare.parent / "nowhere.git"))
    with pytest.raises(FetchFailed, match="could not fetch main from origin"):
        pull(ctx)
    assert deployer.calls == []


def test_a_merge_commit_is_deployed(origin: Origin, deployer: FakeDeploy) -> None:
    ctx = Context.create(origin.host)
    pull(ctx)
    sh(origin.dev, "switch", "-q", "-c", "feature")
    origin.commit("feature work", **{"feature.txt": "f\n"})
    sh(origin.dev, "switch", "-q", "main")
    (origin.dev / "other.txt").write_text("o\n")
    sh(origin.dev, "add", "-A")
    sh(origin.dev, "commit", "-qm", "main work")
    sh(origin.dev, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    sh(origin.dev, "push", "-q", "origin", "main")
    merged = pull(ctx)
    assert merged.outcome == "deployed" and merged.subject == "merge feature"
    assert (origin.host / "feature.txt").exists()


def test_not_a_work_tree_and_a_detached_head(tmp_path: Path, origin: Origin) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "compose.yaml").write_text(COMPOSE)
    with pytest.raises(PullRefused.__mro__[1], match="not in a git work tree"):
        pull(Context.create(tmp_path / "plain"))
    sh(origin.host, "checkout", "-q", "--detach")
    with pytest.raises(PullRefused, match="HEAD is detached"):
        pull(Context.create(origin.host))


@pytest.mark.parametrize(
    "block", ["pull: main", "pull: {remote: origin, tag: v1}", "pull: {branch: ''}"]
)
def test_a_bad_pull_block_is_refused(block: str) -> None:
    import yaml

    from cfgroll.errors import ProjectError
    from cfgroll.settings import parse

    with pytest.raises(ProjectError, match="pull:"):
        parse(yaml.safe_load(block))
    assert parse({"pull": {"remote": "up", "branch": "prod"}}).pull == ("up", "prod")


def scripted(
    script: list[tuple[float, object]], stop: threading.Event, clock: list[float]
) -> Callable[[object, object], object]:
    """A stand-in for `pull` that plays `script`, one (the time then, its result or its error)
    a call; the last one stops the watch."""

    def fake_pull(ctx: object, options: object) -> object:
        clock[0], result = script.pop(0)
        if not script:
            stop.set()
        if isinstance(result, Exception):
            raise result
        return result

    return fake_pull


def test_watch_backs_off_on_fetch_errors_and_stops_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime, timezone

    source = GitSource("a" * 40, "main", "origin", "dev", datetime.now(timezone.utc))
    hold = pulling.Held("backup_2", "backup_1", datetime(2026, 12, 2, 11, 0, tzinfo=timezone.utc))
    results: list[object] = [
        FetchFailed("could not fetch main from origin: no route"),
        FetchFailed("could not fetch main from origin: no route"),
        pulling.Pulled("held", source, "web v2", held=hold),
        pulling.Pulled("held", source, "web v2", held=hold),
        pulling.Pulled("up to date", source, "web v1"),
        DeployFailed("deploy failed (web crashed); rolled back"),
        PullRefused("uncommitted changes to tracked files (compose.yaml)"),
    ]
    stop = threading.Event()
    waits: list[float] = []
    monkeypatch.setattr(pulling, "pull", scripted([(0, r) for r in results], stop, [0.0]))
    monkeypatch.setattr(stop, "wait", lambda delay: waits.append(delay))
    lines: list[str] = []
    pulling.watch(None, PullOptions(), 5, lines.append, stop)  # type: ignore[arg-type]
    # doubled after each failed fetch, back after a success; none once stopped
    assert waits == [10, 20, 5, 5, 5, 5]
    assert "trying again in 10 s" in lines[0] and "trying again in 20 s" in lines[1]
    assert lines[2].startswith("held: rolled back by hand to backup_1")  # said once, not twice
    assert lines[3] == "up to date at aaaaaaa (origin/main)"
    assert "skipped until the branch moves on" in lines[4]
    assert "uncommitted changes" in lines[5] and "checking again in 5 s" in lines[5]


def test_watch_ends_on_ctrl_c_during_a_deploy(monkeypatch: pytest.MonkeyPatch) -> None:

    def interrupted(ctx: object, options: object) -> object:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise DeployFailed("deploy failed (interrupted); rolled back") from exc

    monkeypatch.setattr(pulling, "pull", interrupted)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        pulling.watch(None, PullOptions(), 5, lines.append, threading.Event())  # type: ignore[arg-type]
    assert lines == ["deploy failed (interrupted); rolled back"]


def test_a_rollback_by_hand_holds_the_branch_until_a_new_commit(
    origin: Origin, deployer: FakeDeploy
) -> None:
    ctx = Context.create(origin.host)
    pull(ctx)
    store = ctx.open_store()
    first = store.live()
    assert first is not None
    c2 = origin.commit("v2", **{"compose.yaml": COMPOSE + "# v2\n"})
    assert pull(ctx).outcome == "deployed"
    # a person rolls back by hand: the first release's files, recorded as a rollback
    old = {"compose.yaml": FileData(COMPOSE.encode())}
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)  # after the pull that handled v2
    back = manifest("backup_20261202_110000", now, action="rollback", target=first.tag)
    store.record(old, back, "rollback\n", store.live().commit, on_main=True)  # type: ignore[union-attr]
    (origin.host / "compose.yaml").write_text(COMPOSE)
    tags = store.tags()

    held = pull(ctx)
    assert held.outcome == "held" and held.held is not None and held.held.target == first.tag
    line = pulling.said(held)
    assert line.startswith(f"held: rolled back by hand to {first.tag}") and c2[:7] in line
    assert "`cfgroll pull --resume`" in line
    assert (origin.host / "compose.yaml").read_text() == COMPOSE and store.tags() == tags
    # a person's own edit still refuses, naming only it
    (origin.host / ".gitignore").write_text(".env\nmine\n")
    with pytest.raises(PullRefused, match=r"uncommitted changes to tracked files \(.gitignore\)"):
        pull(ctx)
    sh(origin.host, "checkout", "--", ".gitignore")
    # --resume deploys the held commit; failing, it leaves the rolled-back files that run
    deployer.fail.add(c2)
    with pytest.raises(DeployFailed):
        pull(ctx, PullOptions(resume=True))
    assert (origin.host / "compose.yaml").read_text() == COMPOSE

    c3 = origin.commit("v3: the fix", **{"compose.yaml": COMPOSE + "# v3\n"})
    assert pull(ctx).outcome == "deployed" and deployer.calls[-1] == c3
    assert (
        sh(origin.host, "rev-parse", "HEAD") == c3
        and sh(origin.host, "status", "--porcelain") == ""
    )
    assert (origin.host / "compose.yaml").read_text() == COMPOSE + "# v3\n"


def test_a_committed_gitignore_is_never_edited_for_the_store(origin: Origin) -> None:
    from cfgroll.transactions.init import ignore_store

    before = (origin.host / ".gitignore").read_text()
    assert ignore_store(Context.create(origin.host)) is None
    assert (origin.host / ".gitignore").read_text() == before
    assert ".cfgroll/" in (origin.host / ".git" / "info" / "exclude").read_text()
    assert sh(origin.host, "status", "--porcelain") == ""


def test_watch_tells_of_a_long_fetch_outage_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    source = GitSource("a" * 40, "main", "origin", "dev", datetime.now(timezone.utc))
    down = FetchFailed("could not fetch main from origin: no route")
    # seconds since the first failure, as the watch sees them at each check
    script: list[tuple[float, object]] = [
        (0, down), (900, down), (1800, down), (2400, down),  # told once, at 30 minutes
        (2500, pulling.Pulled("up to date", source, "v1")),  # back: a new outage is new
        (3000, down), (4900, down),
    ]  # fmt: skip
    stop = threading.Event()
    told: list[str] = []
    clock = [0.0]
    monkeypatch.setattr(pulling, "pull", scripted(script, stop, clock))
    monkeypatch.setattr(pulling.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(pulling, "_block", lambda ctx: {"notify": {"fetch_minutes": 30}})
    monkeypatch.setattr(pulling.notify, "tell", lambda *a, **k: told.append(a[2]) or True)
    monkeypatch.setattr(stop, "wait", lambda delay: None)
    pulling.watch(None, PullOptions(), 5, lambda _line: None, stop)  # type: ignore[arg-type]
    assert told == ["unreachable", "unreachable"]


def test_changed_files_with_spaces_accents_and_renames(tmp_path: Path) -> None:
    """git quotes such paths in its plain status: read NUL-separated, each is named as it is,
    so a file a person changed is never taken as committed (`clone` writes over those)."""
    from cfgroll.store.worktree import WorkTree, committed

    sh(tmp_path, "init", "-q", ".")
    for name in ("my file.yml", "é.env", "plain", "kept"):
        (tmp_path / name).write_text("a\n")
    sh(tmp_path, "add", ".")
    sh(tmp_path, "commit", "-qm", "one")
    (tmp_path / "my file.yml").write_text("b\n")
    (tmp_path / "é.env").write_text("b\n")
    sh(tmp_path, "mv", "plain", "moved")
    assert sorted(WorkTree.of(tmp_path).changed()) == ["moved", "my file.yml", "plain", "é.env"]
    assert {p.name for p in committed(tmp_path)} == {"kept"}
