"""Telling people what an unattended host did: one message per event (a deploy that failed and
rolled back by itself, a rollback, a held branch, a pull that cannot fetch for long; every
deploy when asked) through Apprise, whose URLs reach Slack, Teams, Discord, e-mail, ntfy,
Matrix or a JSON webhook.

The URLs carry tokens: they come from `CFGROLL_NOTIFY` (separated by spaces) or from the file
`x-cfgroll: notify: file:` names (recorded with role `secret`: sealed on the mirror, masked in
every output), never from a plaintext recorded file, and are never printed. Each message
passes the same masking as every output. A target that cannot be reached costs at most
`TIMEOUT` seconds and one warning line; it never changes an exit code.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from typing import Any, Literal

from cfgroll.context import Context
from cfgroll.errors import one_line
from cfgroll.settings import parse
from cfgroll.store.secrets import redact

ENV = "CFGROLL_NOTIFY"
TIMEOUT = 10.0  # seconds all targets together may take
Event = Literal["failed", "rollback", "held", "unreachable", "deployed"]
_KIND = {
    "failed": "failure",
    "rollback": "warning",
    "held": "warning",
    "unreachable": "failure",
    "deployed": "success",
}


def urls(ctx: Context, block: Any) -> list[str]:
    """The targets: `CFGROLL_NOTIFY`'s, then the notify file's (one a line, `#` comments)."""
    found = os.environ.get(ENV, "").split()
    name = parse(block).notify.file
    if name:
        try:
            text = (ctx.directory / name).read_text(encoding="utf-8")
        except OSError as exc:
            ctx.reporter.warn(f"cannot read the notify file {name} ({exc.strerror}); told nobody")
        else:
            for line in text.splitlines():
                found += [] if line.strip().startswith("#") else line.split()
    return found


def tell(
    ctx: Context, block: Any, event: Event, title: str, body: str, secrets: Collection[str] = ()
) -> bool:
    """Send one message to every target, masked; whether every target took it. Never raises:
    a failure is one warning line (the URLs are not in it). A fleet's host run leaves it to
    the fleet, which sends one message for the whole rollout."""
    if ctx.host is not None:
        return False
    if event == "deployed" and not parse(block).notify.deploys:
        return False
    targets = urls(ctx, block)
    if not targets:
        return False
    every = [*secrets, *targets]
    title, body = redact(title, every), redact(body, every)
    outcome: list[bool | str] = []

    def send() -> None:
        try:
            import apprise

            sender = apprise.Apprise()
            for url in targets:
                sender.add(url)
            outcome.append(bool(sender.notify(title=title, body=body, notify_type=_KIND[event])))
        except Exception as exc:  # noqa: BLE001 - a message must never fail the command
            outcome.append(one_line(exc))

    worker = threading.Thread(target=send, name="cfgroll-notify", daemon=True)
    worker.start()
    worker.join(TIMEOUT)
    if not outcome:
        why = f"no answer within {TIMEOUT:g} s"
    elif outcome[0] is True:
        return True
    else:
        why = "a target refused it or could not be reached" if outcome[0] is False else outcome[0]
    ctx.reporter.warn(f"could not notify about the {event} ({redact(str(why), every)})")
    return False
