#!/usr/bin/env bash
# Disaster recovery on the example project: the store mirrored to a bare repository with the
# secrets sealed with age, two deploys, then the host lost (stack down, images, project folder
# and store deleted) and brought back with `cfgroll clone` and `cfgroll deploy`. Works in a
# temporary folder (or in the folder given as $1); needs `cfgroll`, `age` and a Docker engine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/make-base-image.sh"
work=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/cfgroll-recovery.XXXXXX")
say() { printf '\n$ %s\n' "$*"; }
serve() { docker compose exec -T web wget -q -O - http://localhost:8080/; }

# the identity lives off the host (a password manager, a safe); the mirror is any git URL
age-keygen -o "$work/ops-identity.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/ops-identity.txt")
git init -q --bare -b main "$work/mirror.git"
mkdir "$work/host" && cp -R "$here/shop" "$work/host/shop" && cd "$work/host/shop"
printf 'GREETING=hello from v1\nDB_PASSWORD=change-me-v1\n' > .env
sed 's/^name: cfgroll-shop$/name: cfgroll-recovery/' compose.yaml > compose.new && mv compose.new compose.yaml
cat >> compose.yaml <<YAML
x-cfgroll:
  recipients: [$recipient]   # who can open the mirror's secrets
  track: [Dockerfile]        # the build file travels with the release
YAML

say cfgroll init;                        cfgroll init >/dev/null
say cfgroll mirror ../../mirror.git;     cfgroll mirror ../../mirror.git
say cfgroll deploy;                      cfgroll deploy 2>/dev/null
printf 'GREETING=hello from v2\nDB_PASSWORD=change-me-v2\n' > .env
say cfgroll deploy;                      cfgroll deploy 2>/dev/null
say git --git-dir ../../mirror.git show main:.env
git --git-dir ../../mirror.git show main:.env | head -3
say "# the host is lost"
docker compose down -t 2 >/dev/null 2>&1
docker images -q --filter 'reference=cfgroll-recovery-*' | sort -u | xargs -r docker rmi -f >/dev/null
cd "$work" && rm -rf host

say cfgroll clone mirror.git shop --identity ops-identity.txt
cfgroll clone mirror.git shop --identity ops-identity.txt 2>/dev/null
cd shop
say cfgroll deploy;                      cfgroll deploy 2>/dev/null
say serve;                               serve
say cfgroll log;                         cfgroll log
if [ -z "${KEEP:-}" ]; then
  docker compose down -t 2 >/dev/null 2>&1
  rm -rf "$work"
  printf '\n(recovery stack stopped and %s removed; run with KEEP=1 to keep them)\n' "$work"
fi
