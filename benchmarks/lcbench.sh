#!/usr/bin/env bash
# Regenerate the LCBench table of BENCHMARKS.md: every optimizer of hyperrace and every peer on
# the YAHPO LCBench surrogate, 1000 epochs per run. Results, table and plots go to
# benchmarks/results/lcbench/ (runs already there are kept: delete the folder to start over).
# Usage: bash benchmarks/lcbench.sh [extra arguments for hyperrace benchmark]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-peers/bin/python ] || bash scripts/peers-env
OURS=random,successive_halving,hyperband,asha,bohb,dehb,staged,tpe,one_epoch_top_k,dyhpo
PEERS=optuna-tpe-hb,optuna-tpe-sh,dehb-package,smac-mf,synetune-hyperband,synetune-dehb
exec .venv/bin/hyperrace benchmark --task lcbench --instances 3945,7593,34539,126025 \
    --seeds 3 --budget 1000 --workers 1 --optimizers "$OURS,$PEERS" \
    --out benchmarks/results/lcbench "$@"
