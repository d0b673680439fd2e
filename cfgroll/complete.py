"""Shell completion: release tags for `rollback`, `show`, `diff`, `checkout`, service names for
`update`, `log` and `--services`. Fast (no Docker SDK), and silent: a completion that cannot
be computed offers nothing rather than an error in the middle of the user's typing."""

from __future__ import annotations

from cfgroll.context import Context
from cfgroll.errors import CfgrollError
from cfgroll.store.names import ATTEMPT_PREFIX, DRAFT_PREFIX

ALIASES = ("live", "previous")


def tags(ctx: Context, incomplete: str, side: bool = False) -> list[str]:
    """Release tags starting with `incomplete`, newest first, then the aliases; with `side`,
    failed attempts and drafts too (for `show`, `diff`, `checkout`)."""
    try:
        names = ctx.open_store().tags()
    except (CfgrollError, OSError):
        return []
    if not side:
        names = [n for n in names if not n.startswith((ATTEMPT_PREFIX, DRAFT_PREFIX))]
    # the names end in a UTC timestamp: newest first, whatever the prefix
    names.sort(key=lambda n: n.split("_", 1)[-1], reverse=True)
    return [n for n in (*names, *ALIASES) if n.startswith(incomplete)]


def services(ctx: Context, incomplete: str) -> list[str]:
    """The project's services starting with `incomplete` (`a,b,c` completes the last name)."""
    done, _, last = incomplete.rpartition(",")
    try:
        names = ctx.compose.run("config", "--services", what="docker compose config").stdout
    except (CfgrollError, OSError):
        return []
    given = set(done.split(",")) if done else set()
    prefix = done + "," if done else ""
    # sorted: Compose lists services in no fixed order
    return [prefix + n for n in sorted(names.split()) if n.startswith(last) and n not in given]
