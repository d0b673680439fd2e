"""`cfgroll deploy`"""

from __future__ import annotations

from cfgroll.cli.common import (
    EnvFiles,
    Files,
    HookTimeout,
    LockTimeout,
    NoHooks,
    NoRollback,
    OrchestratorOption,
    ProjectDir,
    ProjectName,
    RecordUnchanged,
    Settle,
    StorePath,
    Timeout,
    Yes,
    chosen,
    context,
    nothing_changed,
    out,
    report_setup,
)


def deploy(
    project_dir: ProjectDir = None,
    file: Files = None,
    env_file: EnvFiles = None,
    project_name: ProjectName = None,
    store: StorePath = None,
    timeout: Timeout = None,
    settle: Settle = None,
    lock_timeout: LockTimeout = None,
    hook_timeout: HookTimeout = None,
    no_hooks: NoHooks = False,
    no_rollback: NoRollback = False,
    orchestrator: OrchestratorOption = None,
    record_unchanged: RecordUnchanged = False,
    yes: Yes = False,
) -> None:
    """Build, start and health-check the stack, then record it as a new release.

    Runs `docker compose up -d --build --remove-orphans` (one Compose run: builds, then starts;
    and recreates the services whose mounted files changed, which Compose alone leaves running),
    waits until every service runs (and is healthy where it has a healthcheck), then commits
    every file of the configuration (compose files and their includes, env files, mounted files
    and read-only folders, configs, secrets, tracked files; see the README, "What cfgroll
    records") and a services manifest to the store with an annotated tag, and puts the same tag
    on every service image. If the build, the start or the health gate fails (or on
    Ctrl-C), the attempt is kept as a failed_… tag and the live release is put back (exit 3).
    The project's hooks run around it (pre-deploy, check, post-deploy, on-failure; see the
    README, "Hooks"). Asks no questions (--yes is accepted for scripts).
    """
    from cfgroll.context import Flags

    flags = Flags(timeout, settle, lock_timeout, hook_timeout, no_hooks, chosen(orchestrator))
    ctx = context(project_dir, file, project_name, store, flags, env_file, model=True)
    from cfgroll.transactions.deploy import (
        deploy as run_deploy,  # imported while Compose reads the model
    )

    result = run_deploy(ctx, no_rollback, record_unchanged)
    report_setup(result)
    if result.unchanged:
        out(nothing_changed(result.entry.tag))
        return
    m = result.entry.manifest
    changed = ", ".join(m.services_changed) or "no image changed"
    out(f"deployed {m.tag} ({changed})")
    out(f"roll back with: cfgroll rollback previous   (or: cfgroll rollback {m.tag})")
