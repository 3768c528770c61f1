#!/usr/bin/env bash
# Mutation score of one module against the tests written for it (mutmut 3; not in CI).
#
#   bash benchmarks/mutation.sh mbsim/policies/envoy.py tests/policies/test_envoy.py tests/policies/test_param_rules.py
#
# Runs in a copy of the tracked tree (data/ and notebooks/ left out) whose [tool.mutmut]
# names the module and the test files, prints "killed / all (score)" and writes every
# surviving mutant's diff to survivors.txt in that copy.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MODULE.py TEST_FILE..." >&2; exit 2; }
module=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d)
cd "$here"
git ls-files | grep -v -e '^data/' -e '^notebooks/' | while read -r f; do
  mkdir -p "$work/$(dirname "$f")"; cp "$f" "$work/$f"
done
cd "$work"
"$py" - "$module" "$@" <<'PY'
import re, sys
module, tests = sys.argv[1], sys.argv[2:]
t = open("pyproject.toml").read()
t = re.sub(r"only_mutate = \[.*?\]\n", f'only_mutate = ["{module}"]\n', t, flags=re.S)
t = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]\n",
           "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{x}"' for x in tests) + "]\n", t, flags=re.S)
open("pyproject.toml", "w").write(t)
PY
"$py" -m mutmut run > mutmut.log 2>&1 || true
"$py" - <<'PY'
import collections, glob, json, subprocess, sys
codes = {}
for meta in glob.glob("mutants/**/*.meta", recursive=True):
    codes.update(json.load(open(meta))["exit_code_by_key"])
if not codes:
    sys.exit("no mutants ran: see mutmut.log in " + subprocess.os.getcwd())
alive = sorted(k for k, c in codes.items() if c in (0, 33, None))  # survived, no test, not run
with open("survivors.txt", "w") as out:
    for k in alive:
        diff = subprocess.run([sys.executable, "-m", "mutmut", "show", k], capture_output=True, text=True).stdout
        out.write(f"== {k}\n" + "".join(l + "\n" for l in diff.splitlines() if l[:1] in "+-"
                                       and not l.startswith(("+++", "---"))))
killed = len(codes) - len(alive)
print(f"{killed} / {len(codes)} killed ({100 * killed / len(codes):.0f} %); survivors: {subprocess.os.getcwd()}/survivors.txt")
PY
