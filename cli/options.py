"""The options commands share, declared once: the project a command works on, the settings
`x-cfgroll:` can also set, and a few others; `project_command` adds them to a command and
hands it the `Context` they make. Completion of their values too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cfgroll.cli.common import TerminalReporter

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.settings import Flags


def word_of(flag: str, vocabulary: str) -> Callable[[str | None], Any]:
    """A typer callback taking `flag`'s value as a word of the settings' typed `vocabulary`
    (`ORCHESTRATORS`, `ORDERS`), None when not given."""

    def check(value: str | None) -> Any:
        if value is None:
            return None
        from cfgroll import settings
        from cfgroll.errors import ProjectError

        try:
            return settings.one_of(value, getattr(settings, vocabulary), flag)
        except ProjectError as exc:
            raise typer.BadParameter(str(exc).removeprefix(f"{flag} ")) from None

    return check


ProjectDir = Annotated[
    Optional[Path],
    typer.Option(
        "--project-dir",
        "-C",
        help="Run as if started in this folder (the Compose project).",
        file_okay=False,
    ),
]
Files = Annotated[
    Optional[list[str]],
    typer.Option(
        "--file",
        "-f",
        help="Compose file, relative to the project folder; repeat for several, as with "
        "`docker compose -f` (default: compose.yaml or docker-compose.yml and its override).",
    ),
]
EnvFiles = Annotated[
    Optional[list[str]],
    typer.Option(
        "--env-file",
        help="Env file Compose reads instead of .env, relative to the project folder; repeat "
        "for several, as with `docker compose --env-file`.",
    ),
]
ProjectName = Annotated[
    Optional[str], typer.Option("--project-name", "-p", help="Compose project name.")
]
StorePath = Annotated[
    Optional[Path],
    typer.Option(
        "--store",
        help="The store (a bare git repository). Default: $CFGROLL_STORE, else "
        "<project>/.cfgroll/store.git.",
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
HostsOption = Annotated[
    Optional[str],
    typer.Option(
        "--hosts",
        metavar="NAME,…",
        help="A fleet's hosts to act on (x-cfgroll: hosts:; default: all of them).",
    ),
]
HostOption = Annotated[
    Optional[str],
    typer.Option(
        "--host",
        metavar="NAME",
        help="A fleet's host (x-cfgroll: hosts:): its releases and attempts, not the fleet's.",
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
]
ShowSecrets = Annotated[
    bool, typer.Option("--show-secrets", help="Show values of .env-style files unmasked.")
]
Timeout = Annotated[
    Optional[float],
    typer.Option(
        "--timeout",
        min=1,
        help="Seconds the services (and the check hook) have to pass the health gate "
        "[default: x-cfgroll timeout, else 120].",
        show_default=False,
    ),
]
Settle = Annotated[
    Optional[float],
    typer.Option(
        "--settle",
        min=0,
        help="Seconds a service without a healthcheck must keep running to pass "
        "[default: x-cfgroll settle, else 3].",
        show_default=False,
    ),
]
HookTimeout = Annotated[
    Optional[float],
    typer.Option(
        "--hook-timeout",
        min=1,
        help="Seconds a hook may run before it is killed "
        "[default: x-cfgroll hook_timeout, else 300].",
        show_default=False,
    ),
]
NoHooks = Annotated[
    bool,
    typer.Option(
        "--no-hooks",
        help="Run none of the project's hooks (pre-deploy, check, post-deploy, …); the "
        "release records that they were skipped.",
    ),
]
NoRollback = Annotated[
    bool,
    typer.Option(
        "--no-rollback",
        help="On failure, leave the failed state in place for debugging (exit 4); the "
        "attempt is still recorded.",
    ),
]
ServicesOption = Annotated[
    Optional[str],
    typer.Option(
        "--services",
        help="Comma-separated service names: `--services api,web`.",
        autocompletion=lambda ctx, incomplete: complete_service(ctx, incomplete),
    ),
]
RecordUnchanged = Annotated[
    bool,
    typer.Option(
        "--record-unchanged",
        help="Record a release even when nothing changed since the live one (same files, same "
        "images); by default such a deploy passes the health gate and records nothing.",
    ),
]
OrchestratorOption = Annotated[
    Optional[str],
    typer.Option(
        "--orchestrator",
        help="compose (`docker compose up`) or swarm (`docker stack deploy` on a Swarm "
        "manager, images pinned by digest) [default: x-cfgroll orchestrator, else compose].",
        show_default=False,
        metavar="[compose|swarm]",
        callback=word_of("--orchestrator", "ORCHESTRATORS"),
    ),
]
LockTimeout = Annotated[
    Optional[float],
    typer.Option(
        "--lock-timeout",
        min=0,
        help="Seconds to wait for another cfgroll run on the same store to finish "
        "[default: x-cfgroll lock_timeout, else 0].",
        show_default=False,
    ),
]
RolloutOption = Annotated[
    Optional[str],
    typer.Option(
        "--rollout",
        help="start-first (new containers beside the old ones, which go once the new ones "
        "passed the gate) or stop-first (as `docker compose up`) for every service this run "
        "[default: each service's deploy.update_config.order, else x-cfgroll rollout, else "
        "stop-first].",
        show_default=False,
        metavar="[start-first|stop-first]",
        callback=word_of("--rollout", "ORDERS"),
    ),
]
Drain = Annotated[
    Optional[float],
    typer.Option(
        "--drain",
        min=0,
        help="Seconds a start-first rollout lets the old containers answer after their "
        "pre-stop command, before they leave the networks [default: x-cfgroll drain, else 2].",
        show_default=False,
    ),
]


# The options of the project a command works on, and of the settings `x-cfgroll:` can also
# set: declared here once, added to a command by `project_command`.
PROJECT_OPTIONS: dict[str, Any] = {
    "project_dir": ProjectDir,
    "file": Files,
    "env_file": EnvFiles,
    "project_name": ProjectName,
    "store": StorePath,
}
SETTING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "timeout": (Timeout, None),
    "settle": (Settle, None),
    "lock_timeout": (LockTimeout, None),
    "hook_timeout": (HookTimeout, None),
    "no_hooks": (NoHooks, False),
    "orchestrator": (OrchestratorOption, None),
    "rollout": (RolloutOption, None),
    "drain": (Drain, None),
}
GATE_SETTINGS = (
    "timeout",
    "settle",
    "lock_timeout",
    "hook_timeout",
    "no_hooks",
    "rollout",
    "drain",
)


def project_command(
    settings: tuple[str, ...] = (), model: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Make `command(ctx, …its own options)` a typer command that also takes the project
    options and the `settings` options named, and is called with the `Context` they make
    (`model`: Compose starts reading the project's model at once)."""
    import functools
    import inspect

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        # the command's own options, their annotations evaluated (typer reads Annotated's
        # metadata from the signature; `ctx: Context` is imported for the type checker only)
        own = [
            p.replace(annotation=_evaluated(p.annotation, command))
            for n, p in inspect.signature(command).parameters.items()
            if n != "ctx"
        ]
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = {n: (t, None) for n, t in PROJECT_OPTIONS.items()}
        added |= {n: SETTING_OPTIONS[n] for n in settings}

        @functools.wraps(command)
        def run(**given: Any) -> None:
            where = {n: given.pop(n) for n in PROJECT_OPTIONS}
            flags = None
            if settings:
                from cfgroll.settings import Flags

                flags = Flags(**{n: given.pop(n) for n in settings})
            ctx = context(
                where["project_dir"],
                where["file"],
                where["project_name"],
                where["store"],
                flags,
                where["env_file"],
                model,
            )
            command(ctx, **given)

        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p.replace(kind=keyword) for p in own]
            + [
                inspect.Parameter(n, keyword, default=d, annotation=t)
                for n, (t, d) in added.items()
            ]
        )
        run.__annotations__ = {p.name: p.annotation for p in own} | {
            n: t for n, (t, _) in added.items()
        }
        return run

    return wrap


def _evaluated(annotation: Any, command: Callable[..., None]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    return eval(annotation, command.__globals__)  # noqa: S307 - the command's own annotation


def context(
    project_dir: Path | None,
    files: list[str] | None,
    project_name: str | None,
    store: Path | None,
    flags: Flags | None = None,
    env_files: list[str] | None = None,
    model: bool = False,
) -> Context:
    """The context of a command; `flags`: what its command line said about the settings
    that `x-cfgroll:` can also set (timeouts, hooks); `model`: the command reads Compose's
    model of the project (Compose starts on it at once, while the command's code loads)."""
    from cfgroll.context import Context
    from cfgroll.errors import CfgrollError
    from cfgroll.transactions.unfinished import resume

    ctx = Context.create(
        project_dir,
        files or (),
        project_name,
        store,
        TerminalReporter(),
        flags,
        env_files or (),
        model,
    )
    try:  # a restore cut short is finished before the command does anything
        done = resume(ctx)
    except CfgrollError as exc:
        ctx.reporter.warn(str(exc))  # commands that change the stack refuse until it is
    else:
        if done:
            ctx.reporter.warn(done)
    return ctx


def _completion_context(ctx: typer.Context) -> Context:
    """The context of the command line being completed (the options typed so far)."""
    p = ctx.params
    names = (p.get("project_dir"), p.get("file"), p.get("project_name"), p.get("store"))
    return context(*names, env_files=p.get("env_file"))


def complete_release(ctx: typer.Context, incomplete: str) -> list[str]:
    """Release tags (and `live`, `previous`) for TAG arguments."""
    from cfgroll.complete import tags

    try:
        return tags(_completion_context(ctx), incomplete)
    except Exception:  # noqa: BLE001 - completion never prints an error
        return []


def complete_entry(ctx: typer.Context, incomplete: str) -> list[str]:
    """Releases, failed attempts and drafts."""
    from cfgroll.complete import tags

    try:
        return tags(_completion_context(ctx), incomplete, side=True)
    except Exception:  # noqa: BLE001
        return []


def complete_service(ctx: typer.Context, incomplete: str) -> list[str]:
    from cfgroll.complete import services

    try:
        return services(_completion_context(ctx), incomplete)
    except Exception:  # noqa: BLE001
        return []
