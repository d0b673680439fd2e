"""Deploy on push: `cfgroll watch --listen ADDR:PORT` also answers the push webhooks of GitHub
and Gitea (`X-Hub-Signature-256`: the HMAC-SHA256 of the body with the shared secret) and of
GitLab (`X-Gitlab-Token`: the secret itself), and wakes the watch at once.

The payload is trusted for nothing but "fetch now": which branch and commit to deploy still
come from git. A request without the right signature is answered 401 and changes nothing; a
body over `MAX_BODY` 413; any path but `PATH` 404. A burst of valid requests wakes one pull:
the watch fetches once, after the last it has seen. The standard library's HTTP server does
the HTTP, on a thread of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfgroll.errors import UsageError

SECRET_ENV = "CFGROLL_WEBHOOK_SECRET"
SECRET_FILE_ENV = "CFGROLL_WEBHOOK_SECRET_FILE"
PATH = "/hooks/push"
MAX_BODY = 1024 * 1024  # a push payload is a few KiB; more is refused unread


def secret() -> bytes:
    """The shared secret: `CFGROLL_WEBHOOK_SECRET`, or the file `CFGROLL_WEBHOOK_SECRET_FILE`
    names; `UsageError` when neither is set (a listener without one would trust anyone)."""
    value = os.environ.get(SECRET_ENV, "")
    name = os.environ.get(SECRET_FILE_ENV, "")
    if not value and name:
        try:
            value = Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read {SECRET_FILE_ENV}={name} ({exc.strerror})") from exc
    if not value:
        raise UsageError(
            f"--listen needs the webhook's secret: set {SECRET_ENV}, or {SECRET_FILE_ENV} to a "
            "file that holds it"
        )
    return value.encode()


def verdict(key: bytes, headers: Any, body: bytes) -> bool:
    """Whether a request carries the secret: GitHub's and Gitea's signature of the body, or
    GitLab's token; compared in constant time."""
    signature = headers.get("X-Hub-Signature-256") or headers.get("X-Gitea-Signature-256") or ""
    if signature:
        wanted = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip(), wanted)
    token = headers.get("X-Gitlab-Token") or ""
    return bool(token) and hmac.compare_digest(token.encode(), key)


@dataclass
class Listener:
    """The server, and how to stop it."""

    address: str
    stop: Callable[[], None]


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen takes ADDRESS:PORT (e.g. 127.0.0.1:9000), not {text!r}")
    return host.strip("[]"), int(port)


def listen(where: str, key: bytes, wake: threading.Event, log: Callable[[str], None]) -> Listener:
    """Answer push webhooks on `where` (ADDRESS:PORT) in a thread: a valid one sets `wake`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        server_version = "cfgroll"
        sys_version = ""

        def _answer(self, code: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            try:
                size = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                size = -1
            if size < 0 or size > MAX_BODY:
                self.close_connection = True  # answered before any of it is read
                return self._answer(413, "too large")
            body = self.rfile.read(size)  # read whole, so that the answer is not cut off
            if self.path.split("?")[0] != PATH:
                return self._answer(404, "not found")
            if not verdict(key, self.headers, body):
                log(f"webhook from {self.client_address[0]}: refused (no valid signature)")
                return self._answer(401, "unauthorized")
            wake.set()
            return self._answer(202, "fetching")

        def do_GET(self) -> None:  # noqa: N802
            self._answer(404, "not found")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    host, port = parse_address(where)
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise UsageError(f"cannot listen on {where} ({exc.strerror})") from exc
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
    thread.start()
    bound = f"{host}:{server.server_address[1]}"

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return Listener(bound, stop)
