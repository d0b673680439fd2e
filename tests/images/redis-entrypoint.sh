#!/bin/sh
# Redis from Debian's packages, started as the official `redis` image starts it: the working
# folder /data is its `dir`, owned by redis, options on the command line (`--appendonly yes`).
set -eu
if [ "${1:-}" = redis-server ]; then
  mkdir -p /data
  find /data \! -user redis -exec chown redis:redis '{}' +
  shift
  exec setpriv --reuid redis --regid redis --init-groups redis-server --protected-mode no "$@"
fi
exec "$@"
