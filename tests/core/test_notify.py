"""Notifications through the real Apprise to a JSON receiver on loopback: one message per
event, masked; every deploy only when asked; the notify file's URLs; a target that cannot be
reached is one warning line in bounded time, never an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgroll.capabilities import notify
from cfgroll.context import Context
from cfgroll.engine.compose import Compose
from tests.conftest import Collector


class Warnings:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None: ...

    def output(self, line: str) -> None: ...

    def warn(self, message: str) -> None:
        self.lines.append(message)

    def states(self, states: dict[str, str]) -> None: ...


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(Compose(tmp_path, ()), tmp_path / ".cfgroll" / "store.git", Warnings())


def warned(ctx: Context) -> list[str]:
    assert isinstance(ctx.reporter, Warnings)
    return ctx.reporter.lines


def test_one_message_per_event_masked(
    ctx: Context, notify_receiver: tuple[str, Collector], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = notify_receiver
    monkeypatch.setenv(notify.ENV, url)
    body = "deploy failed (web exited with code 3, PASSWORD=s3cr3t); rolled back"
    assert notify.tell(ctx, None, "failed", "cfgroll: shop: deploy failed", body, ["s3cr3t"])
    (message,) = seen.got
    assert message["title"] == "cfgroll: shop: deploy failed" and message["type"] == "failure"
    assert "web exited with code 3" in message["message"] and "s3cr3t" not in message["message"]
    # every deploy only when asked
    assert not notify.tell(ctx, None, "deployed", "live", "backup_1 is live")
    assert notify.tell(ctx, {"notify": {"deploys": True}}, "deployed", "live", "backup_1 is live")
    assert len(seen.got) == 2 and warned(ctx) == []


def test_the_notify_files_urls_and_no_target_at_all(
    ctx: Context, notify_receiver: tuple[str, Collector], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = notify_receiver
    monkeypatch.delenv(notify.ENV, raising=False)
    assert not notify.tell(ctx, None, "rollback", "t", "b")  # nobody to tell: nothing happens
    (ctx.directory / "notify.urls").write_text(f"# the team's channel\n{url}\n")
    assert notify.tell(ctx, {"notify": {"file": "notify.urls"}}, "rollback", "t", "rolled back")
    assert [m["message"] for m in seen.got] == ["rolled back"]


def test_an_unreachable_target_is_one_warning_never_an_error(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(notify.ENV, f"json://127.0.0.1:{port}/?token=tok3n")
    assert not notify.tell(ctx, None, "failed", "t", "b")
    (line,) = warned(ctx)
    assert line.startswith("could not notify about the failed") and "tok3n" not in line
