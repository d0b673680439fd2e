"""Deploy on push: the webhook listener on loopback, asked with real HTTP requests signed as
GitHub, Gitea and GitLab sign them; only a valid one wakes the watch, and a burst wakes one
pull. tests/cli/test_pull.py runs it with the real watch and a real deploy."""

from __future__ import annotations

import hashlib
import hmac
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from cfgroll.errors import UsageError
from cfgroll.operations import webhook

KEY = b"s3cret"
BODY = b'{"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"}'


@pytest.fixture
def listening() -> Iterator[tuple[str, threading.Event, list[str]]]:
    wake, said = threading.Event(), []
    listener = webhook.listen("127.0.0.1:0", KEY, wake, said.append)
    yield f"http://{listener.address}", wake, said
    listener.stop()


def post(url: str, body: bytes = BODY, **headers: str) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def oversized(base: str) -> int:
    """A request that declares a body over the bound (and sends none of it: the answer must
    come before any of it is read)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=5)
    try:
        conn.putrequest("POST", webhook.PATH)
        conn.putheader("Content-Length", str(webhook.MAX_BODY + 1))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def signed(body: bytes, key: bytes = KEY) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_only_a_valid_signature_wakes_the_watch(
    listening: tuple[str, threading.Event, list[str]],
) -> None:
    base, wake, said = listening
    url = base + webhook.PATH
    assert post(url) == 401  # unsigned
    assert post(url, **{"X-Hub-Signature-256": signed(BODY, b"wrong")}) == 401
    # a signature replayed with another body
    assert post(url, BODY + b" ", **{"X-Hub-Signature-256": signed(BODY)}) == 401
    assert post(url, **{"X-Gitlab-Token": "nope"}) == 401
    assert post(base + "/other", **{"X-Hub-Signature-256": signed(BODY)}) == 404
    assert oversized(base) == 413  # refused on its declared length, unread
    assert not wake.is_set() and len(said) == 4  # each refusal logged, no secret in it
    assert not any("s3cret" in line for line in said)

    assert post(url, **{"X-Hub-Signature-256": signed(BODY)}) == 202  # GitHub
    assert wake.is_set()
    wake.clear()
    assert post(url, **{"X-Gitea-Signature-256": signed(BODY)[7:]}) == 401  # Gitea: no prefix
    assert post(url, **{"X-Gitlab-Token": "s3cret"}) == 202  # GitLab
    assert wake.is_set()


def test_a_burst_wakes_one_pull(monkeypatch: pytest.MonkeyPatch) -> None:
    from cfgroll.operations import pull as pulling

    stop, wake = threading.Event(), threading.Event()
    pulls: list[int] = []

    def fake_pull(ctx: object, options: object) -> object:
        pulls.append(1)
        if len(pulls) == 1:
            for _ in range(5):  # five pushes arrive while the first pull runs
                wake.set()
        else:
            stop.set()
        raise pulling.CfgrollError("nothing to do")

    monkeypatch.setattr(pulling, "pull", fake_pull)
    pulling.watch(None, pulling.PullOptions(), 3600, lambda _line: None, stop, wake)  # type: ignore[arg-type]
    assert len(pulls) == 2  # not six, and without waiting the hour


def test_a_listener_needs_a_secret_and_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(webhook.SECRET_ENV, raising=False)
    monkeypatch.delenv(webhook.SECRET_FILE_ENV, raising=False)
    with pytest.raises(UsageError, match="needs the webhook's secret"):
        webhook.secret()
    monkeypatch.setenv(webhook.SECRET_ENV, "k")
    assert webhook.secret() == b"k"
    with pytest.raises(UsageError, match="ADDRESS:PORT"):
        webhook.parse_address("9000")
