"""`cfgroll rollback` and `cfgroll checkout`: putting a recorded release back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

from cfgroll import faults, orchestrators, project
from cfgroll.capabilities import mirror, notify, preflight, retention
from cfgroll.capabilities.hooks import FailureResult, Hooks, Occasion
from cfgroll.capabilities.snapshot import Availability, check_services, judge, overall
from cfgroll.context import Context
from cfgroll.engine.refs import short
from cfgroll.errors import CfgrollError, ImageMissing, RollbackFailed, UsageError, one_line
from cfgroll.history.log import Side, diff, entry_side, working_side
from cfgroll.project import ProjectFiles
from cfgroll.settings import recorded
from cfgroll.store.manifest import RELEASE
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import redact, secret_values
from cfgroll.transactions import data_restore
from cfgroll.transactions.release import (
    Release,
    record_release,
    recorded_meanwhile,
    reserve_name,
    save_draft,
)
from cfgroll.transactions.restore import Failure, availability, recover, restore


@dataclass(frozen=True)
class Plan:
    """What a rollback will do, checked before anything changes."""

    target: Entry
    live: Entry
    only: tuple[str, ...] | None = None  # just these services; the files stay as they are
    images: dict[str, Availability] = field(default_factory=dict)  # of the services to restore
    engine_change: bool = False  # `--engine-change`: the release may go onto another engine

    @property
    def pulls(self) -> tuple[str, ...]:
        """Services whose image is gone and will be pulled by digest."""
        return tuple(n for n, a in self.images.items() if a == "pull")


@dataclass(frozen=True)
class RolledBack:
    entry: Entry  # the new release recording the rollback
    draft: Entry | None  # the user's edits kept before the files were overwritten


def plan(
    ctx: Context,
    ref: str,
    only: Sequence[str] | None = None,
    engine_change: bool = False,
    store: Store | None = None,
) -> Plan:
    """Resolve `ref` and check that the release can go back: onto the engine it ran on (or
    any, with `engine_change`), on the orchestrator the live release runs on, with every
    image it needs (of the services `only`, if given) still here or pullable by digest."""
    store = store or ctx.open_store()
    target = store.resolve(ref)
    if target.manifest.kind != RELEASE:
        raise UsageError(
            f"{target.tag} is a {target.manifest.kind}, not a release; use `cfgroll checkout "
            f"{target.tag}` to get its files back, then `cfgroll deploy`"
        )
    if not target.manifest.services:
        raise UsageError(
            f"{target.tag} holds no image (imported as files only), so it cannot be rolled back "
            f"to; `cfgroll checkout {target.tag}` writes its files back, then `cfgroll deploy` "
            "builds and starts them"
        )
    live = store.live()
    if live is None:  # a fleet's host that was never deployed to
        raise UsageError(f"nothing was deployed to host {ctx.host} yet; `cfgroll deploy` first")
    _same_engine(ctx, target, engine_change or ctx.host is not None)
    runner = orchestrators.of(target.manifest.orchestrator)
    orchestrators.check_switch(live, runner)
    runner.check_engine(ctx)
    if only is not None and runner.whole:
        raise UsageError(
            f"--services is for Compose projects; {target.tag} is a {runner.label}, which "
            "cfgroll rolls back whole (`cfgroll rollback TAG`)"
        )
    if only is not None:
        only = tuple(check_services(target.manifest.services, only, f"release {target.tag}"))
    found = {n: a for n, a in availability(ctx, target).items() if only is None or n in only}
    missing = [(n, target.manifest.services[n].image_id) for n, a in found.items() if a == "no"]
    if missing:
        raise ImageMissing(target.tag, missing)
    if only is None:
        store.files(target).read_all()
    return Plan(target, live, only, found, engine_change)


def _same_engine(ctx: Context, target: Entry, engine_change: bool) -> None:
    """Refuse to put a release onto another engine than the one it ran on, unless told."""
    recorded = target.manifest.engine
    if recorded is None or engine_change:
        return
    now = ctx.daemon.engine()
    if now.id == recorded.id:
        return
    raise CfgrollError(
        f"{target.tag} ran on engine {recorded.name} ({recorded.id[:14]}, context "
        f"{recorded.context}); this is engine {now.name} ({now.id[:14]}, context {now.context}); "
        "choose that engine (--context, DOCKER_HOST), or pass --engine-change to put it here"
    )


@dataclass(frozen=True)
class Choice:
    entry: Entry
    restorable: Availability
    live: bool


def choices(ctx: Context, limit: int = 20) -> list[Choice]:
    """The newest releases, each with whether it can still be restored (its images are here,
    or can be pulled by digest)."""
    store = ctx.open_store()
    live = store.live()
    live_commit = live.commit if live else None
    images = ctx.daemon.image_ids()  # one request, not one a service and release
    return [
        Choice(e, overall(judge(e.manifest.services, images)), e.commit == live_commit)
        for e in islice(store.releases(), limit)
    ]


def preview(ctx: Context, planned: Plan, show_secrets: bool = False) -> Iterator[str]:
    """What the rollback would change: the file diff (masked) and the image of each service."""
    store = ctx.open_store()
    if planned.only is None:
        current: Side = working_side(ctx, store, planned.live)
        yield from diff(current, entry_side(store, planned.target), show_secrets)
    else:
        yield "the project files stay as they are (--services)"
    live_services = planned.live.manifest.services
    for name, svc in sorted(planned.target.manifest.services.items()):
        if planned.only is not None and name not in planned.only:
            continue
        was = live_services.get(name)
        now_id = short(was.image_id) if was else "none"
        change = "unchanged" if was and was.image_id == svc.image_id else f"{now_id} ->"
        source = f"pulled by digest {svc.repo_digest}" if name in planned.pulls else svc.backup_ref
        yield f"service {name}: {change} {short(svc.image_id)} ({svc.image}, from {source})"
    for name in sorted(set(live_services) - set(planned.target.manifest.services)):
        if planned.only is not None:
            break
        yield f"service {name}: removed (not in {planned.target.tag})"


def rollback(
    ctx: Context,
    ref: str,
    only: Sequence[str] | None = None,
    engine_change: bool = False,
    ask: Callable[[Plan], None] = lambda _plan: None,
    with_data: bool = False,
) -> RolledBack:
    """Bring the stack back to a recorded release, as a transaction.

    Planned once, under the store's lock (`plan`; `ask` sees the plan and may stop it by
    raising), then: the user's unsaved edits kept as a draft, the release's images retagged
    (by ID) under the references Compose uses, its files written into the project atomically,
    `docker compose up -d --remove-orphans` with no build and no pull (or its stack file
    deployed), the health gate, and the rollback recorded as a new release. On any failure or
    Ctrl-C the release that was live is put back (`DeployFailed`, exit 3; `RollbackFailed`,
    exit 4, when that fails too). The hooks of the live release's folder run `pre-rollback`
    first (a failure stops it, exit 1); those of the target's run `check` in the gate,
    `post-rollback` and `on-failure`. The services of `x-cfgroll: data:` are dumped first
    (linked to the live release); `with_data` then feeds the target's newest dumps to their
    `restore` (on a failure, the live release's just-saved data goes back with it).
    """
    store = ctx.open_store()
    settings = recorded(ctx.flags, store.live())
    with mirror.changing(ctx, store, "rollback", settings.lock_timeout):
        planned = plan(ctx, ref, only, engine_change, store)
        ask(planned)
        target, live, only = planned.target, planned.live, planned.only
        restoring = data_restore.restoring(ctx, live, target, with_data, only)
        draft_bytes = preflight.size_of(store.files(planned.live))
        needs = preflight.Needs(draft_bytes, project=only is None, copy_bytes=restoring.copy_bytes)
        preflight.check(ctx, needs)
        settings = recorded(ctx.flags, live)
        services = tuple(sorted(target.manifest.services if only is None else only))
        occasion = Occasion(
            "rollback",
            ctx.release_name or reserve_name(store),
            live.tag,
            services,
            live.manifest.project,
            target.tag,
        )
        # what runs now and what the rollback starts: either may print its values
        secrets = [
            *secret_values(store.files(live), live.manifest.files),
            *secret_values(store.files(target), target.manifest.files),
        ]
        hooks = Hooks(ctx, settings.hooks, occasion, secrets)
        hooks.before("pre-rollback", "the rollback was stopped before it changed anything")
        data_plan = data_restore.Planned.of(ctx, store, live, target, restoring, secrets, only)
        paths: set[str] | None = None
        draft = None
        if only is None:
            paths = set(target.manifest.files) | set(live.manifest.files)
            draft = save_draft(ctx, store, live, target.manifest.files, target)
            if draft:
                ctx.reporter.step(f"saved your edits to the project files as {draft.tag}")
            faults.point("rollback:draft-saved")
        else:
            ctx.reporter.step("the project files stay as they are (--services)")
        # what runs the live release now, should it have to come back (start-first keeps it)
        intact = ctx.daemon.container_ids(live.manifest.project)
        try:
            restore(ctx, store, target, paths, only, hooks, known=planned.images)
            data_plan.put_back(ctx, recorded(ctx.flags, target).limits)
            ctx.reporter.step("recording the rollback")
            if only is None:
                files = ProjectFiles.recorded(target.manifest, store.files(target))
            else:
                config = ctx.compose.config()
                files = project.resolve(ctx.compose.named(str(config["name"])), config, ctx.known())
            everything = set(target.manifest.services) | set(live.manifest.services)
            carry = () if only is None else tuple(sorted(everything - set(only)))
            runner = orchestrators.of(target.manifest.orchestrator)
            release = Release(
                "rollback",
                target.manifest.project,
                files,
                services,
                live,
                target.tag,
                carry,
                stack=runner.kept(store, target),
                orchestrator=runner.name,
            )
            entry = record_release(ctx, store, release, occasion.tag, hooks)
            data_plan.done(ctx)
        except (Exception, KeyboardInterrupt) as exc:
            if (meanwhile := recorded_meanwhile(ctx, store, live, exc)) is not None:
                data_plan.done(ctx)
                return RolledBack(meanwhile, draft)
            kept = f"your edits are kept as {draft.tag}" if draft else ""
            what = f"rollback to {target.tag}" + (f" of {', '.join(only)}" if only else "")
            reason = redact(one_line(exc), secrets)
            details = redact(str(getattr(exc, "details", "")), secrets)
            failure = Failure(what, reason, details, kept)
            result: FailureResult = "rolled-back"
            # the data's copy first: the live release then starts on its own data
            not_back = data_plan.undo(ctx)
            try:
                error: CfgrollError = recover(ctx, store, live, paths, failure, only, hooks, intact)
            except RollbackFailed as rollback_failed:
                error, result = rollback_failed, "rollback-failed"
            if not_back is not None:
                error, result = not_back, "rollback-failed"
            else:
                data_plan.done(ctx)
            # the hooks of the release running now (the live one, put back)
            after = replace(hooks, config=settings.hooks)
            after.after(
                "on-failure", lambda _text: None, CFGROLL_RESULT=result, CFGROLL_REASON=reason
            )
            title = f"cfgroll: {live.manifest.project}: {what} failed"
            notify.tell(ctx, live.manifest.layout.settings, "failed", title, str(error), secrets)
            raise error from exc
        after = replace(hooks, config=recorded(ctx.flags, target).hooks)
        after.after("post-rollback", lambda text: store.add_note(entry.commit, text))
        notify.tell(
            ctx,
            entry.manifest.layout.settings,
            "rollback",
            f"cfgroll: {live.manifest.project}: rolled back to {target.tag}",
            f"{entry.manifest.user} on {entry.manifest.host} rolled {live.manifest.project} back "
            f"from {live.tag} to {target.tag}"
            + (f" ({', '.join(only)})" if only else "")
            + (" with its data" if with_data else "")
            + f"; recorded as {entry.tag}",
            secrets,
        )
        retention.after_release(ctx, store, entry.manifest.layout.settings)
        runner.after_release(ctx, store, entry.manifest.project, entry.manifest.layout.settings)
    return RolledBack(entry, draft)


@dataclass(frozen=True)
class CheckedOut:
    entry: Entry
    draft: Entry | None
    written: list[str]


def checkout(ctx: Context, ref: str) -> CheckedOut:
    """Write a release's, attempt's or draft's files into the project folder, without deploying.

    Project files that differ from the live release are saved first as a draft.
    """
    store = ctx.open_store()
    live = store.live()
    draft_bytes = preflight.size_of(store.files(live)) if live else 0
    preflight.check(ctx, preflight.Needs(draft_bytes, project=True, engine=False))
    lock_timeout = recorded(ctx.flags, live).lock_timeout
    with mirror.changing(ctx, store, "checkout", lock_timeout):
        entry = store.resolve(ref)
        live = store.live()
        wanted = store.files(entry)
        paths = set(wanted) | (set(live.manifest.files) if live else set())
        draft = save_draft(ctx, store, live, entry.manifest.files) if live else None
        written = project.write(
            ctx.directory, {p: wanted.get(p) for p in paths}, entry.manifest.files
        )
    return CheckedOut(entry, draft, written)
