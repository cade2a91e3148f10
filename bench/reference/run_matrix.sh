#!/usr/bin/env bash
# Runs the measurement matrix of README.md and appends one JSON line per run
# to ${OUT:-results.jsonl} (logs to results.log beside it).
# Usage: [ROUNDS=3] ./run_matrix.sh [warmup] [steps]
# Rounds repeat the whole matrix, so that drift of the machine's speed over
# minutes hits every configuration alike.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
py="$here/.venv/bin/python"
out="${OUT:-$here/results.jsonl}"
warmup="${1:-1}"
steps="${2:-5}"
for round in $(seq 1 "${ROUNDS:-1}"); do
    for shape in "8 28 1" "16 32 3"; do
        read -r c s k <<<"$shape"
        for what in search-step retrain-step infer; do
            for t in 1 2; do
                echo "== round $round: $what C=$c ${s}x${s}x${k} threads=$t (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
                nice -n "${NICE:-10}" "$py" "$here/edgenas_ref.py" --what "$what" --channels "$c" \
                    --layers 5 --nodes 4 --batch 32 --image-size "$s" --in-channels "$k" --classes 10 \
                    --threads "$t" --warmup "$warmup" --steps "$steps" 2>>"${out%.jsonl}.log" | tee -a "$out"
            done
        done
    done
done
