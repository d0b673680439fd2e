"""The one client of the engine's HTTP API: every read, change and event stream cfgroll makes
goes through a `Transport`, on versioned paths (`/v1.41/containers/json`), and its errors come
out as cfgroll's (`Missing`, `EngineRefused`, `EngineUnreachable`).

An engine on a Unix socket or on tcp (with the context's or DOCKER_CERT_PATH's TLS files) is
reached with the standard library's `http.client`, which does the HTTP; one on a Windows
named pipe or over ssh through the Docker SDK, which brings the pipe and the ssh tunnel (its
import costs about 0.25 s: the local engine, where `log` and `status` take a tenth of that, is
spared it). Which one is decided once, from the engine chosen (`cfgroll.engine.endpoint`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from cfgroll.engine.endpoint import Endpoint
from cfgroll.errors import CfgrollError, EngineRefused, EngineUnreachable

UNREACHABLE = "check that it runs (`docker info`), then run the command again"
TIMEOUT = 60.0  # seconds an answer may take (the event stream has no limit)


class Missing(Exception):
    """The engine has no such container or image (HTTP 404)."""


class Stream(Protocol):
    """A response read as it comes: the JSON objects of its lines; `close` ends it (from any
    thread)."""

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> bytes:
        """The body of the answer to `METHOD path?params` once it is 2xx."""

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Stream:
        """`GET path?params`, read as it comes, on a connection of its own."""


def open_transport(endpoint: Endpoint, timeout: float = TIMEOUT) -> Transport:
    if endpoint.socket is not None or endpoint.host.startswith(("tcp://", "http://", "https://")):
        return HttpTransport(endpoint, timeout)
    return SdkTransport(endpoint, timeout)


def quoted(name: str) -> str:
    """A name or reference as one path segment (`sha256:…`, `repo/name:tag`)."""
    return quote(name, safe="")


def _url(prefix: str, path: str, params: dict[str, Any] | None) -> str:
    return prefix + path + (f"?{urlencode(params)}" if params else "")


def answer_error(status: int, text: str) -> CfgrollError | Missing:
    """The error an engine's non-2xx answer stands for."""
    try:
        message = str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        message = text
    if status == 404:
        return Missing(message)
    if 400 <= status < 500:
        return EngineRefused(f"the Docker engine refused: {' '.join(message.split())[:200]}")
    return unreachable(f"{status} {message}"[:160])


def unreachable(why: str) -> EngineUnreachable:
    return EngineUnreachable(f"the Docker engine did not answer ({why}); {UNREACHABLE}")


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    for marker in ("Connection refused", "No such file or directory", "Read timed out"):
        if marker in text:
            return marker.lower()
    return text[:160] or type(exc).__name__


class HttpTransport:
    """`http.client` on the engine's socket. Requests share one kept-alive connection, as the
    docker CLI's do (an engine that is shutting down still answers on it); a stream has its
    own. The API version is the engine's own (its `/_ping` says it), asked on first use."""

    def __init__(self, endpoint: Endpoint, timeout: float = TIMEOUT) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._conn: Any = None
        self._prefix: str | None = None
        self._reached = False  # answered once: a later failure is a lost engine

    def _connection(self, timeout: float | None) -> Any:
        import http.client

        e = self.endpoint
        if e.socket is not None:
            return _unix_connection(e.socket, timeout)
        from urllib.parse import urlsplit

        where = urlsplit(e.host.replace("tcp://", "http://", 1))
        tls = e.tls_dir is not None or where.scheme == "https"
        port = where.port or (2376 if tls else 2375)
        if not tls:
            return http.client.HTTPConnection(where.hostname or "", port, timeout=timeout)
        return http.client.HTTPSConnection(
            where.hostname or "", port, timeout=timeout, context=_tls(e)
        )

    def _exchange(
        self, conn: Any, method: str, url: str, body: bytes | None
    ) -> tuple[int, bytes, Any]:
        headers = {"Host": "docker"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, url, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read(), answer

    def _send(self, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes, Any]:
        import http.client

        for fresh in (False, True):
            if self._conn is None:
                fresh = True
                self._conn = self._connection(self._timeout)
            try:
                answer = self._exchange(self._conn, method, url, body)
                self._reached = True
                return answer
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                self._conn = None
                if fresh:  # not a kept-alive connection the engine had closed meanwhile
                    raise self._lost(exc) from exc
        raise AssertionError("unreachable")

    def _lost(self, exc: BaseException) -> EngineUnreachable:
        if self._reached:
            return unreachable(short(exc))
        return EngineUnreachable(
            f"cannot reach the Docker engine at {self.endpoint.host} ({short(exc)}); start "
            "Docker, or choose another engine (DOCKER_HOST, DOCKER_CONTEXT, --context)"
        )

    def _version(self) -> str:
        if self._prefix is None:
            status, body, answer = self._send("GET", "/_ping")
            if status >= 300:
                raise answer_error(status, body.decode("utf-8", errors="replace"))
            version = answer.getheader("Api-Version")
            self._prefix = f"/v{version}" if version else ""
        return self._prefix

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> bytes:
        sent = None if body is None else json.dumps(body).encode()
        status, answer, _ = self._send(method, _url(self._version(), path, params), sent)
        if status >= 300:
            raise answer_error(status, answer.decode("utf-8", errors="replace"))
        return answer

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Stream:
        import http.client

        url = _url(self._version(), path, params)
        conn = self._connection(self._timeout)
        try:
            conn.request("GET", url, headers={"Host": "docker"})
            answer = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._lost(exc) from exc
        if answer.status >= 300:
            text = answer.read().decode("utf-8", errors="replace")
            conn.close()
            raise answer_error(answer.status, text)
        conn.sock.settimeout(None)  # events come when they come
        return _HttpStream(conn, answer)


def _unix_connection(path: str, timeout: float | None) -> Any:
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            if not hasattr(socket, "AF_UNIX"):  # Windows engines listen on a named pipe
                raise OSError(f"unix://{path} is not an engine address on this system")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            self.sock = sock

    return UnixConnection("localhost", timeout=timeout)


def _tls(endpoint: Endpoint) -> Any:
    """The TLS context of the context's (or DOCKER_CERT_PATH's) `ca.pem`, `cert.pem` and
    `key.pem`, verifying the engine's certificate unless the context says to skip it."""
    import ssl

    folder = endpoint.tls_dir
    context = ssl.create_default_context(
        cafile=str(folder / "ca.pem") if folder and (folder / "ca.pem").is_file() else None
    )
    if endpoint.skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if folder and (folder / "cert.pem").is_file():
        context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    return context


class _HttpStream:
    def __init__(self, conn: Any, answer: Any) -> None:
        self._conn = conn
        self._answer = answer

    def __iter__(self) -> Iterator[Any]:
        for line in self._answer:
            if line.strip():
                yield json.loads(line)

    def close(self) -> None:
        import socket

        sock = self._conn.sock
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in another thread
        except OSError:
            pass
        self._conn.close()


class SdkTransport:
    """The Docker SDK's client, for the engines `http.client` cannot reach by itself (a
    Windows named pipe, ssh): the same requests, its transport."""

    def __init__(self, endpoint: Endpoint, timeout: float = TIMEOUT) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            import docker

            e = self.endpoint
            try:
                if e.chosen_by != "context":
                    kwargs = docker.utils.kwargs_from_env(environment=dict(os.environ))
                else:
                    kwargs = {"base_url": e.host, "use_ssh_client": e.ssh}
                # "auto": the engine's own API version, as `HttpTransport` speaks it
                self._client = docker.APIClient(version="auto", timeout=self._timeout, **kwargs)
            except docker.errors.DockerException as exc:
                raise EngineUnreachable(
                    f"cannot reach the Docker engine at {e.host} ({short(exc)}); start Docker, "
                    "or choose another engine (DOCKER_HOST, DOCKER_CONTEXT, --context)"
                ) from exc
        return self._client

    def _call(
        self, method: str, path: str, params: dict[str, Any] | None, stream: bool, body: Any = None
    ) -> Any:
        import requests

        client = self._sdk()
        waits: dict[str, Any] = {"stream": True, "timeout": None} if stream else {}
        if body is not None:  # events come when they come (above); a body is JSON
            waits |= {"data": json.dumps(body), "headers": {"Content-Type": "application/json"}}
        try:
            answer = client.request(method, client._url(path), params=params, **waits)
        except requests.exceptions.RequestException as exc:
            raise unreachable(short(exc)) from exc
        if answer.status_code >= 300:
            raise answer_error(answer.status_code, answer.text)
        return answer

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> bytes:
        return bytes(self._call(method, path, params, stream=False, body=body).content)

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Stream:
        return _SdkStream(self._call("GET", path, params, stream=True))


class _SdkStream:
    def __init__(self, answer: Any) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[Any]:
        for line in self._answer.iter_lines():
            if line.strip():
                yield json.loads(line)

    def close(self) -> None:
        self._answer.close()
