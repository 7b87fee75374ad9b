#!/usr/bin/env bash
# Every GPU path in one short run (benchmarks/gpu.py): on a bare CUDA machine that has torch and
# transformers, install the project from wheels carried beside it, check the GPU, then run each
# step under its own time limit, one table row a step.
#
#   bash benchmarks/gpu.sh --fetch-wheels DIR     # on a CPU machine with the same Python: fill DIR
#   bash benchmarks/gpu.sh [--wheels DIR] [gpu.py's options: --device cuda|cpu, --tiny, --skip STEP ...]
#
# --fetch-wheels DIR: bonito-hub's own wheel and every wheel it and bitsandbytes need that torch and
# transformers do not bring (what the GPU image lacks): about 55 wheels, 175 MB (benchmarks/README.md).
# --wheels DIR: install those with no index. Without it the project must be installed already.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [[ "${1:-}" == "--fetch-wheels" ]]; then
  dir=$(mkdir -p "$2" && cd "$2" && pwd)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  torch_v=$(python -c "import torch; print(torch.__version__.split('+')[0])")
  tf_v=$(python -c "import transformers; print(transformers.__version__)")
  # what bonito-hub needs, less what torch and transformers bring: the image has those
  python -m pip install -q --dry-run --ignore-installed --report "$work/all.json" "$root" bitsandbytes
  python -m pip install -q --dry-run --ignore-installed --report "$work/image.json" "torch==$torch_v" "transformers==$tf_v"
  python - "$work" > "$work/need.txt" <<'PY'
import json, sys
def names(path):
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
            for i in json.load(open(path))["install"]}
have, want = names(f"{sys.argv[1]}/image.json"), names(f"{sys.argv[1]}/all.json")
print("\n".join(f"{n}=={v}" for n, v in sorted(want.items()) if n not in have and n != "bonito-hub"))
PY
  python -m pip download -q --no-deps -d "$dir" -r "$work/need.txt"
  python -m pip wheel -q --no-deps -w "$dir" "$root"
  echo "$(ls "$dir" | wc -l) wheels, $(du -sm "$dir" | cut -f1) MB in $dir (for torch $torch_v, transformers $tf_v, Python $(python -c 'import sys; print(sys.version.split()[0])'))"
  exit 0
fi
if [[ "${1:-}" == "--wheels" ]]; then
  wheels=$2
  shift 2
  timeout 300 python -m pip install -q --no-index --find-links "$wheels" bonito-hub bitsandbytes
fi
timeout 60 python -c "import bonito_hub, datasets, trl, peft, lm_eval" 2> /dev/null \
  || { echo "bonito-hub is not importable here: give --wheels DIR, or pip install -e ." >&2; exit 2; }
if command -v nvidia-smi > /dev/null; then
  timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout "${BONITO_GPU_BENCH_S:-900}" python "$here/gpu.py" "$@"
