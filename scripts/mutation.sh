#!/usr/bin/env bash
# Mutation testing of the safety-critical modules (docs/testing.md has the last score and the
# survivors triaged). mutmut 2 changes the sources in place, so it runs on a clone of this
# checkout in a temporary folder: the working tree is never touched. Each module is mutated
# against the fast tests that guard it (no engine); about half an hour on two cores.
#   bash scripts/mutation.sh [MODULE ...]     e.g. bash scripts/mutation.sh cfgroll/capabilities/gate.py
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$here" "$work/src"
cd "$work/src"
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]' 'mutmut==2.5.1'

declare -A guards=(
  [cfgroll/capabilities/gate.py]="tests/core/test_gate.py"
  [cfgroll/capabilities/retention.py]="tests/core/test_retention.py"
  [store/secrets.py]="tests/store/test_secrets.py tests/core/test_history.py"
  [cfgroll/capabilities/preflight.py]="tests/core/test_preflight.py"
  [store/lock.py]="tests/store/test_lock.py"
  [store/files.py]="tests/store/test_files.py tests/test_windows.py"
  [cfgroll/transactions/restore.py]="tests/core/test_planning.py"
  [cfgroll/operations/importer.py]="tests/core/test_importer.py"
)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(cfgroll/capabilities/gate.py cfgroll/capabilities/retention.py store/secrets.py cfgroll/capabilities/preflight.py store/lock.py store/files.py cfgroll/transactions/restore.py cfgroll/operations/importer.py)
for module in "${modules[@]}"; do
  tests=${guards[$module]:?no tests named for $module}
  echo "=== $module  (against $tests)"
  rm -f .mutmut-cache
  .venv/bin/mutmut run --paths-to-mutate "$module" --tests-dir tests \
    --runner ".venv/bin/python -m pytest -x -q -p no:cacheprovider $tests" >/dev/null || true
  { .venv/bin/mutmut results | sed -n "/^Survived/,\$p" | head -40; } || true
  .venv/bin/python - "$module" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(".mutmut-cache").execute("select status, count(*) from Mutant group by status").fetchall()
counts = dict(rows)
killed = counts.get("ok_killed", 0)
total = sum(counts.values())
print(f"score {sys.argv[1]}: {killed}/{total} killed ({100 * killed / max(total, 1):.0f}%) {counts}")
PY
  for id in $(.venv/bin/mutmut result-ids survived 2>/dev/null); do
    { .venv/bin/mutmut show "$id" | sed -n "3,\$p" | grep "^[-+][^-+]"; } || true
  done
done
