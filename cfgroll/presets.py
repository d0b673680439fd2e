"""The `x-cfgroll: data:` presets: dump and restore commands for the official images of
PostgreSQL, MariaDB, MySQL and Redis that restore a release's data exactly, or fail.

Each restore first removes what the dump would not recreate (every database but the
engine's own, every role or user but the one restoring), so that a table, a column, a database
or a role that a newer release added is gone afterwards, then replays the dump with every error
fatal (`ON_ERROR_STOP`; the MariaDB/MySQL client stops at the first error). Should it fail half
way, cfgroll puts back the file-level copy of the service's volumes it took first
(`cfgroll.capabilities.volumes`): a restore can fail, it cannot leave the data worse.

The commands read the official images' variables (POSTGRES_USER, MARIADB_ROOT_PASSWORD /
MYSQL_ROOT_PASSWORD) from the container's environment, never from a recorded file, and wait
until the server answers (it has just been restarted after the copy). docs/data.md shows them,
and the tests run them against real servers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Preset = Literal["postgres", "mariadb", "mysql", "redis"]
NAMES: tuple[Preset, ...] = get_args(Preset)


@dataclass(frozen=True)
class Recipe:
    dump: tuple[str, ...]
    restore: tuple[str, ...]
    offline: bool = False  # restore with the service stopped, in a one-off container


def _sh(script: str) -> tuple[str, ...]:
    return ("sh", "-c", script)


# pg_dumpall: every database, role and grant. The restore drops every database (connections
# closed) and every role but the restoring superuser, recreates `postgres`, then replays the
# dump without the superuser's own CREATE ROLE (it exists: the one line that would fail).
_POSTGRES_DUMP = 'pg_dumpall -U "${POSTGRES_USER:-postgres}"'
_POSTGRES_RESTORE = r"""set -eu
u="${POSTGRES_USER:-postgres}"
until pg_isready -q -U "$u"; do sleep 0.2; done
sql() { psql -X -q -v ON_ERROR_STOP=1 -U "$u" "$@"; }
sql -d template1 <<'SQL'
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname NOT IN ('template0', 'template1') \gexec
SELECT format('DROP ROLE %I', rolname) FROM pg_roles
 WHERE rolname <> current_user AND rolname !~ '^pg_' \gexec
CREATE DATABASE postgres;
SQL
me=$(sql -d template1 -Atc 'SELECT quote_ident(current_user)')
sed "1,/^\\\\connect/{/^CREATE ROLE $me;\$/d}" | sql -d postgres >/dev/null
"""


# Every database (the `mysql` one holds the users and grants: they come back with it) in one
# consistent snapshot. The restore drops every database but the server's own, then replays.
_MY_LOGIN = 'export MYSQL_PWD="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"'
_MY_DUMP = (
    _MY_LOGIN + "; exec DUMP -uroot --all-databases --single-transaction --routines --events "
    "--flush-privileges"
)
_MY_RESTORE = (
    "set -eu\n"
    + _MY_LOGIN
    + r"""
until ADMIN -uroot --silent ping >/dev/null 2>&1; do sleep 0.2; done
drops=$(CLIENT -uroot -N -B -e "SELECT CONCAT('DROP DATABASE \`',
  REPLACE(schema_name, '\`', '\`\`'), '\`;') FROM information_schema.schemata
  WHERE schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')")
[ -z "$drops" ] || printf '%s\n' "$drops" | CLIENT -uroot
CLIENT -uroot
"""
)


def _my(client: str, dump: str, admin: str) -> Recipe:
    """MariaDB's and MySQL's: the same steps under each one's command names."""
    names = {"CLIENT": client, "DUMP": dump, "ADMIN": admin}

    def named(text: str) -> str:
        for word, name in names.items():
            text = text.replace(word, name)
        return text

    return Recipe(_sh(named(_MY_DUMP)), _sh(named(_MY_RESTORE)))


# An RDB snapshot from the running server; restored with the server stopped: the file is put
# in /data (the official image's `dir`) and, when the append-only file is on, as the base of
# a new one, so that the server starts with exactly the snapshot.
# (`redis-cli --rdb -` would end the stream with the replication's 40-byte end marker, which
# the server then refuses as the base of an append-only file: a file first, then its bytes.)
_REDIS_DUMP = (
    'f=$(mktemp) && redis-cli --rdb "$f" >/dev/null && cat "$f"; s=$?; rm -f "$f"; exit $s'
)
_REDIS_RESTORE = r"""set -eu
cd /data
cat > dump.rdb.cfgroll
mv dump.rdb.cfgroll dump.rdb
if [ -d appendonlydir ]; then
  rm -rf appendonlydir
  mkdir appendonlydir
  cp dump.rdb appendonlydir/appendonly.aof.1.base.rdb
  echo 'file appendonly.aof.1.base.rdb seq 1 type b' > appendonlydir/appendonly.aof.manifest
fi
chown -R "$(stat -c %u:%g .)" .
"""

RECIPES: dict[Preset, Recipe] = {
    "postgres": Recipe(_sh(_POSTGRES_DUMP), _sh(_POSTGRES_RESTORE)),
    "mariadb": _my("mariadb", "mariadb-dump", "mariadb-admin"),
    "mysql": _my("mysql", "mysqldump", "mysqladmin"),
    "redis": Recipe(_sh(_REDIS_DUMP), _sh(_REDIS_RESTORE), offline=True),
}
