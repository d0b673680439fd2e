"""`cfgroll doctor`: is the store sound, and is anything left over from an interrupted run?

Read-only unless `fix`: then it repairs what is safe to repair (a stale lock, temporary files,
git's durability settings, a missing `.gitignore` entry) and says what it did. Everything
else it names with the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cfgroll import project
from cfgroll.context import Context
from cfgroll.errors import CfgrollError, StoreError, one_line
from cfgroll.store import lock
from cfgroll.store.manifest import RELEASE
from cfgroll.store.repo import Entry, Store
from cfgroll.transactions.init import ignore_store

Verdict = Literal["ok", "problem", "fixed", "info"]


class CannotRun(CfgrollError):
    """There is nothing to examine (no store) or it cannot be opened."""

    exit_code = 2


@dataclass(frozen=True)
class Finding:
    check: str  # store, durability, releases, lock, images, drift, leftovers, gitignore, engine,
    # duplicates, mirror
    verdict: Verdict
    message: str
    fix: str = ""  # what to do, when the verdict is `problem`


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(f.verdict != "problem" for f in self.findings)

    def add(self, check: str, verdict: Verdict, message: str, fix: str = "") -> None:
        self.findings.append(Finding(check, verdict, message, fix))


def doctor(ctx: Context, fix: bool = False) -> Report:
    """Check the store (`git fsck --strict`, refs, every manifest, durability), the lock,
    every release's images, drift, leftovers of interrupted runs and the `.gitignore` entry.

    With `fix`, repair what is safe: a stale lock, temporary files, durability settings, a
    missing `.gitignore` entry."""
    if not Store.exists(ctx.store_path):
        raise CannotRun(
            f"there is no cfgroll store at {ctx.store_path}; run `cfgroll init` or `cfgroll "
            "deploy` first, or point --store at the store"
        )
    try:
        store = ctx.open_store()
    except StoreError as exc:
        raise CannotRun(str(exc)) from exc
    report = Report()
    _store(store, report, fix)
    releases = _releases(store, report)
    _lock(store.path, report, fix)
    _leftovers(ctx, store.path, report, fix)
    _gitignore(ctx, report, fix)
    _engine(ctx, releases, report)
    _duplicates(ctx, releases[0] if releases else None, report, fix)
    _mirror(ctx, store, report)
    _data(ctx, report, fix)
    return report


def _data(ctx: Context, report: Report, fix: bool) -> None:
    """Every recorded dump present and as it was written; no dump cut short left behind."""
    from cfgroll.capabilities import data, volumes

    try:
        journal = volumes.read(ctx)
    except volumes.PutBackFailed as exc:
        report.add("data", "problem", str(exc), 'see docs/data.md, "When a restore fails"')
        journal = None
    if journal is not None:
        copies = volumes.copies_root(ctx)
        report.add(
            "data",
            "problem",
            f"{volumes.describe(journal)}; the copies of its services' folders are in {copies}",
            "every cfgroll command tries to put them back first (this one did: see the warning "
            'above); docs/data.md, "When a restore fails", shows how by hand',
        )
    bad = data.damaged(ctx)
    cut = [p for p in data.partials(ctx) if volumes.COPIES not in p.parts]
    if cut and fix:
        for path in cut:
            path.unlink(missing_ok=True)
        report.add("data", "fixed", f"removed {len(cut)} dump(s) an interrupted run cut short")
    elif cut:
        report.add(
            "data",
            "problem",
            f"{len(cut)} dump(s) an interrupted run cut short (never used): "
            + ", ".join(p.name for p in cut[:3]),
            "`cfgroll doctor --fix` removes them",
        )
    if bad:
        report.add(
            "data",
            "problem",
            "dumps missing or not as written: " + ", ".join(bad[:5]),
            "`rollback --with-data` cannot use them; take a new one with the next deploy",
        )
    elif not cut:
        n = len(data.dumps(ctx))
        report.add("data", "ok" if n else "info", f"{n} dump(s), each present and as written")


def _mirror(ctx: Context, store: Store, report: Report) -> None:
    """Whether the mirror holds every ref of the store (asking it, within push_timeout)."""
    from cfgroll.capabilities import mirror
    from cfgroll.store.names import names

    found = mirror.health(ctx, store)
    if found is None:
        report.add("mirror", "info", "no mirror: the history lives on this host only")
        return
    short = [n.removeprefix("refs/tags/").removeprefix("refs/") for n in found.missing]
    if found.unreachable:
        report.add(
            "mirror",
            "problem",
            f"{found.url} cannot be reached ({found.unreachable})"
            + (f"; not pushed: {names(short, 5)}" if short else ""),
            "fix the network or the URL (`cfgroll mirror URL`), then `cfgroll push`",
        )
    elif short:
        report.add(
            "mirror",
            "problem",
            f"{found.url} lacks {len(short)} ref(s): {names(short, 5)}",
            "`cfgroll push`",
        )
    else:
        report.add("mirror", "ok", f"{found.url} holds every release, attempt and note")


def _duplicates(ctx: Context, live: Entry | None, report: Report, fix: bool) -> None:
    """Containers an interrupted start-first rollout left beside the live release's."""
    from cfgroll import orchestrators

    if live is None:
        return
    try:
        runner = orchestrators.of(live.manifest.orchestrator)
        extra = runner.leftovers(ctx, live.manifest.project)
        shown = ", ".join(c.name for c in extra)
        if extra and fix:
            ctx.daemon.stop(c.id for c in extra)
            for c in extra:
                ctx.daemon.remove_container(c.id)
            report.add("duplicates", "fixed", f"removed what an interrupted rollout left: {shown}")
            return
    except CfgrollError as exc:
        report.add("duplicates", "problem", one_line(exc), "start Docker, then run doctor again")
        return
    if extra:
        report.add(
            "duplicates",
            "problem",
            f"an interrupted start-first rollout left containers beside the live release's: "
            f"{shown}",
            "`cfgroll doctor --fix` stops and removes them",
        )
    else:
        report.add("duplicates", "ok", "no container left over beside the live release's")


def _store(store: Store, report: Report, fix: bool) -> None:
    problems = store.fsck()
    if problems:
        report.add(
            "store",
            "problem",
            f"git fsck --strict: {'; '.join(problems[:3])}",
            f"restore {store.path} from a copy (`git clone`); the releases it names are lost",
        )
    else:
        report.add("store", "ok", "git fsck --strict finds nothing wrong")
    if store.durable():
        report.add("durability", "ok", "git syncs objects and refs to disk (core.fsync)")
    elif fix:
        store.make_durable()
        report.add("durability", "fixed", "set core.fsync=objects,reference")
    else:
        report.add(
            "durability",
            "problem",
            "git does not sync the store's objects and refs to disk",
            "`cfgroll doctor --fix`",
        )


def _releases(store: Store, report: Report) -> list[Entry]:
    """Every release on `main` and every tag must read; every release tag must be on `main`."""
    try:
        releases = list(store.releases())
    except CfgrollError as exc:
        report.add("releases", "problem", one_line(exc), "restore the store from a copy")
        return []
    on_main = {e.tag for e in releases}
    bad, off_main, side = [], [], 0
    for name in store.tags():
        try:
            entry = store.tag_entry(name)
        except CfgrollError as exc:
            bad.append(f"{name} ({one_line(exc)[:80]})")
            continue
        if entry.manifest.kind == RELEASE and name not in on_main:
            off_main.append(name)
        side += entry.manifest.kind != RELEASE
    if bad or off_main:
        what = [f"unreadable: {', '.join(bad)}"] if bad else []
        what += [f"release tags not in the history of main: {', '.join(off_main)}"] * bool(off_main)
        report.add("releases", "problem", "; ".join(what), "restore the store from a copy")
    else:
        report.add(
            "releases",
            "ok",
            f"{len(releases)} release(s) and {side} attempt(s)/draft(s), every manifest reads",
        )
    return releases


def _lock(store_path: Path, report: Report, fix: bool) -> None:
    state = lock.state(store_path)
    if state == "held":
        report.add("lock", "info", f"held by {lock.describe(lock.holder(store_path))}")
    elif state == "stale" and fix:
        lock.clear_stale(store_path)
        report.add("lock", "fixed", "removed the lock info of a run that ended without it")
    elif state == "stale":
        report.add(
            "lock",
            "problem",
            f"{lock.describe(lock.holder(store_path))} ended without releasing the lock",
            "`cfgroll doctor --fix` (or just run the next command: it takes the lock over)",
        )
    else:
        report.add("lock", "ok", "free")


def _leftovers(ctx: Context, store_path: Path, report: Report, fix: bool) -> None:
    found = project.leftovers(ctx.directory)
    if store_path.is_dir() and not store_path.is_relative_to(ctx.directory):
        found += project.leftovers(store_path)
    if not found:
        report.add("leftovers", "ok", "no temporary files of an interrupted run")
    elif fix:
        for path in found:
            path.unlink(missing_ok=True)
        report.add("leftovers", "fixed", f"removed {', '.join(map(str, found))}")
    else:
        report.add(
            "leftovers",
            "problem",
            f"temporary files of an interrupted run: {', '.join(map(str, found[:5]))}",
            "`cfgroll doctor --fix` removes them",
        )


def _gitignore(ctx: Context, report: Report, fix: bool) -> None:
    missing = ignore_store(ctx, dry_run=not fix)
    if missing is None:
        report.add("gitignore", "ok", "the store is not in a git work tree, or is ignored there")
    elif fix:
        report.add("gitignore", "fixed", f"added /.cfgroll/ to {missing}")
    else:
        report.add(
            "gitignore",
            "problem",
            f"{missing} does not ignore /.cfgroll/: `git add .` would commit the store, "
            "with every .env",
            "`cfgroll doctor --fix`",
        )


def _engine(ctx: Context, releases: list[Entry], report: Report) -> None:
    """Images of every release, and drift of what runs from the live release."""
    from cfgroll.history.status import status

    try:
        images = ctx.daemon.image_ids()
        result = status(ctx)
    except CfgrollError as exc:
        report.add("engine", "problem", one_line(exc), "start Docker, then run doctor again")
        return
    gone = [
        e.tag
        for e in releases
        if any(s.image_id not in images for s in e.manifest.services.values())
    ]
    live = releases[0] if releases else None
    if live is not None and live.tag in gone:
        report.add(
            "images",
            "problem",
            f"images of the live release {live.tag} are gone: a failed deploy cannot put it back",
            "`cfgroll deploy` records what runs now as a new release",
        )
    else:
        restorable = len(releases) - len(gone)
        report.add(
            "images",
            "ok" if not gone else "info",
            f"{restorable} of {len(releases)} release(s) can be restored from local images",
        )
    if result.drifted:
        files = len(result.files)
        services = [s.service for s in result.services if not s.ok]
        report.add(
            "drift",
            "problem",
            f"{files} file(s) and {len(services)} service(s) ({', '.join(services) or '-'}) differ "
            "from the live release (an edit not deployed yet, or a run that was interrupted)",
            "`cfgroll status` shows what; `cfgroll deploy` records it, `cfgroll rollback live "
            "--yes` puts the live release back",
        )
    else:
        report.add("drift", "ok", "what runs and the files are the live release's")
