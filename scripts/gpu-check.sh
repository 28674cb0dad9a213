#!/usr/bin/env bash
# One GPU-machine session: build, write the synthetic checkpoints, run parity (ci fp32, full fp32, full bf16),
# the benchmark and the upstream baseline. Everything lands in $OUT (or out/). Needs .deps/ and .shared/
# (a copy of ../shared) carried along. Usage: scripts/gpu-check.sh [parity] [reference] [bench]
# (reference: the upstream code's own bf16 error against its fp32 goldens, scripts/reference_bf16.py; quick: the
# benchmark without the upstream baseline and the batched runs, for trying a kernel change)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$here/out}; mkdir -p "$out"
shared=$here/.shared
py=/opt/torch/.venv/bin/python
steps=${*:-parity bench}
"$here/scripts/gpu-build.sh" 2>&1 | tail -3 | tee "$out/build.log" || exit 1
cli=$here/build-gpu/tools/folio-cli
"$here/build-gpu/tools/folio-kernel-check" | tee "$out/kernel_check.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "kernel check failed: stopping"; exit 1; }
# The GPU machine has no PNG decoder for Folio: give the golden views to it as binary PPM.
goldens=/tmp/goldens; rm -rf $goldens; cp -r "$shared/reference/goldens" $goldens
$py -c "
import glob; from PIL import Image
for p in glob.glob('$goldens/*.png'): Image.open(p).convert('RGB').save(p[:-4] + '.ppm')
"
(time "$cli" synth-weights --config "$shared/model/config.json" -o /tmp/full) 2>&1 | tail -5 | tee "$out/synth.log"
"$cli" synth-weights --config "$shared/model/config.json" --layers 2 -o /tmp/ci > /dev/null
if [[ " $steps " == *" parity "* ]]; then
  "$cli" parity --model /tmp/ci --device cuda --dtype fp32 --config ci --goldens $goldens --json "$out/parity_ci_fp32_cuda.json"
  "$cli" parity --model /tmp/full --device cuda --dtype fp32 --config full --goldens $goldens --json "$out/parity_full_fp32_cuda.json"
  "$cli" parity --model /tmp/full --device cuda --dtype bf16 --config full --goldens $goldens --json "$out/parity_full_bf16_cuda.json"
fi
if [[ " $steps " == *" reference "* ]]; then
  $py "$here/scripts/reference_bf16.py" "$shared" > "$out/reference_bf16.json" 2> "$out/reference_bf16.err"
  tail -5 "$out/reference_bf16.err"
fi
if [[ " $steps " == *" quick "* ]]; then
  "$here/build-gpu/tools/folio-bench" --model /tmp/full --batches 0 --profile "$out/profile.json" --json | tee "$out/perf.json"
fi
if [[ " $steps " == *" bench "* ]]; then
  (cd "$shared/reference" && $py bench_upstream.py --tokens 256 --mode base > "$out/upstream_base.json" 2> "$out/upstream.err")
  cat "$out/upstream_base.json"
  "$here/build-gpu/tools/folio-bench" --model /tmp/full --upstream "$out/upstream_base.json" --profile "$out/profile.json" \
    --json | tee "$out/perf.json"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt"
fi
# The device tool returns at most 8 files: the side logs travel as one archive.
(cd "$out" && tar czf logs.tar.gz --remove-files $(ls build.log synth.log kernel_check.txt upstream.err \
  upstream_base.json gpu.txt reference_bf16.err 2>/dev/null))
