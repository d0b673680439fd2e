"""Which releases keep their images, decided without an engine: a real store (git), a fake of
the engine's image door. And what `log` marks restorable: here, pullable by digest, gone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cfgroll.capabilities.retention import Policy, after_release, pin, plan, policy, prune, size
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from cfgroll.engine.daemon import Image
from cfgroll.errors import UsageError
from cfgroll.history.log import log, with_restorable
from cfgroll.settings import duration
from cfgroll.store.files import FileData
from cfgroll.store.lock import state
from cfgroll.store.manifest import Layout, Manifest, ServiceRecord
from cfgroll.store.repo import Store
from tests.core.test_hooks import Collecting


class Images:
    """The engine's images and containers, as the retention code sees them."""

    def __init__(self, images: list[Image], in_use: set[str]) -> None:
        self._images = images
        self._in_use = in_use

    def images(self) -> list[Image]:
        return self._images

    def images_in_use(self) -> set[str]:
        return self._in_use


def image(n: int) -> str:
    return f"sha256:{n:064d}"


def history(tmp_path: Path, count: int, actions: dict[int, str] | None = None) -> Store:
    """`count` releases, release n (1 = oldest) on image n, `n` days old reversed (the newest
    is an hour old)."""
    store, _ = Store.create(tmp_path / "store.git")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    parent = None
    for n in range(1, count + 1):
        tag = f"backup_2026010{n // 10}_0000{n % 10}"
        manifest = Manifest(
            tag=tag, action=(actions or {}).get(n, "deploy"), project="p",
            created_at=now - timedelta(days=count - n, hours=1), host="h", user="u",
            cfgroll_version="0", result="ok", layout=Layout({"compose.yaml": "compose"}),
            services={"web": ServiceRecord("p-web", image(n), f"p-web:{tag}")},
        )  # fmt: skip
        files = {"compose.yaml": FileData(f"v{n}\n".encode())}
        parent = store.record(files, manifest, f"deploy {n}\n", parent, on_main=True).commit
    return store


def ctx_with(tmp_path: Path, daemon: Images) -> Context:
    ctx = Context(Compose(tmp_path, ()), tmp_path / "store.git", Collecting())
    ctx._daemon = daemon  # type: ignore[assignment]
    return ctx


def every_image(count: int, extra: dict[int, tuple[str, ...]] | None = None) -> list[Image]:
    tags = {n: f"backup_2026010{n // 10}_0000{n % 10}" for n in range(1, count + 1)}
    return [
        Image(image(n), (f"p-web:{tags[n]}", *(extra or {}).get(n, ())), 1_000_000 * n)
        for n in range(1, count + 1)
    ]


def test_keep_n_spares_live_last_good_pinned_and_images_in_use(tmp_path: Path) -> None:
    store = history(tmp_path, 12)
    store.pin("backup_20260100_00003")
    daemon = Images(every_image(12), in_use={image(2)})
    planned = plan(ctx_with(tmp_path, daemon), Policy(keep=3), store)
    untagged = sorted(u.entry.tag[-2:] for u in planned.untag)
    assert untagged == ["01", "02", "04", "05", "06", "07", "08", "09"]
    assert planned.kept["backup_20260101_00002"] == "live"
    assert planned.kept["backup_20260101_00001"] == "last good"
    assert planned.kept["backup_20260100_00003"] == "pinned"
    assert planned.kept["backup_20260101_00000"] == "newest"
    # image 2 loses its tag but a container uses it: it stays
    assert [i for i, _ in planned.images] == [image(n) for n in (1, 4, 5, 6, 7, 8, 9)]
    assert planned.freed == 1_000_000 * (1 + 4 + 5 + 6 + 7 + 8 + 9)


def test_an_image_that_keeps_another_tag_stays(tmp_path: Path) -> None:
    """Release 1's image is also `latest`, release 3's also carries the (kept) release 4's
    tag: only release 2's image goes."""
    store = history(tmp_path, 5)
    images = every_image(5, extra={1: ("p-web:latest",), 3: ("p-web:backup_20260100_00004",)})
    planned = plan(ctx_with(tmp_path, Images(images, set())), Policy(keep=1), store)
    assert sorted(u.entry.tag[-1] for u in planned.untag) == ["1", "2", "3"]
    assert [i for i, _ in planned.images] == [image(2)]


def test_the_last_good_release_is_the_last_that_passed_the_gate(tmp_path: Path) -> None:
    store = history(tmp_path, 4, actions={3: "baseline", 1: "deploy", 2: "deploy"})
    planned = plan(ctx_with(tmp_path, Images(every_image(4), set())), Policy(keep=1), store)
    assert planned.kept == {"backup_20260100_00004": "live", "backup_20260100_00002": "last good"}


def test_keep_for_spares_recent_releases(tmp_path: Path) -> None:
    store = history(tmp_path, 6)
    planned = plan(
        ctx_with(tmp_path, Images(every_image(6), set())),
        Policy(keep=1, keep_for=duration("3d")),
        store,
    )
    # ages: release n is 6 - n days and an hour old; 6 is live, 5 the last good
    assert [tag[-1] for tag, why in planned.kept.items() if why == "recent"] == ["4"]
    assert sorted(u.entry.tag[-1] for u in planned.untag) == ["1", "2", "3"]


def test_releases_whose_tags_are_gone_already_are_not_listed_again(tmp_path: Path) -> None:
    store = history(tmp_path, 4)
    planned = plan(ctx_with(tmp_path, Images(every_image(4)[2:], set())), Policy(keep=1), store)
    assert planned.untag == ()


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("90m", 5400), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "1y", "1.5h"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="a number and a unit"):
        duration(text)


def test_sizes_read_like_docker_images() -> None:
    assert [size(n) for n in (999, 1_500, 12_300_000, 4_000_000_000)] == [
        "999 B",
        "1.5 kB",
        "12.3 MB",
        "4.0 GB",
    ]


def test_log_marks_each_release_here_pullable_or_gone(tmp_path: Path) -> None:
    store, _ = Store.create(tmp_path / "store.git")
    now = datetime.now(timezone.utc)
    parent = None
    for n, digest in ((1, ""), (2, "reg/web@sha256:" + "2" * 64), (3, "")):
        svc = ServiceRecord("reg/web:1", image(n), f"reg/web:t{n}", repo_digest=digest)
        manifest = Manifest(
            tag=f"backup_2026010{n}_000000", action="deploy", project="p", created_at=now,
            host="h", user="u", cfgroll_version="0", result="ok", services={"web": svc},
        )  # fmt: skip
        parent = store.record({}, manifest, "m\n", parent, on_main=True).commit
    store.pin("backup_20260102_000000")
    lines = with_restorable(log(store), {image(3)})
    marks = {line.entry.tag[-8:-7]: (line.restorable, line.pinned) for line in lines}
    assert marks == {"3": ("yes", False), "2": ("pull", True), "1": ("no", False)}
    assert [line.restorable for line in with_restorable(log(store), None)] == [None] * 3


def test_an_image_a_kept_release_shares_with_a_pruned_one_stays_and_keeps_its_tag(
    tmp_path: Path,
) -> None:
    """Releases 2 and 3 ran the same image under the same backup tag (an update that left
    `web` alone). Release 3 is kept (the last good), 2 is pruned: neither the image nor the
    tag release 3 records may go."""
    store, _ = Store.create(tmp_path / "store.git")
    now = datetime.now(timezone.utc)
    shared = "p-web:backup_shared"
    parent = None
    for n, (img, ref) in enumerate(
        [
            (image(1), "p-web:backup_1"),
            (image(2), shared),
            (image(2), shared),
            (image(4), "p-web:backup_4"),
        ],
        1,
    ):
        manifest = Manifest(
            tag=f"backup_2026010{n}_000000", action="deploy", project="p",
            created_at=now - timedelta(days=5 - n), host="h", user="u", cfgroll_version="0",
            result="ok", services={"web": ServiceRecord("p-web", img, ref)},
        )  # fmt: skip
        parent = store.record({}, manifest, "m\n", parent, on_main=True).commit
    images = [Image(image(1), ("p-web:backup_1",), 1), Image(image(2), (shared,), 2),
              Image(image(4), ("p-web:backup_4",), 4)]  # fmt: skip
    planned = plan(ctx_with(tmp_path, Images(images, set())), Policy(keep=1), store)
    assert planned.kept["backup_20260103_000000"] == "last good"
    assert [i for i, _ in planned.images] == [image(1)]
    assert all(shared not in u.refs for u in planned.untag)


def test_an_image_a_kept_release_runs_stays_when_its_own_tag_is_gone(tmp_path: Path) -> None:
    """Release 3 (kept, the last good) runs image 2 but its tag was removed by hand; the
    image still carries pruned release 2's tag. The tag goes, the image stays."""
    store, _ = Store.create(tmp_path / "store.git")
    now = datetime.now(timezone.utc)
    parent = None
    for n, img in enumerate([image(1), image(2), image(2), image(4)], 1):
        manifest = Manifest(
            tag=f"backup_2026010{n}_000000", action="deploy", project="p",
            created_at=now - timedelta(days=5 - n), host="h", user="u", cfgroll_version="0",
            result="ok", services={"web": ServiceRecord("p-web", img, f"p-web:backup_{n}")},
        )  # fmt: skip
        parent = store.record({}, manifest, "m\n", parent, on_main=True).commit
    images = [Image(image(1), ("p-web:backup_1",), 1), Image(image(2), ("p-web:backup_2",), 2),
              Image(image(4), ("p-web:backup_4",), 4)]  # fmt: skip
    planned = plan(ctx_with(tmp_path, Images(images, set())), Policy(keep=1), store)
    assert sorted(r for u in planned.untag for r in u.refs) == ["p-web:backup_1", "p-web:backup_2"]
    assert [i for i, _ in planned.images] == [image(1)]


class Engine(Images):
    """The image door with the writes prune makes; `refuse`: IDs the engine will not remove."""

    def __init__(self, images: list[Image], refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__(images, set())
        self.refuse = refuse
        self.untagged: list[str] = []
        self.removed: list[str] = []

    def ping(self) -> None:
        pass

    def untag(self, ref: str) -> None:
        self.untagged.append(ref)

    def remove_image(self, image_id: str) -> bool:
        self.removed.append(image_id)
        return image_id not in self.refuse


def test_prune_untags_removes_and_counts_what_was_freed(tmp_path: Path) -> None:
    history(tmp_path, 5)
    engine = Engine(every_image(5), refuse={image(2)})
    ctx = ctx_with(tmp_path, engine)
    pruned = prune(ctx, policy(ctx, keep=2))
    assert sorted(engine.untagged) == [f"p-web:backup_20260100_0000{n}" for n in (1, 2, 3)]
    assert engine.removed == [image(1), image(2), image(3)]
    assert pruned.removed == (image(1), image(3)) and pruned.refused == (image(2),)
    assert pruned.freed == 1_000_000 * (1 + 3)
    assert state(tmp_path / "store.git") == "free"


def test_the_policy_comes_from_the_flags_then_the_live_release_then_ten(tmp_path: Path) -> None:
    store = history(tmp_path, 2)
    ctx = ctx_with(tmp_path, Images([], set()))
    assert policy(ctx) == Policy(10, None)
    assert policy(ctx, keep=1, older_than="2d") == Policy(1, duration("2d"))
    with pytest.raises(UsageError, match="--keep must be at least 1"):
        policy(ctx, keep=0)
    with pytest.raises(UsageError, match="--older-than"):
        policy(ctx, older_than="soon")
    live = store.live()
    assert live is not None
    settings = {"keep": 3, "keep_for": "1w"}
    manifest = replace(
        live.manifest, tag="backup_20260200_000000", layout=Layout(settings=settings)
    )
    store.record({}, manifest, "m\n", live.commit, on_main=True)
    assert policy(ctx) == Policy(3, duration("1w"))
    assert policy(ctx, keep=5) == Policy(5, duration("1w"))
    fleet = {**settings, "hosts": [{"name": "a", "endpoint": "a-context"}]}
    manifest = replace(manifest, tag="backup_20260300_000000", layout=Layout(settings=fleet))
    store.record({}, manifest, "m\n", store.live().commit, on_main=True)  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="a fleet's: a prune here would prune one engine"):
        policy(ctx)


def test_after_a_release_prune_runs_only_when_the_project_sets_keep(tmp_path: Path) -> None:
    store = history(tmp_path, 4)
    engine = Engine(every_image(4))
    ctx = ctx_with(tmp_path, engine)
    assert after_release(ctx, store, {}) is None and engine.untagged == []
    pruned = after_release(ctx, store, {"keep": 1})
    assert pruned is not None and sorted(engine.untagged) == [
        "p-web:backup_20260100_00001",
        "p-web:backup_20260100_00002",
    ]
    assert any(
        "pruned the image tags of 2 old release(s) (keep: 1)" in line for line in ctx.reporter.lines
    )  # type: ignore[attr-defined]


def test_a_prune_that_fails_after_a_release_is_a_warning(tmp_path: Path) -> None:
    store = history(tmp_path, 3)

    class Broken(Engine):
        def untag(self, ref: str) -> None:
            raise OSError("the engine went away")

    ctx = ctx_with(tmp_path, Broken(every_image(3)))
    assert after_release(ctx, store, {"keep": 1}) is None
    assert ctx.reporter.warnings == [  # type: ignore[attr-defined]
        "prune after the release failed (the engine went away; run with --debug for the "
        "details); run `cfgroll prune`"
    ]


def test_only_releases_are_pinned(tmp_path: Path) -> None:
    store = history(tmp_path, 2)
    ctx = ctx_with(tmp_path, Images([], set()))
    entry, changed = pin(ctx, "backup_20260100_00001")
    assert changed and store.pins() == {"backup_20260100_00001"}
    assert pin(ctx, "backup_20260100_00001") == (entry, False)
    assert pin(ctx, "backup_20260100_00001", on=False)[1] and store.pins() == set()
    live = store.live()
    assert live is not None
    draft = replace(live.manifest, tag="draft_20260300_000000", kind="draft", action="draft")
    store.record({}, draft, "d\n", live.commit, on_main=False)
    with pytest.raises(UsageError, match="is a draft, not a release"):
        pin(ctx, "draft_20260300_000000")


def test_an_update_or_a_rollback_can_be_the_last_good_release(tmp_path: Path) -> None:
    for action in ("update", "rollback"):
        store = history(tmp_path / action, 3, actions={2: action})
        ctx = ctx_with(tmp_path / action, Images(every_image(3), set()))
        assert plan(ctx, Policy(keep=1), store).kept["backup_20260100_00002"] == "last good"


@pytest.mark.parametrize(
    ("n", "shown"), [(0, "0 B"), (1000, "1.0 kB"), (999_949, "999.9 kB"), (10**12, "1000.0 GB")]
)
def test_size_boundaries(n: int, shown: str) -> None:
    assert size(n) == shown
