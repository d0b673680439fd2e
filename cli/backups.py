"""`cfgroll import`"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
def import_(
    ctx: Context,
    directory: Annotated[
        Path,
        typer.Argument(
            help="The old scripts' backup folder (usually .backup), with YYYYMMDD_HHMMSS/ and "
            "update_YYYYMMDD_HHMMSS/ folders in it.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be imported; change nothing.")
    ] = False,
    normalize: Annotated[
        bool,
        typer.Option(
            "--normalize",
            help="Drop a UTF-8 BOM and CRLF line ends from the files (kept byte for byte "
            "without it).",
        ),
    ] = False,
) -> None:
    """Turn the copy scripts' .backup/ folders into releases, oldest first.

    Each folder becomes a release of action `import`, dated at its name (local time), with
    its docker-compose.yml and .env, and the images its `<service>:backup_<stamp>` tags still
    hold (tagged again under the release's name); a folder without images becomes a
    files-only release. Run it before the first deploy: the imported history goes first in
    the store. Safe to run again (imported folders are skipped); never deletes a folder;
    malformed folders are reported one line each and the rest is imported. Files are kept byte
    for byte (a BOM, CRLF line ends are noted; --normalize drops them). Exit 1 when nothing
    was imported and some folder was refused (or there was none), 0 when every folder had been
    imported before.
    """
    from cfgroll.operations.importer import import_backups

    # relative to where the command runs: -C's folder, as if started there
    folder = directory if directory.is_absolute() else ctx.directory / directory
    report = import_backups(ctx, folder, dry_run, normalize)
    verb = "would import" if dry_run else "imported"
    for backup, tag in report.imported:
        images = ", ".join(sorted(backup.services)) or "files only"
        out(f"{verb} {backup.name} as {tag} ({backup.kind}; images: {images})")
    for line in report.notes:
        err(f"note: {line}")
    for line in report.problems:
        err(f"skipped {line}")
    if report.already:
        out(f"{len(report.already)} folder(s) were imported before")
    if not report.imported:
        out("nothing to import" + (" (see the skipped folders above)" if report.problems else ""))
        if report.problems or not report.already:
            raise typer.Exit(1)
    elif not dry_run:
        out("see them with `cfgroll log`; `cfgroll rollback TAG` works where the images exist")
