"""`cfgroll init`"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cfgroll.cli.common import (
    hooks_folder,
    out,
)
from cfgroll.cli.options import (
    project_command,
)

if TYPE_CHECKING:
    from cfgroll.context import Context


@project_command()
def init(
    ctx: Context,
) -> None:
    """Create the store for this Compose project (private, 0700); safe to run again.

    Inside a git work tree, `.cfgroll/` is added to the project's .gitignore. When the
    project's containers already run, they are recorded as a `baseline` release, so that the
    first deploy can be rolled back: run `cfgroll init` before you edit the files. Sample
    hooks are installed in .cfgroll/hooks/ as NAME.sample (never overwriting a file there).
    """
    from cfgroll.transactions.init import init as run_init

    result = run_init(ctx)
    verb = "created" if result.created else "already exists:"
    out(f"store {verb} {result.store.path}")
    if result.gitignore:
        out(f"added /.cfgroll/ to {result.gitignore}")
    if result.samples:
        out(f"installed {len(result.samples)} sample hooks in {hooks_folder(result)}")
    if result.baseline:
        out(f"recorded the running stack as {result.baseline.tag} (action baseline)")
