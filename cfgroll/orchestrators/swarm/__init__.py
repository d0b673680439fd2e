"""Swarm stacks: a project deployed with `docker stack deploy` instead of `docker compose up`.

cfgroll renders the stack file from Compose's own resolved model (so `.env`, `env_file:` and
interpolation mean what they mean to Compose; `docker stack deploy` alone ignores `.env`),
builds and pushes the images that have `build:`, and pins every image by its registry digest.
The rendered file is recorded in the release (`.cfgroll/stack.yaml` in its commit) next to
the project files; a rollback, and the automatic rollback of a failed deploy, deploy a
release's rendered file again, whole, and gate it: the stack-wide rollback Swarm lacks.

Swarm's configs and secrets cannot change, so each gets a name with a short hash of its
content: a changed file becomes a new config, and an old one is removed once no release in
the keep window uses it (`tidy`).

The gate (`wait_stack`): every service has its desired number of tasks running on its
current spec (a task with a healthcheck is `running` only once healthy, on Swarm), has kept
them running for `settle` seconds, and its update is not in progress; a task of the new spec
that fails or is rejected, or an update Swarm paused or rolled back, fails it at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from cfgroll.context import Context
from cfgroll.engine.daemon import Container
from cfgroll.engine.refs import short
from cfgroll.errors import CfgrollError
from cfgroll.orchestrators import (
    Asked,
    Comeback,
    Rollout,
    ServiceChange,
    ServiceState,
    of,
    write_files,
)
from cfgroll.orchestrators.swarm import stack
from cfgroll.orchestrators.swarm.render import Rendered, stack_of
from cfgroll.settings import KEEP, RolloutSettings, parse
from cfgroll.store.manifest import Orchestrator as Name
from cfgroll.store.manifest import ServiceRecord
from cfgroll.store.repo import Entry, Store


class SwarmStack:
    """A release as a Swarm stack."""

    name: Name = "swarm"
    label = "Swarm stack"
    whole = True

    def check(
        self,
        ctx: Context,
        config: Mapping[str, Any],
        services: Sequence[str],
        rollout: RolloutSettings,
    ) -> None:
        # Swarm reads each service's `deploy.update_config.order` itself
        stack.check_project(ctx.daemon, config, services)

    def check_engine(self, ctx: Context) -> None:
        stack.check_engine(ctx.daemon)

    def preview(self, ctx: Context, asked: Asked) -> list[ServiceChange]:
        # Swarm decides from the rendered spec, which pins images only once they are pushed
        model = asked.config.get("services") or {}
        return [
            ServiceChange(
                name,
                "update",
                "files it uses changed" if name in asked.mounted else "if its spec changed",
                bool((model.get(name) or {}).get("build")) and not asked.no_build,
            )
            for name in asked.services
        ]

    def running(self, ctx: Context, project: str) -> list[Container]:
        return []  # a stack's tasks are Swarm's; no baseline of them is recorded

    def deploy(self, ctx: Context, rollout: Rollout) -> Rendered:
        r = rollout
        live = stack_of(r.store, r.live) if r.live is not None else None
        return stack.start(
            ctx, r.compose, r.config, r.services, r.limits, live, r.only, r.no_build, r.hooks
        )

    def restore(self, ctx: Context, back: Comeback) -> None:
        # a stack goes back whole (`only` is an update's services: the whole stack file is
        # the release's, its other services unchanged in it)
        if back.paths is not None:
            write_files(ctx, back.store, back.entry, back.paths)
        # the release's own stack file, whole: its images are pinned by digest
        rendered = stack_of(back.store, back.entry)
        project = back.entry.manifest.project
        stack.deploy_rendered(ctx, project, rendered, back.chosen, back.limits, back.hooks)

    def kept(self, store: Store, entry: Entry) -> Rendered:
        return stack_of(store, entry)

    def records(
        self,
        ctx: Context,
        project: str,
        services: Sequence[str],
        rendered: Rendered | None,
        tag: str,
    ) -> dict[str, ServiceRecord]:
        assert rendered is not None
        return stack.records(ctx.daemon, project, rendered, tag)

    def states(self, ctx: Context, store: Store, live: Entry) -> list[ServiceState]:
        return swarm_states(ctx, store, live)

    def after_release(self, ctx: Context, store: Store, project: str, block: Any) -> None:
        """Remove the stack's configs and secrets that no release in the keep window
        (`x-cfgroll: keep`, else 10) uses. Never fails the release: a warning at most."""
        keep = parse(block).keep or KEEP
        try:
            kept = [
                stack_of(store, e)
                for e in islice(store.releases(), keep)
                if of(e.manifest.orchestrator) is self and e.manifest.project == project
            ]
            removed = stack.tidy(ctx, project, kept)
        except CfgrollError as exc:
            ctx.reporter.warn(f"could not remove the stack's unused configs and secrets: {exc}")
            return
        if removed:
            ctx.reporter.step(
                f"removed {len(removed)} config(s) and secret(s) no kept release uses: "
                + ", ".join(removed)
            )

    def leftovers(self, ctx: Context, project: str) -> list[Container]:
        return []  # Swarm replaces its tasks itself, start-first or not

    def remove_first(self, ctx: Context, project: str) -> bool:
        stack.remove_stack(ctx, project)
        return True


SWARM = SwarmStack()


def swarm_states(ctx: Context, store: Store, live: Entry) -> list[ServiceState]:
    """For a Swarm stack: whether each service's spec runs the digest and the replica count
    the release recorded, and how many of its tasks run."""
    stack = live.manifest.project
    doc = stack_of(store, live).doc.get("services") or {}
    found = {s.name.removeprefix(f"{stack}_"): s for s in ctx.daemon.stack_services(stack)}
    tasks = ctx.daemon.stack_tasks(stack)
    states = []
    for name in sorted(set(live.manifest.services) | set(found)):
        record, svc = live.manifest.services.get(name), found.get(name)
        digest = svc.image.partition("@")[2] if svc else None
        if record is None:
            states.append(ServiceState(name, False, "not in the live release", digest))
            continue
        wanted_digest = record.repo_digest.partition("@")[2]
        if svc is None:
            states.append(ServiceState(name, False, "no service", None, wanted_digest))
            continue
        replicas = int(((doc.get(name) or {}).get("deploy") or {}).get("replicas") or 1)
        running = sum(1 for t in tasks if t.service_id == svc.id and t.running)
        problems = []
        if digest != wanted_digest:
            problems.append(
                f"runs image {short(digest or svc.image)}, the release recorded "
                f"{short(wanted_digest)}"
            )
        if svc.replicas is not None and svc.replicas != replicas:
            problems.append(f"{svc.replicas} replicas, the release recorded {replicas}")
        if svc.replicas is not None and running < svc.replicas:
            problems.append(f"{running}/{svc.replicas} tasks running")
        fine = f"{running}/{svc.replicas if svc.replicas is not None else running} tasks running"
        states.append(
            ServiceState(name, not problems, "; ".join(problems) or fine, digest, wanted_digest)
        )
    return states
