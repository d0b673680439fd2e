#!/bin/sh
# PostgreSQL from Debian's packages, started as the official `postgres` image starts it:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default: the user) and
# PGDATA (default /var/lib/postgresql/data) on first start; then `postgres` as user postgres.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
if [ "${1:-}" = postgres ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp); printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pw"; chown postgres "$pw"
    as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pw" -D "$PGDATA" >/dev/null
    rm -f "$pw"
    printf 'local all all trust\nhost all all all scram-sha-256\n' > "$PGDATA/pg_hba.conf"
    # on a socket of its own: nothing (a healthcheck) takes the first start for the server
    init=$(mktemp -d); chown postgres "$init"
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init" \
      -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
      as_postgres psql -h "$init" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q \
        -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  shift
  exec setpriv --reuid postgres --regid postgres --init-groups postgres -c listen_addresses='*' "$@"
fi
exec "$@"
