"""The delivery figures on constructed histories: what counts as a deployment and a failure,
how long each failure took to restore, the window and the service filter. No store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cfgroll.history.stats import (
    Happened,
    figures,
    parse_since,
    restored_at,
    restored_note,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=14)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def release(tag: str, minutes: float, action: str = "deploy", left: str | None = None,
            services: tuple[str, ...] = ("web",), **kw: object) -> Happened:  # fmt: skip
    return Happened(tag, action, "release", at(minutes), True, left, services, **kw)  # type: ignore[arg-type]


def attempt(tag: str, minutes: float, left: str, restored: float | None = None,
            action: str = "deploy", services: tuple[str, ...] = ()) -> Happened:  # fmt: skip
    back = at(restored) if restored is not None else None
    return Happened(tag, action, "attempt", at(minutes), False, left, services, back)  # type: ignore[arg-type]


# three deploys, a crashing deploy rolled back by itself (20 s), a rollback by hand from r3
ACCEPTANCE = [
    release("r1", 0),
    release("r2", 10, left="r1"),
    release("r3", 20, left="r2"),
    attempt("a4", 30, left="r3", restored=30 + 20 / 60),
    release("r5", 40, action="rollback", left="r3"),
]


def test_the_acceptance_history() -> None:
    f = figures(ACCEPTANCE, NOW)
    assert (f.deployments, f.failures, f.change_failure_rate) == (4, 2, 0.5)
    by = {r.failure: (r.by, r.seconds, r.automatic) for r in f.restores}
    assert by == {"a4": ("r3", 20.0, True), "r3": ("r5", 1200.0, False)}
    assert f.median_time_to_restore_s == 610.0
    assert (f.rollbacks_automatic, f.rollbacks_by_hand) == (1, 1)
    assert f.deploys_per_week == 2.0  # 4 in the 14 days from the first deployment


def test_no_history_has_no_rates() -> None:
    f = figures([], NOW)
    assert (f.deployments, f.failures, f.change_failure_rate) == (0, 0, None)
    assert (f.median_time_to_restore_s, f.deploys_per_week, f.median_lead_time_s) == (None, 0, None)


def test_only_failures_and_one_never_restored() -> None:
    history = [attempt("a1", 0, left="r0"), attempt("a2", 5, left="r0")]
    f = figures(history, NOW)
    assert (f.deployments, f.failures, f.change_failure_rate) == (2, 2, 1.0)
    assert f.median_time_to_restore_s is None
    assert [r.by for r in f.restores] == [None, None]
    # a later fix restores both: to it, from each
    f = figures([*history, release("r1", 15, left="r0")], NOW)
    assert [(r.by, r.seconds) for r in f.restores] == [("r1", 900.0), ("r1", 600.0)]


def test_imports_baselines_drafts_and_rollbacks_are_not_deployments() -> None:
    history = [
        release("i1", 0, action="import"),
        release("b1", 1, action="baseline"),
        Happened("d1", "draft", "draft", at(2), True, "b1"),
        release("r1", 3, left="b1"),
        release("r2", 4, action="rollback", left="r1"),
        release("r3", 5, action="rollback", left="r2"),  # a rollback of a rollback
    ]
    f = figures(history, NOW)
    assert (f.deployments, f.failures) == (1, 1)  # r1, left by the first rollback
    assert f.rollbacks_by_hand == 2
    assert [(r.failure, r.by) for r in f.restores] == [("r1", "r2")]


def test_partial_updates_count_and_the_service_filter() -> None:
    history = [
        release("r1", 0, services=("web", "db")),
        release("u2", 5, action="update", left="r1", services=("db",)),
        attempt("a3", 6, left="u2", restored=7, action="update", services=("db",)),
        attempt("a4", 8, left="u2", restored=9),  # names no service: counts for all
    ]
    assert figures(history, NOW).deployments == 4
    web = figures(history, NOW, service="web")
    assert (web.deployments, web.failures) == (2, 1)
    db = figures(history, NOW, service="db")
    assert (db.deployments, db.failures, db.change_failure_rate) == (4, 2, 0.5)


def test_the_window_and_the_lead_time() -> None:
    history = [
        release("r1", 0),
        release("r2", 60 * 24 * 10, left="r1", committed_at=at(60 * 24 * 10 - 3)),
    ]
    f = figures(history, NOW, since=NOW - timedelta(days=7))
    assert f.deployments == 1
    assert f.deploys_per_week == 1.0
    assert f.median_lead_time_s == 180.0


def test_the_restore_note_and_since() -> None:
    moment = datetime(2026, 12, 2, 10, 0, 5, tzinfo=timezone.utc)
    note = "on-failure: paged\n" + restored_note("backup_x", moment) + "\n"
    assert restored_at(note) == moment
    assert restored_at("no such line") is None
    assert parse_since("2w", NOW) == NOW - timedelta(days=14)
    assert parse_since("2026-11-03", NOW) == datetime(2026, 11, 3, tzinfo=timezone.utc)
    with pytest.raises(Exception, match="--since 'soon'"):
        parse_since("soon", NOW)


def test_a_long_history_is_counted_per_day_on_the_timeline() -> None:
    from cfgroll.history.report import DENSE, timeline

    few = [release(f"r{i}", i * 60) for i in range(10)]
    marks = timeline(few, ["web"], T0, NOW)
    assert len(marks) == 10 and marks[0].title.startswith("r0: deploy")
    many = [release(f"r{i}", i * 20) for i in range(1000)]  # 72 a day, 15 calendar days
    marks = timeline([*many, attempt("a1", 30, left="r1")], ["web", "db"], T0, NOW)
    assert 1000 > DENSE
    assert len([m for m in marks if m.look == "ok"]) == 15  # a mark a day, not 1,000
    # the attempt names no service: a mark on each lane, apart from the day's releases
    assert [m.title for m in marks if m.look == "failed"] == ["2026-11-01: 1 failed attempt"] * 2
    assert "72 releases" in marks[-5].title


def test_a_long_list_of_releases_is_grouped_by_month_then_by_day() -> None:
    from cfgroll.history.report import Row, groups

    def row(time: str) -> Row:
        return Row("t", time, "deploy", "ok", "web", "")

    october = [row(f"2026-10-{d:02d} 10:00 UTC") for d in range(31, 0, -1)]
    busy = [row(f"2026-11-{1 + i // 72:02d} 10:00 UTC") for i in range(999, -1, -1)]
    found = groups([*busy, *october])
    assert [len(rows) for key, rows in found if key.startswith("2026-11")] == [64] + [72] * 13
    assert found[-1][0] == "2026-10" and len(found[-1][1]) == 31  # a quiet month stays whole
    assert sum(len(rows) for _, rows in found) == 1031
