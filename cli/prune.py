"""`cfgroll prune`, `cfgroll pin`, `cfgroll unpin`"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import (
    confirm,
    out,
)
from cfgroll.cli.options import (
    Yes,
    complete_release,
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command(settings=("lock_timeout",))
def prune(
    ctx: Context,
    keep: Annotated[
        Optional[int],
        typer.Option(
            "--keep",
            min=1,
            help="Keep the images of the newest N releases [default: x-cfgroll keep, else 10].",
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        Optional[str],
        typer.Option(
            "--older-than",
            help="Also keep the images of releases younger than this (30d, 12h, 2w) "
            "[default: x-cfgroll keep_for].",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go and the space freed.")
    ] = False,
    yes: Yes = False,
) -> None:
    """Free the disk old releases' images hold, never a way back.

    Removes the image tags of the releases beyond the policy, then the images left with no
    tag that no container (of any project) uses, then runs git's maintenance on the store.
    The releases stay in the history (`log` shows them as not restorable, or `pull` when a
    registry still has their images). Never touched: the live release, the last release
    before it that passed the health gate, pinned releases (`cfgroll pin`). Asks first on a
    terminal unless --yes.
    """
    from cfgroll.capabilities.retention import plan, policy, size
    from cfgroll.capabilities.retention import prune as run_prune

    chosen = policy(ctx, keep, older_than)
    planned = plan(ctx, chosen)
    rule = f"keep {chosen.keep}" + (
        f", and younger than {older_than or chosen.keep_for}" if chosen.keep_for else ""
    )
    if not planned.untag:
        out(f"nothing to prune ({rule}): {len(planned.kept)} release(s) keep their images")
        return
    verb = "would remove" if dry_run else "removing"
    out(f"{verb} the image tags of {len(planned.untag)} release(s) ({rule}):")
    for u in planned.untag:
        out(f"  {u.entry.tag}  {', '.join(u.refs)}")
    out(
        f"{verb} {len(planned.images)} image(s) no tag and no container uses, at least "
        f"{size(planned.freed)} of their own"
    )
    kept = ", ".join(f"{tag} ({why})" for tag, why in planned.kept.items() if why != "newest")
    if kept:
        out(f"kept: {kept}")
    if dry_run:
        return
    confirm(f"prune the images of {len(planned.untag)} release(s)?", yes)
    result = run_prune(ctx, chosen)
    out(
        f"pruned {len(result.plan.untag)} release(s): removed {len(result.removed)} image(s), "
        f"freed at least {size(result.freed)}; the releases stay in `cfgroll log`"
    )
    if result.refused:
        out(f"kept {len(result.refused)} image(s) the engine still needs (a child image)")


Tag = Annotated[
    str,
    typer.Argument(help="Release tag, its timestamp, or `live`.", autocompletion=complete_release),
]


@project_command()
def pin(
    ctx: Context,
    tag: Tag,
) -> None:
    """Keep a release's images whatever the retention policy says (recorded in the store as
    refs/pins/TAG; `cfgroll log` shows it)."""
    from cfgroll.capabilities.retention import pin as run_pin

    entry, changed = run_pin(ctx, tag)
    out(f"pinned {entry.tag}" if changed else f"{entry.tag} was pinned already")


@project_command()
def unpin(
    ctx: Context,
    tag: Tag,
) -> None:
    """Let the retention policy prune a release's images again."""
    from cfgroll.capabilities.retention import pin as run_pin

    entry, changed = run_pin(ctx, tag, on=False)
    out(f"unpinned {entry.tag}" if changed else f"{entry.tag} was not pinned")
