"""`cfgroll stats` and `cfgroll report`"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cfgroll.cli.common import err, local_time, out, print_json, table
from cfgroll.cli.options import HostOption, Json, complete_service, project_command

if TYPE_CHECKING:
    from cfgroll.context import Context
    from cfgroll.history.stats import Figures

Since = Annotated[
    Optional[str],
    typer.Option(
        "--since", metavar="AGE|DATE", help="Only what happened since: 30d, 12h, 2w or 2026-11-01."
    ),
]


@project_command()
def stats(
    ctx: Context,
    since: Since = None,
    service: Annotated[
        Optional[str],
        typer.Option(
            "--service",
            help="Only deployments that changed this service.",
            autocompletion=complete_service,
        ),
    ] = None,
    json_: Json = False,
    host: HostOption = None,
) -> None:
    """Delivery figures from what actually ran here: DORA's four keys.

    Deployments (deploy and update runs, ok or failed), failures (failed attempts, and releases
    a later rollback left), the change failure rate, the median time to restore (to the end of
    an automatic rollback, or to the rollback or fix that followed), deploys per week,
    rollbacks (automatic and by hand), and the lead time from commit to deploy for releases
    `cfgroll pull` made. The definitions: docs/stats.md. With --host NAME, a fleet host's.
    """
    from cfgroll.history.stats import stats as figures

    result = figures(ctx.for_host(host), since, service)
    if json_:
        print_json(_json(result))
        return
    window = f"since {local_time(result.since)}" if result.since else "the whole history"
    out(f"delivery figures, {window}" + (f", service {service}" if service else ""))
    per_week = f"{result.deploys_per_week} per week"
    restore = "time to restore service"
    lead = "lead time for changes (releases `cfgroll pull` made)"
    rollbacks = f"{result.rollbacks_automatic} automatic, {result.rollbacks_by_hand} by hand"
    rows = [
        ["  FIGURE", "VALUE", "DORA"],
        ["  deployments", str(result.deployments), f"deployment frequency: {per_week}"],
        ["  failures", str(result.failures), ""],
        ["  change failure rate", _percent(result.change_failure_rate), "change failure rate"],
        ["  time to restore (median)", _seconds(result.median_time_to_restore_s), restore],
        ["  rollbacks", rollbacks, ""],
        ["  lead time (median)", _seconds(result.median_lead_time_s), lead],
    ]
    for line in table(rows):
        out(line)
    if result.restores:
        out("failures:")
        for r in result.restores:
            how = " (automatic rollback)" if r.automatic else ""
            by = f"restored by {r.by}{how} after {_seconds(r.seconds)}" if r.by else "not restored"
            out(f"  {r.failure}  {by}")


@project_command()
def report(
    ctx: Context,
    html: Annotated[
        Path,
        typer.Option("--html", metavar="FILE", help="Write the page to FILE (report.html)."),
    ],
    since: Since = None,
) -> None:
    """Write the history as one self-contained HTML page.

    The figures of `cfgroll stats`, a timeline of releases, failed attempts and rollbacks with
    a lane per service, and every release with what it changed (names only, as `log` shows;
    never a value). Inline CSS and SVG: no script, nothing loaded from the network, so it opens
    offline and can be mailed.
    """
    from cfgroll.history.report import write

    written = write(ctx, html, since)
    err(f"wrote {written}")


def _json(r: Figures) -> dict[str, object]:
    return {
        "deployments": r.deployments,
        "failures": r.failures,
        "change_failure_rate": r.change_failure_rate,
        "median_time_to_restore_s": r.median_time_to_restore_s,
        "deploys_per_week": r.deploys_per_week,
        "rollbacks": {"automatic": r.rollbacks_automatic, "by_hand": r.rollbacks_by_hand},
        "median_lead_time_s": r.median_lead_time_s,
        "since": r.since.isoformat() if r.since else None,
        "service": r.service,
        "window_days": r.window_days,
        "restores": [
            {
                "failure": x.failure,
                "started_at": x.started.isoformat(),
                "restored_by": x.by,
                "seconds": x.seconds,
                "automatic": x.automatic,
            }
            for x in r.restores
        ],
    }


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"
