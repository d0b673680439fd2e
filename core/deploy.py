"""`cfgroll deploy`: build, start, pass the health gate, record the release; on any failure
(or Ctrl-C) keep the attempt and put the live release back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cfgroll import gate
from cfgroll.context import Context
from cfgroll.engine.daemon import Container
from cfgroll.errors import CommandFailed, DeployFailed, RollbackFailed
from cfgroll.init import Initialised, ensure_store, record_baseline
from cfgroll.release import (
    Failure,
    record_attempt,
    record_release,
    recover,
    running,
    start,
    why,
)
from cfgroll.snapshot import ProjectFiles, project_files
from cfgroll.store.lock import store_lock
from cfgroll.store.repo import Entry, Store
from cfgroll.store.secrets import parse_env, redact


@dataclass(frozen=True)
class Deployed:
    entry: Entry
    init: Initialised
    baseline: Entry | None  # what was running before the first deploy, recorded first


def deploy(
    ctx: Context, limits: gate.Limits = gate.DEFAULT_LIMITS, no_rollback: bool = False
) -> Deployed:
    """Build and start the Compose project, wait until it is healthy, record the release.

    The release commits every file Compose read, tags every service image with the release
    name, and becomes the live release. When the build, the start or the health gate fails, or
    the run is interrupted, the attempt is kept as a `failed_…` commit and the live release is
    put back (`DeployFailed`, exit 3; `RollbackFailed`, exit 4, if that fails too). A stack
    that ran before cfgroll's first deploy is first recorded as a `baseline` release.
    """
    config = ctx.compose.config()
    project = str(config["name"])
    compose = ctx.compose.named(project)
    files = project_files(compose, config)
    services = sorted(config.get("services") or {})
    init = ensure_store(ctx)
    store = init.store
    with store_lock(store.path, "deploy", ctx.lock_timeout, ctx.reporter.warn):
        live = store.live()
        existing = ctx.daemon.containers(project)
        baseline = None
        if live is None and existing:
            baseline = live = record_baseline(ctx, store, compose, files, existing)
        try:
            if any("build" in svc for svc in config["services"].values()):
                ctx.reporter.step("building images (docker compose build)")
                compose.run("build", on_line=ctx.reporter.output, what="docker compose build")
            start(ctx, compose, services, limits, up=("up", "-d", "--remove-orphans"))
            ctx.reporter.step("recording the release")
            entry = record_release(
                ctx, store, action="deploy", project=project, files=files, services=services,
                live=live,
            )  # fmt: skip
        except (Exception, KeyboardInterrupt) as exc:
            raise _failed(
                ctx, store, project, live, files, existing, exc, limits, no_rollback
            ) from exc
    return Deployed(entry, init, baseline)


def _failed(
    ctx: Context,
    store: Store,
    project: str,
    live: Entry | None,
    files: ProjectFiles,
    existing: list[Container],
    exc: BaseException,
    limits: gate.Limits,
    no_rollback: bool,
) -> DeployFailed | RollbackFailed:
    """Keep the attempt, then put back what ran before; the error to raise."""
    reason = why(exc)
    details = redact(_details(exc), _secrets(files.content, files.roles))
    try:
        attempt = record_attempt(
            ctx, store, action="deploy", project=project, files=files, live=live, reason=reason,
            excerpt=details,
        )  # fmt: skip
    except Exception as record_exc:  # noqa: BLE001 - without a copy, the files must stay
        return RollbackFailed(
            f"deploy failed ({reason}), and saving the attempt failed too ({why(record_exc)}); "
            "nothing was rolled back, so that your files stay as they are; running now: "
            f"{running(ctx, project)}",
            details,
        )
    kept = (
        f"your files are kept as {attempt.tag}: `cfgroll checkout {attempt.tag}` writes them back"
    )
    if no_rollback:
        return RollbackFailed(
            f"deploy failed ({reason}); left as it is (--no-rollback), running now: "
            f"{running(ctx, project)}; {kept}",
            details,
        )
    if live is None:
        before = {c.id for c in existing}
        created = [c for c in ctx.daemon.containers(project) if c.id not in before]
        for c in created:
            ctx.daemon.remove_container(c.id)
        removed = [c.name for c in created]
        return DeployFailed(
            f"deploy failed ({reason}); nothing ran before, so the container(s) this deploy "
            f"created were removed ({', '.join(removed) or 'none'}); {kept}",
            details,
        )
    paths = set(files.roles) | set(live.manifest.files)
    return recover(ctx, store, live, paths, Failure("deploy", reason, details, kept), limits)


def _details(exc: BaseException) -> str:
    if isinstance(exc, CommandFailed):
        return "\n".join(exc.stderr.strip().splitlines()[-15:])
    return str(getattr(exc, "details", "") or "")


def _secrets(content: Mapping[str, bytes], roles: Mapping[str, Any]) -> list[str]:
    """Every value of the project's `.env`-style files, to be kept out of log excerpts."""
    values: list[str] = []
    for path, data in content.items():
        if roles.get(path) == "env":
            values += parse_env(data.decode(errors="replace")).values()
    return values
