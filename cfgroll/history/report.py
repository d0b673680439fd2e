"""`cfgroll report --html FILE`: the history as one self-contained page: the delivery figures
(`stats`), a timeline of releases, failed attempts and rollbacks with a lane per service, and
the releases with what each changed, as `log` shows it (file names and services: never a
value). Inline CSS and SVG, no script, nothing loaded from the network.

The page is rendered by Jinja2 (autoescaped) from `report.html.j2` beside this module; Jinja2
is imported by this command only. The timeline's shapes are computed here; past `DENSE`
events they are counted per day, and the release list is grouped by month, so that a history
of thousands stays readable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cfgroll import __version__
from cfgroll.context import Context
from cfgroll.errors import UsageError
from cfgroll.history.stats import Figures, Happened, figures, parse_since

if TYPE_CHECKING:
    from cfgroll.store.repo import Store

MARKER = '<meta name="generator" content="cfgroll report">'
WIDTH, LANE, LEFT, TOP = 960, 34, 150, 30
DENSE = 400  # events on the timeline past which they are counted per day
GROUP = 150  # releases in a month past which the list groups them by day
# how each kind of event looks: (css class, label)
LOOKS = {
    "ok": ("ok", "release"),
    "failed": ("failed", "failed attempt"),
    "rollback": ("rollback", "rollback"),
    "other": ("other", "import or baseline"),
}


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    r: float
    look: str
    title: str


@dataclass(frozen=True)
class Row:
    tag: str
    time: str
    action: str
    result: str
    services: str
    changed: str


def look_of(h: Happened) -> str:
    if not h.ok:
        return "failed"
    if h.action == "rollback":
        return "rollback"
    return "ok" if h.deployment else "other"


def timeline(
    history: list[Happened], lanes: list[str], start: datetime, end: datetime
) -> list[Mark]:
    """The marks of `history` on lanes (one per service; an event that names no service is on
    every lane), x by time; counted per day and lane past `DENSE` events."""
    span = max((end - start).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return LEFT + (WIDTH - LEFT - 20) * (moment - start).total_seconds() / span

    def y(lane: str) -> float:
        return TOP + LANE * lanes.index(lane) + LANE / 2

    placed = [(h, lane) for h in history for lane in (h.services or tuple(lanes)) if lane in lanes]
    if len(placed) <= DENSE:
        return [
            Mark(x(h.at), y(lane), 5, look_of(h), f"{h.tag}: {h.action}, {_when(h.at)}")
            for h, lane in placed
        ]
    days: Counter[tuple[str, str, str]] = Counter()
    for h, lane in placed:
        days[(h.at.strftime("%Y-%m-%d"), lane, look_of(h))] += 1
    marks = []
    for (day, lane, look), n in sorted(days.items()):
        moment = datetime.fromisoformat(day).replace(hour=12, tzinfo=timezone.utc)
        label = LOOKS[look][1] + ("s" if n > 1 else "")
        marks.append(Mark(x(moment), y(lane), min(3 + n, 12), look, f"{day}: {n} {label}"))
    return marks


def rows(store: Store, since: datetime | None) -> list[Row]:
    """The releases and attempts, newest first, with what each changed (as `log` says it)."""
    from cfgroll.history.log import changes, log

    found = []
    for line in log(store, include_side=True):
        m = line.entry.manifest
        if m.kind == "draft" or (since is not None and m.created_at < since):
            continue
        found.append(
            Row(
                m.tag,
                _when(m.created_at),
                m.action,
                m.outcome,
                ", ".join(m.services_changed),
                "; ".join(changes(line, most=None)),
            )
        )
    return found


def groups(listing: list[Row], most: int = GROUP) -> list[tuple[str, list[Row]]]:
    """The rows (newest first) by month; a month of more than `most` rows by day instead, so
    that no group is longer than a day's work."""
    months: dict[str, list[Row]] = {}
    for row in listing:
        months.setdefault(row.time[:7], []).append(row)
    found: list[tuple[str, list[Row]]] = []
    for month, rows_of in months.items():
        if len(rows_of) <= most:
            found.append((month, rows_of))
            continue
        days: dict[str, list[Row]] = {}
        for row in rows_of:
            days.setdefault(row.time[:10], []).append(row)
        found += days.items()
    return found


def render(ctx: Context, since: str | None = None) -> str:
    """The page, as text."""
    import jinja2  # this command's alone

    from cfgroll.history.stats import history

    now = datetime.now(timezone.utc)
    cutoff = parse_since(since, now)
    store = ctx.open_store()
    everything = history(store)
    if not everything:
        raise UsageError("the store has no release yet; run `cfgroll deploy` first")
    events = [h for h in everything if cutoff is None or h.at >= cutoff]
    stats: Figures = figures(everything, now, cutoff)
    lanes = sorted({s for h in events for s in h.services}) or ["(project)"]
    start = cutoff or min((h.at for h in events), default=now)
    listing = rows(store, cutoff)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(
        marker=MARKER,
        project=ctx.compose.name or ctx.directory.name,
        generated=_when(now),
        since=_when(cutoff) if cutoff else None,
        version=__version__,
        stats=stats,
        marks=timeline(events, lanes, start, now),
        lanes=lanes,
        looks=LOOKS,
        width=WIDTH,
        height=TOP + LANE * len(lanes) + 30,
        lane=LANE,
        left=LEFT,
        top=TOP,
        start=_when(start),
        end=_when(now),
        months=groups(listing),
        count=len(listing),
    )


def write(ctx: Context, file: Path, since: str | None = None) -> Path:
    """Render the page into `file` (atomically); a file there that is not a cfgroll report is
    refused, never overwritten."""
    from cfgroll.store.files import write_atomic

    if file.is_dir():
        raise UsageError(f"{file} is a folder; name the page's file (report.html)")
    if file.exists():
        head = file.read_bytes()[:2000]
        if MARKER.encode() not in head:
            raise UsageError(f"{file} exists and is not a cfgroll report; name another file")
    page = render(ctx, since)
    write_atomic(file, page.encode())
    return file


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
