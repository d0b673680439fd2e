"""`cfgroll clone`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cfgroll.cli.common import (
    TerminalReporter,
    err,
    out,
)


def clone(
    url: Annotated[
        str, typer.Argument(metavar="URL", help="The mirror: a path, ssh://, https://, git://.")
    ],
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIRECTORY", help="A new (or empty) folder for the project and its store."
        ),
    ],
    identity: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--identity",
            "-i",
            help="An age identity file (or SSH private key) that opens the sealed secrets; "
            "repeat for several [default: CFGROLL_IDENTITY].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Bring a lost host back from its mirror: the store with its whole history, and the live
    release's files (secrets opened) in DIRECTORY.

    Then `cd DIRECTORY && cfgroll deploy` rebuilds (or pulls) and serves the live release.
    Nothing is written when the identity cannot open the secrets: the error names the keys
    they were sealed to. See docs/disaster-recovery.md.
    """
    from cfgroll.operations.clone import clone as run_clone

    result = run_clone(url, directory, identity or (), TerminalReporter())
    out(
        f"cloned {result.releases} release(s) into {result.store}; the live release "
        f"{result.live.tag} is in {result.directory} ({len(result.written)} file(s))"
    )
    recorded = result.live.manifest.project
    if result.project is not None and result.project != recorded:
        err(
            f"warning: Compose names the project in {result.directory.name}/ {result.project!r}, "
            f"the lost host's was {recorded!r}: name the folder {recorded}, or add "
            f"`name: {recorded}` to the compose file, before `cfgroll deploy`"
        )
    if result.unbuildable:
        err(
            f"warning: {', '.join(result.unbuildable)}: the build file is not in the release "
            "(releases hold the configuration, not build contexts); copy it from the source "
            "repository (or record it with `x-cfgroll: track:`) before `cfgroll deploy`"
        )
    out(f"next: cd {result.directory} && cfgroll deploy")
