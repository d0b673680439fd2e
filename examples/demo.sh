#!/usr/bin/env bash
# The cfgroll quick tour on the example project: deploy v1, change .env and a bind-mounted config
# file, deploy v2, look at the history, roll back to v1. Works on a copy of examples/shop (in a
# temporary folder, or in the folder given as $1), so the repository itself is never changed.
# Needs `cfgroll` on PATH and a Docker engine; nothing is pulled from a registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/make-base-image.sh"
work=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/cfgroll-demo.XXXXXX")
cp -R "$here/shop/." "$work/"
cd "$work"
say() { printf '\n$ %s\n' "$*"; }
serve() {
  for page in / /banner.txt; do docker compose exec -T web wget -q -O - "http://localhost:8080$page"; done
}

say cfgroll deploy;                     cfgroll deploy 2>/dev/null
say serve;                              serve
printf 'GREETING=hello from v2\nDB_PASSWORD=change-me-v2\n' > .env
printf 'banner v2: winter sale\n' > conf/banner.txt
say cfgroll deploy --dry-run;           cfgroll deploy --dry-run
say cfgroll deploy;                     cfgroll deploy 2>/dev/null
say serve;                              serve
say cfgroll log;                        cfgroll log
say cfgroll rollback previous --yes;    cfgroll rollback previous --yes 2>/dev/null
say serve;                              serve
say git --git-dir .cfgroll/store.git log --oneline --decorate
git --git-dir .cfgroll/store.git log --oneline --decorate
if [ -z "${KEEP:-}" ]; then
  docker compose down -t 2 >/dev/null 2>&1
  rm -rf "$work"
  printf '\n(demo stack stopped and %s removed; run with KEEP=1 to keep them)\n' "$work"
fi
