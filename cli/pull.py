"""`cfgroll pull`, `cfgroll watch`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    out,
    report_setup,
)
from cfgroll.cli.options import (
    GATE_SETTINGS,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.operations.pull import PullOptions

Remote = Annotated[
    Optional[str],
    typer.Option(
        "--remote",
        help="The remote to fetch [default: x-cfgroll pull: remote, else the branch's upstream].",
        show_default=False,
    ),
]
Branch = Annotated[
    Optional[str],
    typer.Option(
        "--branch",
        help="The remote branch to follow [default: x-cfgroll pull: branch, else the upstream].",
        show_default=False,
    ),
]
AllowReset = Annotated[
    bool,
    typer.Option(
        "--allow-reset", help="Follow a force-pushed upstream (the work tree holds no local work)."
    ),
]
Retry = Annotated[
    bool, typer.Option("--retry", help="Deploy the upstream commit even if it failed before.")
]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Deploy the upstream commit even though a rollback by hand holds the branch.",
    ),
]


def _options(
    remote: str | None, branch: str | None, allow_reset: bool, retry: bool, resume: bool = False
) -> PullOptions:
    from cfgroll.operations.pull import PullOptions

    return PullOptions(remote, branch, allow_reset, retry, resume)


@project_command(settings=GATE_SETTINGS, model=True)
def pull(
    ctx: Context,
    remote: Remote = None,
    branch: Branch = None,
    allow_reset: AllowReset = False,
    retry: Retry = False,
    resume: Resume = False,
) -> None:
    """Fetch the branch the project folder follows and deploy its new commit.

    The project folder must be a git work tree. When the upstream commit is new, the work tree
    is fast-forwarded to it and deployed exactly as `cfgroll deploy` does (gate, hooks,
    automatic rollback); the release records the commit (`log` shows it, `show --json` says
    all). A commit that failed is skipped until the branch moves on (--retry). After a
    `cfgroll rollback` by hand, the commit rolled back away from is held (exit 0, "held")
    until a new commit arrives (--resume). Uncommitted changes to tracked files (other than
    the live release's own, which a rollback wrote), local commits or a force-pushed upstream
    stop it (exit 1), changing nothing. Files the repository ignores (a `.env` with
    passwords) stay and are recorded as with deploy. Exit codes as deploy's; "up to date": 0.
    See docs/pull.md.
    """
    from cfgroll.operations.pull import pull as run_pull
    from cfgroll.operations.pull import said

    result = run_pull(ctx, _options(remote, branch, allow_reset, retry, resume))
    if result.deployed is not None:
        report_setup(result.deployed)
    out(said(result))


@project_command(settings=GATE_SETTINGS, model=True)
def watch(
    ctx: Context,
    interval: Annotated[
        float, typer.Option("--interval", min=1, help="Seconds between two checks.")
    ] = 60,
    remote: Remote = None,
    branch: Branch = None,
    allow_reset: AllowReset = False,
    listen: Annotated[
        Optional[str],
        typer.Option(
            "--listen",
            metavar="ADDRESS:PORT",
            help="Also answer push webhooks (GitHub, Gitea, GitLab) at http://ADDRESS:PORT"
            "/hooks/push, signed with CFGROLL_WEBHOOK_SECRET (or the file "
            "CFGROLL_WEBHOOK_SECRET_FILE names): a valid one pulls at once.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Pull in a loop: deploy each new commit of the branch followed, one at a time.

    One line per check and per deploy on stdout (Compose's progress on stderr). A fetch that
    fails backs off (up to 5 min) and never ends the loop; a failed commit is skipped until
    the branch moves on. SIGTERM lets a deploy in progress finish, then exits 0 (a second
    SIGTERM interrupts it); Ctrl-C interrupts it at once: it rolls back, as with `cfgroll
    deploy`, and its commit is not skipped later. Run it as a service: examples/pull/
    (systemd, or a Compose service). See docs/pull.md.
    """
    import signal
    import threading

    from cfgroll.operations.pull import stamp
    from cfgroll.operations.pull import watch as run_watch

    stop = threading.Event()
    wake = threading.Event() if listen else None

    def asked_to_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # the second time: interrupt the deploy (it rolls back)
        stop.set()
        if wake is not None:
            wake.set()
        out(f"{stamp()} stopping after the current check (SIGTERM)")

    def log(line: str) -> None:
        out(f"{stamp()} {line}")

    signal.signal(signal.SIGTERM, asked_to_stop)
    options = _options(remote, branch, allow_reset, False)
    listener = None
    if listen and wake is not None:
        from cfgroll.operations.webhook import PATH, secret
        from cfgroll.operations.webhook import listen as serve

        listener = serve(listen, secret(), wake, log)
        log(f"answering push webhooks at http://{listener.address}{PATH}")
    out(f"{stamp()} watching every {interval:g} s")
    try:
        run_watch(ctx, options, interval, log, stop, wake)
    except KeyboardInterrupt:
        out(f"{stamp()} interrupted (a deploy in progress rolls back; its commit is not skipped)")
    finally:
        if listener is not None:
            listener.stop()
    out(f"{stamp()} stopped")
