"""`cfgroll deploy`: build, start, wait for health, record the release."""

from __future__ import annotations

from dataclasses import dataclass

from cfgroll import gate
from cfgroll.context import Context
from cfgroll.init import Initialised, ensure_store
from cfgroll.release import record_release
from cfgroll.snapshot import project_files
from cfgroll.store.lock import store_lock
from cfgroll.store.repo import Entry


@dataclass(frozen=True)
class Deployed:
    entry: Entry
    init: Initialised


def deploy(ctx: Context, timeout: float = 120.0, settle: float = 3.0) -> Deployed:
    """Build and start the Compose project, wait until it is healthy, record the release.

    The release commits every file Compose read, tags every service image with the release
    name, and becomes the live release. A failed build, start or health check raises and
    records no release.
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
        before = gate.baseline(ctx.daemon, project)
        if any("build" in svc for svc in (config.get("services") or {}).values()):
            ctx.reporter.step("building images (docker compose build)")
            compose.run("build", on_line=ctx.reporter.output, what="docker compose build")
        ctx.reporter.step("starting services (docker compose up -d --remove-orphans)")
        compose.run("up", "-d", "--remove-orphans", on_line=ctx.reporter.output)
        ctx.reporter.step(f"waiting for {len(services)} service(s) to be healthy")
        gate.wait_healthy(
            ctx.daemon, project, services, timeout, settle, before, ctx.reporter.states
        )
        ctx.reporter.step("recording the release")
        entry = record_release(
            ctx, store, action="deploy", project=project, files=files, services=services, live=live
        )
    return Deployed(entry, init)
