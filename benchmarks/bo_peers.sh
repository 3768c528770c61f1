#!/usr/bin/env bash
# BO-tuned peers against BO-tuned mbb, equal budgets (README: "BO-tuned peers").
# Every policy is tuned by the default backend on the same scenario, objective, seeds and
# budget; then all of them, the hand-tuned variants and the defaults run side by side.
# Usage: bash benchmarks/bo_peers.sh [SCENARIO] [BUDGET]   (about 20 minutes on 2 cores)
set -euo pipefail
scenario=${1:-tail-spike}
budget=${2:-40}
mbsim=${MBSIM:-.venv/bin/mbsim}
policies=(mbb hystrix resilience4j gobreaker sre gradient2 vegas envoy)
tuned=()
for p in "${policies[@]}"; do
  name="bo-$scenario-$p"
  d="data/studies/$name"
  if [ -f "$d/settings.json" ] || [ -f "$d/params.json" ]; then
    :  # finished
  elif [ -f "$d/study.json" ]; then
    "$mbsim" tune --resume "$name"
  else
    "$mbsim" tune --scenario "$scenario" --policy "$p" --budget "$budget" --name "$name"
  fi
  tuned+=(--tuned "data/studies/$name")
done
hand=mbb,hystrix-tuned,resilience4j-tuned,gobreaker-tuned,sre-tuned,gradient2-tuned,vegas-tuned,envoy-tuned,none
"$mbsim" compare --scenario "$scenario" --policies "$hand" "${tuned[@]}" --reference mbb-bo \
  --out "data/compare/$scenario-bo"
