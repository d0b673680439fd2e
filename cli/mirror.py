"""`cfgroll mirror`, `cfgroll push`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    err,
    out,
)
from cfgroll.cli.options import (
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command()
def mirror(
    ctx: Context,
    url: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[URL]",
            help="Any git URL: a path, ssh://, https://, git://. Kept in the store's own git "
            "config, never in a release.",
            show_default=False,
        ),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Forget the mirror.")] = False,
) -> None:
    """Show, set or remove the store's mirror: a git remote holding every release.

    With a URL: sets it and pushes the whole history, the files that hold secrets (.env,
    env_file:, secrets:, a Swarm stack file) sealed with age to `x-cfgroll: recipients:`.
    From then on every deploy, rollback, update, import, pin and prune pushes what it
    recorded, within `x-cfgroll: push_timeout` (10 s): an unreachable mirror never fails
    them. A mirror holding a history this store did not write is refused, never overwritten.
    Without a URL: shows the mirror and how many refs it lacks. See docs/mirror.md.
    """
    from cfgroll.capabilities.mirror import configure

    if url is not None and remove:
        raise typer.BadParameter("give a URL or --remove, not both")
    state = configure(ctx, url, remove)
    if remove:
        out("the mirror was removed" if state.removed else "there was no mirror to remove")
        return
    if state.url is None:
        out("no mirror: the history lives on this host only; `cfgroll mirror URL` sets one")
        return
    if url is not None:
        out(f"mirror set: {state.url}")
    else:
        out(f"mirror: {state.url}")
    out(f"sealing: {state.sealing}")
    if state.pushed is not None and state.pushed.refs:
        out(f"pushed {len(state.pushed.refs)} ref(s) in {state.pushed.seconds:.1f} s")
    if state.problem:
        err(f"warning: not pushed: {state.problem}")
    out(f"not pushed: {len(state.pending)} ref(s)" + ("; run `cfgroll push`" * bool(state.pending)))


@project_command()
def push(ctx: Context) -> None:
    """Push every release, attempt, draft, pin and note to the mirror now.

    Exit 1, with the reason, when the mirror cannot be reached or refuses (a history it holds
    that this store did not write; a secret file and no `x-cfgroll: recipients:`).
    """
    from cfgroll.capabilities.mirror import push as run_push

    pushed = run_push(ctx)
    if pushed.refs:
        out(f"pushed {len(pushed.refs)} ref(s) to the mirror in {pushed.seconds:.1f} s")
    else:
        out("the mirror is up to date")
