#!/usr/bin/env bash
# Cheap hyperparameters first, or the race? staged vs the cost-aware race vs DyHPO vs ASHA (and
# random search) on a budget in simulated seconds: one simulated hour per run on LCBench, 2000
# simulated seconds on the synthetic curves (whose step cost grows 48-fold with width and
# depth). Results, tables and plots go to benchmarks/results/question-{lcbench,synthetic}/.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/hyperrace benchmark --task lcbench --instances 3945,7593,34539 --seeds 3 \
    --unit seconds --budget 3600 --workers 1 \
    --optimizers asha,staged,dyhpo,dyhpo:cost_exponent=1:cost_budget=3600,random \
    --out benchmarks/results/question-lcbench "$@"
.venv/bin/hyperrace benchmark --task synthetic --instances 0,1 --seeds 2 \
    --unit seconds --budget 2000 --workers 1 \
    --optimizers asha,staged,dyhpo,dyhpo:cost_exponent=1:cost_budget=2000,random \
    --out benchmarks/results/question-synthetic "$@"
