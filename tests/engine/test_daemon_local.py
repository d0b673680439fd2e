"""The engine door against a stand-in engine: a Unix socket that answers HTTP the way dockerd
does (its `/_ping` names API version 1.41). No engine needed."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cfgroll.engine.daemon import Daemon, demux
from cfgroll.engine.endpoint import Endpoint, resolve
from cfgroll.engine.events import Died, Watch
from cfgroll.engine.transport import HttpTransport, Missing
from cfgroll.errors import EngineRefused, EngineUnreachable

Answer = Callable[[str], "bytes | Iterator[bytes]"]  # request line -> the response, in parts
PING = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"


def http(status: int, body: bytes, reason: str = "X") -> bytes:
    head = f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


class Engine:
    """Started stand-in engines: each connection is served until the client closes it; each
    request is answered with `answer(request line)` (HTTP/1.0 answers end the connection)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: list[socket.socket] = []
        self.connections = 0

    def __call__(self, answer: Answer) -> Daemon:
        path = str(self.folder / f"e{len(self.servers)}.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen()
        self.servers.append(server)
        threading.Thread(target=self._serve, args=(server, answer), daemon=True).start()
        return Daemon(endpoint(path))

    def _serve(self, server: socket.socket, answer: Answer) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn, answer), daemon=True).start()

    def _talk(self, conn: socket.socket, answer: Answer) -> None:
        with conn, conn.makefile("rb") as reader:
            while True:
                request = reader.readline().decode()
                if not request:
                    return
                while reader.readline() not in (b"\r\n", b""):
                    pass  # headers
                said = PING if "/_ping" in request else answer(request)
                parts = [said] if isinstance(said, bytes) else said
                for part in parts:
                    conn.sendall(part)
                if not isinstance(said, bytes) or said.startswith(b"HTTP/1.0"):
                    return


def endpoint(path: str) -> Endpoint:
    return Endpoint("default", f"unix://{path}")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    started = Engine(tmp_path)
    yield started
    for s in started.servers:
        s.close()


def test_answers_map_to_cfgrolls_errors(engine: Engine) -> None:
    def answer(request: str) -> bytes:
        if "/v1.41/containers/json" in request:
            assert "filters=" in request and "all=1" in request
            return http(200, b"[]")
        if "/images/nope/json" in request:
            return http(404, b'{"message":"No such image: nope"}')
        if "/images/bad/json" in request:
            return http(409, b'{"message":"conflict"}')
        return http(500, b'{"message":"boom"}')

    daemon = engine(answer)
    assert daemon.containers("p") == []
    assert daemon.image_id("nope") is None
    with pytest.raises(Missing, match="No such image"):
        daemon.transport.request("GET", "/images/nope/json")
    with pytest.raises(EngineRefused, match="conflict"):
        daemon.image_id("bad")
    with pytest.raises(EngineUnreachable, match="boom"):
        daemon.images()


def test_a_missing_socket_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnreachable, match="cannot reach the Docker engine at unix://"):
        Daemon(endpoint(str(tmp_path / "none.sock"))).ping()


def test_the_socket_is_the_one_the_docker_cli_would_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    assert resolve().socket == ("/var/run/docker.sock" if os.name == "posix" else None)
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert resolve().socket == "/run/user/1000/docker.sock"
    for remote in ("tcp://10.0.0.5:2376", "ssh://deploy@host"):
        monkeypatch.setenv("DOCKER_HOST", remote)
        assert resolve().socket is None


def test_docker_tls_variables_give_the_certificates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    e = resolve()
    assert (e.tls_dir, e.skip_tls_verify) == (tmp_path, False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    assert resolve().tls_dir is None


def test_logs_are_demultiplexed() -> None:
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert demux(frames) == b"out\nerr\n"


def die(cid: str, oneoff: str) -> dict[str, object]:
    """A `die` event as the engine sends it."""
    labels = {
        "com.docker.compose.service": "web",
        "com.docker.compose.oneoff": oneoff,
        "exitCode": "3",
        "name": "p-web-1",
    }
    return {"status": "die", "id": cid, "Action": "die", "Actor": {"ID": cid, "Attributes": labels}}


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_a_watch_wakes_on_each_event_and_stops_when_closed(engine: Engine) -> None:
    """The gate's event stream (chunked, as dockerd sends it): `wait` returns at once when an
    event came, after its timeout when none did; a service container's death is kept (a
    one-off's is not); closing it ends the reading thread."""
    release = threading.Event()

    def answer(request: str) -> Iterator[bytes]:
        assert request.startswith("GET /v1.41/events?filters=")
        yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"  # the stream is open
        release.wait(5)
        yield chunk((json.dumps(die("c0", "True")) + "\n").encode())  # a one-off `run`
        yield chunk((json.dumps(die("c1", "False")) + "\n").encode())
        threading.Event().wait(5)  # and stays open: only the client's close ends it

    watch = engine(answer).watch("p")
    assert watch.wait(0.05) is False  # nothing yet
    release.set()
    assert watch.wait(5) is True
    deadline = time.monotonic() + 3
    while watch.events < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.deaths() == [Died("c1", "p-web-1", "web", 3)]
    assert not watch._broken
    watch.close()
    deadline = time.monotonic() + 3
    while not watch._broken and time.monotonic() < deadline:  # the reader has ended
        time.sleep(0.01)
    assert watch._broken


def test_without_an_event_stream_the_gate_polls(engine: Engine) -> None:
    """An engine that refuses the event stream still gets a watch: one that wakes the gate
    every `Watch.FALLBACK` seconds, as a poll would."""
    watch = engine(lambda request: http(400, b'{"message":"bad filter"}')).watch("p")
    assert watch.wait(5) is True
    watch.close()
    assert Watch(None).wait(5) is True


def test_requests_share_one_kept_alive_connection(engine: Engine) -> None:
    """HTTP/1.1 answers, by length and chunked, on one connection; one the engine closed
    meanwhile is opened again."""
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b'{"a":') + chunk(
        b"1}"
    ) + b"0\r\n\r\n"  # fmt: skip
    answers = iter([sized, chunked, http(200, b'{"b":2}'), sized])
    daemon = engine(lambda request: next(answers))
    transport = daemon.transport
    assert isinstance(transport, HttpTransport)
    got = [transport.request("GET", "/info") for _ in range(4)]
    assert got == [b"{}", b'{"a":1}', b'{"b":2}', b"{}"]
    assert engine.connections == 2  # the HTTP/1.0 answer ended the first


def test_a_tag_is_one_post(engine: Engine) -> None:
    seen: list[str] = []

    def answer(request: str) -> bytes:
        seen.append(request.strip())
        return http(201, b"")

    engine(answer).tag("sha256:abc", "shop-web:backup_20261128_010203")
    assert seen == [
        "POST /v1.41/images/sha256%3Aabc/tag?repo=shop-web&tag=backup_20261128_010203&force=1 "
        "HTTP/1.1"
    ]
