"""Data with the release on real servers: PostgreSQL 15, MariaDB 10.11 and Redis 7 from
Debian's packages (tests/images), each with the preset and with docs/data.md's recipe by hand,
read from the doc itself. `rollback --with-data` must give the target's data exactly, and a
restore that fails half way, times out, meets Ctrl-C or `kill -9` must leave the live data
exactly as it was."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import Runner, build_file_tree, doc_recipe, interrupted, live_tag

pytestmark = pytest.mark.docker
FAST = ["--settle", "0.5", "--timeout", "90"]
DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def recipe(name: str) -> dict[str, object]:
    """The `x-cfgroll:` block docs/data.md shows under `<!-- recipe: NAME -->`."""
    block = yaml.safe_load(doc_recipe(DOC, name))["x-cfgroll"]
    assert isinstance(block, dict)
    return block


@dataclass(frozen=True)
class Server:
    """How a server runs in a test project, and how the test reads and changes its data."""

    name: str
    service_yaml: str  # the service's keys, {image} filled in
    state: Callable[[str, str], str]  # (project, service) -> everything that must come back
    r1: list[str]  # statements that make r1's data
    r2: list[str]  # r2's migration
    r2_whole: list[str]  # what only a whole-server restore (the presets) takes back
    run: Callable[[str, str, str], None]  # (project, service, statement)


def compose(project: str, service: str) -> list[str]:
    return ["docker", "compose", "-p", project, "exec", "-T", service]


def sh(project: str, service: str, *argv: str) -> str:
    done = subprocess.run([*compose(project, service), *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pg_state(project: str, service: str) -> str:
    out = sh(project, service, "pg_dumpall", "-U", "postgres")
    return "\n".join(
        ln for ln in out.splitlines() if ln and not ln.startswith(("--", "\\restrict", "\\unres"))
    )


def _my_state(project: str, service: str) -> str:
    script = (
        'export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"; '
        'dbs=$(mariadb -uroot -N -e "SELECT schema_name FROM information_schema.schemata WHERE '
        "schema_name NOT IN ('mysql','information_schema','performance_schema','sys')\"); "
        "mariadb -uroot -N -e 'SELECT user, host FROM mysql.user ORDER BY 1, 2'; "
        'echo "$dbs"; mariadb-dump -uroot --skip-dump-date --routines --events --databases $dbs'
    )
    out = sh(project, service, "sh", "-c", script)
    return "\n".join(ln for ln in out.splitlines() if ln and not ln.startswith("--"))


def _redis_state(project: str, service: str) -> str:
    keys = sorted(sh(project, service, "redis-cli", "--scan").split())
    dumped = [sh(project, service, "redis-cli", "--no-raw", "DUMP", k) for k in keys]
    return "\n".join(f"{k}={v!r}" for k, v in zip(keys, dumped, strict=True))


def _psql(project: str, service: str, statement: str) -> None:
    sh(project, service, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres",
       "-d", "app", "-c", statement)  # fmt: skip


def _mariadb(project: str, service: str, statement: str) -> None:
    sh(project, service, "sh", "-c", f'MYSQL_PWD=pw mariadb -uroot app -e "{statement}"')


def _redis(project: str, service: str, statement: str) -> None:
    sh(project, service, "redis-cli", *statement.split())


SERVERS = {
    "postgres": Server(
        "postgres",
        """    image: {image}
    environment: {{POSTGRES_PASSWORD: pw, POSTGRES_DB: app}}
    volumes: [data:/var/lib/postgresql/data]
    healthcheck: {{test: [CMD, pg_isready, -U, postgres], interval: 1s, retries: 60}}
""",
        _pg_state,
        ["CREATE TABLE t (id text PRIMARY KEY, v int)", "INSERT INTO t VALUES ('a', 1), ('b', 2)"],
        [
            "ALTER TABLE t ADD COLUMN n int",
            "INSERT INTO t VALUES ('c', 3, 3)",
            "CREATE TABLE more (x int)",
            "INSERT INTO more VALUES (1)",
        ],
        ["CREATE ROLE r2role LOGIN", "CREATE DATABASE extra"],
        _psql,
    ),
    "mariadb": Server(
        "mariadb",
        """    image: {image}
    environment: {{MARIADB_ROOT_PASSWORD: pw, MARIADB_DATABASE: app}}
    volumes: [data:/var/lib/mysql]
    healthcheck: {{test: [CMD, mariadb-admin, ping, --silent], interval: 1s, retries: 60}}
""",
        _my_state,
        [
            "CREATE TABLE t (id varchar(8) PRIMARY KEY, v int)",
            "INSERT INTO t VALUES ('a', 1), ('b', 2)",
        ],
        [
            "ALTER TABLE t ADD COLUMN n int",
            "INSERT INTO t VALUES ('c', 3, 3)",
            "CREATE TABLE more (x int)",
            "INSERT INTO more VALUES (1)",
        ],
        ["CREATE USER r2user@'%' IDENTIFIED BY 'x'", "CREATE DATABASE extra"],
        _mariadb,
    ),
    "redis": Server(
        "redis",
        """    image: {image}
    command: {command}
    volumes: [data:/data]
    healthcheck: {{test: [CMD, redis-cli, ping], interval: 1s, retries: 60}}
""",
        _redis_state,
        ["SET a 1", "SET b 2", "HSET h f 1"],
        ["SET c 3", "DEL a", "HSET h g 2", "RPUSH l x y"],
        [],
        _redis,
    ),
}

APP = """name: {name}
services:
  app:
    image: {base}
    init: true
    command: [sh, -c, "echo $$VERSION; exec sleep 100000"]
    environment: {{VERSION: "${{VERSION}}"}}
  {service}:
{server}    init: true
volumes:
  data: {{}}
"""


@dataclass
class Stack:
    proj: Path
    name: str
    service: str
    server: Server
    run: Runner

    def apply(self, statements: list[str]) -> None:
        for statement in statements:
            self.server.run(self.name, self.service, statement)

    def state(self) -> str:
        return self.server.state(self.name, self.service)

    def release(self, version: int) -> None:
        (self.proj / ".env").write_text(f"VERSION={version}\n")


APPEND = "[redis-server, --appendonly, 'yes']"


@pytest.fixture
def stack(
    tmp_path: Path,
    project_name: str,
    base_image: str,
    servers: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Stack]:
    """A project of an `app` and a real server with the `x-cfgroll:` block given."""

    def make(server: str, block: dict[str, object], command: str = APPEND) -> Stack:
        (service,) = block["data"]  # type: ignore[misc]
        spec = SERVERS[server]
        text = APP.format(
            name=project_name,
            base=base_image,
            service=service,
            server=spec.service_yaml.format(image=servers[server], command=command),
        )
        text += yaml.safe_dump({"x-cfgroll": block}, sort_keys=False)
        folder = build_file_tree(tmp_path / "p", {".env": "VERSION=1\n", "compose.yaml": text})
        return Stack(folder, project_name, service, spec, Runner(folder, capsys))

    return make


CASES = [
    ("postgres", "postgres preset"),
    ("postgres", "postgres by hand"),
    ("mariadb", "mariadb preset"),
    ("mariadb", "mariadb by hand"),
    ("mariadb", "mysql preset"),
    ("redis", "redis preset"),
    ("redis", "redis by hand"),
]


@pytest.mark.parametrize(("server", "name"), CASES, ids=[n for _s, n in CASES])
def test_rollback_with_data_gives_each_releases_data_exactly(
    stack: Callable[..., Stack], server: str, name: str
) -> None:
    # the mysql preset is the mariadb one under MySQL's command names, which MariaDB has too
    block = {"data": {"db": "mysql"}} if name == "mysql preset" else recipe(name)
    s = stack(server, block, "[redis-server]" if name == "redis by hand" else APPEND)
    run = s.run
    assert run("deploy", *FAST) == 0, run.err
    r1 = live_tag(run.store)
    s.apply(s.server.r1)
    r1_state = s.state()
    s.release(2)
    assert run("deploy", *FAST) == 0, run.err  # r1's data dumped first, under r1
    r2 = live_tag(run.store)
    s.apply(s.server.r2 + (s.server.r2_whole if name.endswith("preset") else []))
    r2_state = s.state()
    assert r2_state != r1_state

    assert run("rollback", r1, "--with-data", "--yes", *FAST) == 0, run.err
    assert s.state() == r1_state
    assert "stopping" in run.err and "restoring" in run.err
    assert not (s.proj / ".cfgroll" / "restore.json").exists()
    assert not list((s.proj / ".cfgroll" / "data" / "copies").rglob("*.tar"))

    assert run("rollback", r2, "--with-data", "--yes", *FAST) == 0, run.err
    assert s.state() == r2_state


@pytest.fixture
def postgres(stack: Callable[..., Stack]) -> Callable[[dict[str, object]], Stack]:
    """A PostgreSQL stack with the given data block."""
    return lambda block: stack("postgres", block)


def r1_then_r2(s: Stack) -> tuple[str, str, str]:
    """r1 with its rows, r2 with its migration; (r1, r2, the live data's state)."""
    assert s.run("deploy", *FAST) == 0, s.run.err
    r1 = live_tag(s.run.store)
    s.apply(s.server.r1)
    s.release(2)
    assert s.run("deploy", *FAST) == 0, s.run.err
    s.apply(s.server.r2 + s.server.r2_whole)
    return r1, live_tag(s.run.store), s.state()


# the issue's strict recipe: its restore drops the databases, then stops at "current user
# cannot be dropped"; the put-back of old ran the same command and left no database
STRICT = {
    "data": {
        "db": {
            "dump": "pg_dumpall -U postgres --clean --if-exists",
            "restore": "psql -U postgres -v ON_ERROR_STOP=1 -q -d postgres",
        }
    }
}
SLOW = {"data": {"db": {"dump": "pg_dumpall -U postgres", "timeout": 4,
                        "restore": "dropdb -U postgres --force app && sleep 60"}}}  # fmt: skip


@pytest.mark.parametrize("block", [STRICT, SLOW], ids=["fails-half-way", "timed-out"])
def test_a_restore_that_fails_half_way_leaves_the_live_data_as_it_was(
    postgres: Callable[[dict[str, object]], Stack], block: dict[str, object]
) -> None:
    s = postgres(block)
    r1, r2, live_state = r1_then_r2(s)
    assert s.run("rollback", r1, "--with-data", "--yes", *FAST) == 3
    assert s.state() == live_state
    assert live_tag(s.run.store) == r2
    assert "rolled back" in s.run.err and f"{r2} is running again" in s.run.err
    assert "putting db's folders back" in s.run.err
    assert not (s.proj / ".cfgroll" / "restore.json").exists()


def test_a_failing_check_is_a_failed_restore(
    postgres: Callable[[dict[str, object]], Stack],
) -> None:
    block = recipe("postgres preset")
    check = "psql -U postgres -d app -c 'SELECT n FROM t'"
    block["data"] = {"db": {"preset": "postgres", "check": check}}
    s = postgres(block)
    r1, r2, live_state = r1_then_r2(s)  # r1 has no column n: its check fails
    assert s.run("rollback", r1, "--with-data", "--yes", *FAST) == 3
    assert "checking db's data" in s.run.err
    assert s.state() == live_state and live_tag(s.run.store) == r2


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_restore_cut_short_leaves_the_live_data_as_it_was(
    postgres: Callable[[dict[str, object]], Stack], how: signal.Signals
) -> None:
    s = postgres(SLOW | {"data": {"db": {**SLOW["data"]["db"], "timeout": 120}}})  # type: ignore[index]
    r1, r2, live_state = r1_then_r2(s)
    # 2 s: the restore has dropped the databases by then
    args = ["rollback", r1, "--with-data", "--yes", *FAST]
    code, rest = interrupted(s.proj, args, "restoring db's data", how, after=2)
    if how == signal.SIGINT:
        assert code == 3, rest
    else:
        assert (s.proj / ".cfgroll" / "restore.json").exists()
        # any command finishes it first, a read-only one too
        assert s.run("status") == 0, s.run.err
        assert "finished a restore that was cut short" in s.run.err
    assert s.state() == live_state
    assert live_tag(s.run.store) == r2
    assert not (s.proj / ".cfgroll" / "restore.json").exists()
    assert s.run("deploy", *FAST) == 0, s.run.err


def test_with_data_and_services_restores_only_those(
    stack: Callable[..., Stack], servers: dict[str, str]
) -> None:
    s = stack("postgres", recipe("postgres preset"))
    compose_file = s.proj / "compose.yaml"
    redis = SERVERS["redis"].service_yaml.format(image=servers["redis"], command="[redis-server]")
    text = compose_file.read_text().replace("volumes:\n  data: {}\n", "")
    cache = redis.replace("data:/data", "cache:/data")
    volumes = "volumes:\n  data: {}\n  cache: {}\n"
    text = text.replace("x-cfgroll:", f"  cache:\n{cache}    init: true\n{volumes}x-cfgroll:")
    text = text.replace("    db: postgres\n", "    db: postgres\n    cache: redis\n")
    compose_file.write_text(text)
    r1, r2, db_state = r1_then_r2(s)
    _redis(s.name, "cache", "SET r2 yes")
    assert s.run("rollback", r1, "--with-data", "--services", "cache", "--yes", *FAST) == 0, (
        s.run.err
    )
    assert s.state() == db_state  # db's data untouched
    assert _redis_state(s.name, "cache") == ""  # cache is r1's: empty
