"""The engine door's own reader for a local socket, against a stand-in engine: a Unix socket
that answers HTTP/1.0 the way dockerd does. No engine needed."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cfgroll.engine import daemon
from cfgroll.engine.daemon import Missing, Watch, _demux, _Lines, _Local, local_socket
from cfgroll.errors import EngineRefused, EngineUnreachable

Answer = Callable[[str], "bytes | Iterator[bytes]"]  # request line -> the response, in parts


def http(status: int, body: bytes, reason: str = "X") -> bytes:
    head = f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Callable[[Answer], str]]:
    """Start a stand-in engine that answers each connection with `answer(request line)`."""
    sockets: list[socket.socket] = []

    def start(answer: Answer) -> str:
        path = str(tmp_path / f"e{len(sockets)}.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen()
        sockets.append(server)

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    request = conn.makefile("rb").readline().decode()
                    said = answer(request)
                    for part in [said] if isinstance(said, bytes) else said:
                        conn.sendall(part)

        threading.Thread(target=serve, daemon=True).start()
        return path

    yield start
    for s in sockets:
        s.close()


def test_reads_map_answers_to_cfgrolls_errors(engine: Callable[[Answer], str]) -> None:
    def answer(request: str) -> bytes:
        if "/containers/json" in request:
            assert "filters=" in request and "all=1" in request
            return http(200, json.dumps([{"Id": "c1"}]).encode())
        if "/images/nope/json" in request:
            return http(404, b'{"message":"No such image: nope"}')
        if "/images/bad/json" in request:
            return http(409, b'{"message":"conflict"}')
        return http(500, b'{"message":"boom"}')

    local = _Local(engine(answer))
    assert local.containers(all=True, filters={"label": "a=b"}) == [{"Id": "c1"}]
    with pytest.raises(Missing, match="No such image"):
        local.inspect_image("nope")
    with pytest.raises(EngineRefused, match="conflict"):
        local.inspect_image("bad")
    with pytest.raises(EngineUnreachable, match="boom"):
        local.df()


def test_a_missing_socket_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnreachable, match="cannot reach the Docker engine at unix://"):
        _Local(str(tmp_path / "none.sock")).ping()


def test_the_socket_is_the_one_the_sdk_would_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    assert local_socket() == ("/var/run/docker.sock" if os.name == "posix" else None)
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert local_socket() == "/run/user/1000/docker.sock"
    for remote in ("tcp://10.0.0.5:2376", "ssh://deploy@host"):
        monkeypatch.setenv("DOCKER_HOST", remote)
        assert local_socket() is None  # the SDK's business


def test_logs_are_demultiplexed() -> None:
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert _demux(frames) == b"out\nerr\n"


def die(cid: str, oneoff: str) -> dict[str, object]:
    """A `die` event as the engine sends it."""
    labels = {
        "com.docker.compose.service": "web",
        "com.docker.compose.oneoff": oneoff,
        "exitCode": "3",
        "name": "p-web-1",
    }
    return {"status": "die", "id": cid, "Action": "die", "Actor": {"ID": cid, "Attributes": labels}}


def test_a_watch_wakes_on_each_event_and_stops_when_closed(
    engine: Callable[[Answer], str],
) -> None:
    """The gate's event stream: `wait` returns at once when an event came, after its timeout
    when none did; a service container's death is kept (a one-off's is not); closing it ends
    the reading thread."""
    release = threading.Event()

    def answer(request: str) -> Iterator[bytes]:
        assert request.startswith("GET /events?filters=")
        yield http(200, b"")  # the stream is open
        release.wait(5)
        yield (json.dumps(die("c0", "True")) + "\n").encode()  # a one-off `run`: not the stack
        yield (json.dumps(die("c1", "False")) + "\n").encode()
        threading.Event().wait(5)  # and stays open: only the client's close ends it

    local = _Local(engine(answer))
    watch = Watch(_Lines(local.open("/events", {"filters": "{}"})))
    assert watch.wait(0.05) is False  # nothing yet
    release.set()
    assert watch.wait(5) is True
    deadline = time.monotonic() + 3
    while watch.events < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.deaths() == [daemon.Died("c1", "p-web-1", "web", 3)]
    assert not watch._broken
    watch.close()
    deadline = time.monotonic() + 3
    while not watch._broken and time.monotonic() < deadline:  # the reader has ended
        time.sleep(0.01)
    assert watch._broken


def test_without_an_event_stream_the_gate_polls(
    engine: Callable[[Answer], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that refuses the event stream still gets a watch: one that wakes the gate
    every `Watch.FALLBACK` seconds, as a poll would."""
    socket_path = engine(lambda request: http(400, b'{"message":"bad filter"}'))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    watch = daemon.Daemon().watch("p")
    assert watch.wait(5) is True
    watch.close()


def test_responses_are_read_by_length_chunks_or_to_the_end() -> None:
    import io

    from cfgroll.engine.daemon import _response

    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"
    )
    sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"
    stream = io.BytesIO(chunked + sized)
    assert _response(stream) == (200, b"[1,2]", True)
    assert _response(stream) == (404, b"{}", True)  # the same connection, read to its end
    assert _response(io.BytesIO(closing)) == (200, b"abc", False)
    with pytest.raises(ValueError):
        _response(io.BytesIO(b""))  # the engine hung up: the caller connects again


def test_a_tag_is_one_post(engine: Callable[[Answer], str]) -> None:
    seen: list[str] = []

    def answer(request: str) -> bytes:
        seen.append(request.strip())
        return http(201, b"")

    _Local(engine(answer)).tag("sha256:abc", "shop-web", "backup_20261128_010203")
    assert seen == [
        "POST /images/sha256%3Aabc/tag?repo=shop-web&tag=backup_20261128_010203&force=1 HTTP/1.1"
    ]
