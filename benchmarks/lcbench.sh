#!/usr/bin/env bash
# The LCBench grid of BENCHMARKS.md: every optimizer of hyperrace (5 seeds) and every peer
# (3 seeds; Syne Tune's DyHPO 1 seed, for its cost) on all 34 instances of the YAHPO LCBench
# surrogate, 1000 epochs per run, one worker; then the race, DyHPO, DPL, the bandits and the
# peers that run trials side by side with 8 simulated workers (3 seeds). Results are resumable:
# runs already in a folder's results.jsonl are skipped, so the grid can be spread over several
# sessions (delete a folder to start it over). The scorecard of the race against every other
# optimizer: benchmarks/race_report.py (the command is printed at the end).
#
# Usage: bash benchmarks/lcbench.sh [part ...]   parts: ours races peers dyhpo-peer workers (all)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-peers/bin/python ] || bash scripts/peers-env
OURS=random,successive_halving,hyperband,asha,bohb,dehb,one_epoch_top_k,staged,tpe
RACES=race,dyhpo,dpl
PEERS=optuna-tpe-hb,optuna-tpe-sh,dehb-package,smac-mf,synetune-hyperband,synetune-dehb
PARALLEL=race,dyhpo,dpl,asha,hyperband,bohb,dehb,random,optuna-tpe-hb,synetune-hyperband,synetune-dehb
OUT=benchmarks/results
JOBS=${JOBS:-2}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(races ours peers dyhpo-peer workers)
run() {
    .venv/bin/hyperrace benchmark --task lcbench --instances all --budget 1000 --quiet \
        --jobs "$JOBS" "$@"
}
for part in "${parts[@]}"; do
    case "$part" in
        ours) run --seeds 5 --workers 1 --optimizers "$OURS" --out "$OUT/lcbench-all" ;;
        races) run --seeds 5 --workers 1 --optimizers "$RACES" --out "$OUT/lcbench-all-races" ;;
        peers) run --seeds 3 --workers 1 --optimizers "$PEERS" --out "$OUT/lcbench-all-peers" ;;
        dyhpo-peer) run --seeds 1 --workers 1 --optimizers synetune-dyhpo \
            --out "$OUT/lcbench-all-synetune-dyhpo" ;;
        workers) run --seeds 3 --workers 8 --optimizers "$PARALLEL" --out "$OUT/lcbench-all-8" ;;
        *) echo "unknown part $part (ours, races, peers, dyhpo-peer, workers)" >&2; exit 2 ;;
    esac
done
echo ".venv/bin/python benchmarks/race_report.py $OUT/lcbench-all/results.jsonl" \
    "$OUT/lcbench-all-races/results.jsonl $OUT/lcbench-all-peers/results.jsonl --seeds 0-4"
