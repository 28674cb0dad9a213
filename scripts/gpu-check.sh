#!/usr/bin/env bash
# One GPU-machine session: build (scripts/gpu-build.sh), write the synthetic checkpoints, then the named steps;
# stops with a non-zero status at the first check that fails (set -e: folio-cli parity and folio-kernel-check exit
# non-zero when a check fails). Everything lands in $OUT (or out/). Needs .deps/ and .shared/ (a copy of ../shared)
# carried along. Usage: scripts/gpu-check.sh [STEP...], steps:
#   parity     ci fp32 and full bf16 against the goldens (bf16 also checks the GPU's graph and batched paths)
#   parity-fp32  full fp32 as well
#   reference  the upstream code's own bf16 error against its fp32 goldens (scripts/reference_bf16.py)
#   quick      folio-bench without the upstream baseline and the batched runs
#   cudnn      the same with cuDNN attention allowed again (what turning it off costs warm)
#   bench      folio-bench with the upstream baseline and the batched runs
#   cold       folio-bench --cold: first pages after load
#   cold-generic  the same with Folio's kernels off (the generic libtorch path)
#   ptx        rebuild for compute_80 PTX only (the driver compiles it: the non-Hopper code path), then the
#              kernel check, bf16 parity and the quick benchmark of that build
#   ocr2       DeepSeek-OCR-2 (alone: the v1 checkpoints are not written): transformers' full-decoder goldens if
#              tests/data/goldens_ocr2 lacks them, parity full fp32 and bf16, folio-bench
#   eight-bit  8-bit weights: folio-cli quantize of the full checkpoint, folio-cli compare of the 8-bit model with
#              the bf16 one on the golden prompts, folio-bench of the 8-bit folder (batched up to 8 pages)
#   app        (needs .deps/qt from scripts/gpu-deps.sh app) the `app` and `gui` test labels on the GPU, then
#              folio-bench-document: the app's pipeline on a 50-page scanned PDF, 1000 tokens a page
#   serve      (needs .deps/qt) folio-cli serve with the full model under 1, 8, 32 and 64 clients of
#              folio-bench-serve (Base, 1000 tokens a page), then three servers on this GPU behind one client
# FOLIO_SHARED_DIR names another copy of ../shared (the app step needs only model/ and the goldens' page images).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$here/out}; mkdir -p "$out"
export FOLIO_SHARED_DIR=${FOLIO_SHARED_DIR:-$here/.shared}
shared=$FOLIO_SHARED_DIR
py=python3
steps=" ${*:-parity bench} "
build=$here/build-gpu
cli=$build/tools/folio-cli
goldens=/tmp/goldens
# A build with the app links folio-cli against the carried Qt too.
if compgen -G "$here/.deps/qt/*.deb" > /dev/null; then source "$here/scripts/gpu-env.sh"; fi

build_and_check_kernels() {  # $1: a tag for the logs; further arguments go to scripts/gpu-build.sh
  local tag=$1; shift
  "$here/scripts/gpu-build.sh" "$@" > "$out/build_$tag.log" 2>&1 || { tail -30 "$out/build_$tag.log"; exit 1; }
  "$build/tools/folio-kernel-check" | tee "$out/kernel_check_$tag.txt"
}

parity() {  # $1 model, $2 dtype, $3 config, $4 json
  "$cli" parity --model "$1" --device cuda --dtype "$2" --config "$3" --goldens $goldens --json "$4"
}

# The GPU machine has no PNG decoder for Folio: give the golden views to it as binary PPM.
as_ppm() { $py -c "
import glob; from PIL import Image
for p in glob.glob('$1/*.png'): Image.open(p).convert('RGB').save(p[:-4] + '.ppm')
"; }

# The device tool returns at most 8 files: the side logs travel as one archive, also when a check fails.
pack_logs() {
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
  (cd "$out" && tar czf logs.tar.gz --remove-files $(ls build_*.log synth.log kernel_check_*.txt upstream.err \
    upstream_base.json gpu.txt ctest_app_gui.log quantize.log reference_bf16.err goldens_ocr2.log synth_ocr2.log \
    serve_*.log 2>/dev/null))
}
trap pack_logs EXIT
trap 'echo "gpu-check: stopped, a check failed (line $LINENO: $BASH_COMMAND)" >&2' ERR

build_and_check_kernels native
if [[ $steps != " ocr2 " ]]; then
  rm -rf $goldens; cp -r "$shared/reference/goldens" $goldens; as_ppm $goldens
  { time "$cli" synth-weights --config "$shared/model/config.json" -o /tmp/full; } > "$out/synth.log" 2>&1
  "$cli" synth-weights --config "$shared/model/config.json" --layers 2 -o /tmp/ci > /dev/null
fi
# The settings a user starts with (device, dtype and 8-bit all automatic) load and read a page: with Qt carried,
# folio-cli ocr on a scan, before anything else.
if [[ $steps != " ocr2 " ]] && compgen -G "$here/.deps/qt/*.deb" > /dev/null; then
  "$cli" ocr --model /tmp/ci --mode base --max-tokens 8 -q "$here/tests/data/scans/paper_page.jpg" -o /tmp/defaults \
    | tee "$out/defaults.json"
fi
if [[ $steps == *" parity "* ]]; then
  parity /tmp/ci fp32 ci "$out/parity_ci_fp32_cuda.json"
  parity /tmp/full bf16 full "$out/parity_full_bf16_cuda.json"
fi
if [[ $steps == *" parity-fp32 "* ]]; then parity /tmp/full fp32 full "$out/parity_full_fp32_cuda.json"; fi
if [[ $steps == *" reference "* ]]; then
  $py "$here/scripts/reference_bf16.py" "$shared" > "$out/reference_bf16.json" 2> "$out/reference_bf16.err"
  tail -5 "$out/reference_bf16.err"
fi
if [[ $steps == *" cold "* ]]; then
  "$build/tools/folio-bench" --model /tmp/full --cold --cold-profile --json | tee "$out/cold.json"
fi
if [[ $steps == *" cold-generic "* ]]; then
  FOLIO_CUDA_KERNELS=0 "$build/tools/folio-bench" --model /tmp/full --cold --json | tee "$out/cold_generic.json"
fi
if [[ $steps == *" quick "* ]]; then
  "$build/tools/folio-bench" --model /tmp/full --batches 0 --profile "$out/profile.json" --json | tee "$out/perf.json"
fi
if [[ $steps == *" cudnn "* ]]; then
  "$build/tools/folio-bench" --model /tmp/full --batches 0 --cudnn-attention --json | tee "$out/perf_cudnn_attention.json"
fi
if [[ $steps == *" bench "* ]]; then
  (cd "$shared/reference" && $py bench_upstream.py --tokens 256 --mode base > "$out/upstream_base.json" 2> "$out/upstream.err")
  cat "$out/upstream_base.json"
  "$build/tools/folio-bench" --model /tmp/full --upstream "$out/upstream_base.json" --profile "$out/profile.json" \
    --json | tee "$out/perf.json"
fi
if [[ $steps == *" ptx "* ]]; then
  FOLIO_CUDA_ARCHS=80-virtual build_and_check_kernels ptx
  parity /tmp/full bf16 full "$out/parity_full_bf16_cuda_ptx80.json"
  "$build/tools/folio-bench" --model /tmp/full --batches 0 --reps 3 --json > "$out/perf_ptx80.json"
fi
if [[ $steps == *" eight-bit "* ]]; then
  { time "$cli" quantize /tmp/full -o /tmp/full-int8; } > "$out/quantize.log" 2>&1 || { tail -5 "$out/quantize.log"; exit 1; }
  tail -4 "$out/quantize.log"
  "$cli" compare --model /tmp/full-int8 --reference-model /tmp/full --device cuda --dtype bf16 --goldens $goldens \
    --json "$out/compare_int8.json"
  "$build/tools/folio-bench" --model /tmp/full-int8 --batches 1 8 --json | tee "$out/perf_int8.json"
fi
if [[ $steps == *" app "* ]]; then
  ctest --test-dir "$build" -L 'app|gui' --output-on-failure > "$out/ctest_app_gui.log" 2>&1 \
    || { tail -60 "$out/ctest_app_gui.log"; exit 1; }
  tail -4 "$out/ctest_app_gui.log"
  QT_QPA_PLATFORM=offscreen "$build/tools/folio-bench-document" --model /tmp/full --pages 50 --tokens 1000 \
    | tee "$out/document.json"
fi
if [[ $steps == *" serve "* ]]; then
  page="$here/tests/data/scans/paper_page.jpg"
  serve_on() { "$cli" serve --model /tmp/full --port "$1" --mode base --max-batch 64 > "$out/serve_$1.log" 2>&1 & }
  # Until /health answers; a server that exited (its log says why) fails the step at once.
  wait_up() { $py -c "
import subprocess, sys, time, urllib.request
for _ in range(1200):
    try: urllib.request.urlopen('http://127.0.0.1:$1/health', timeout=1); sys.exit(0)
    except Exception: time.sleep(0.25)
    if subprocess.run(['pgrep', '-f', 'serve .*--port $1'], capture_output=True).returncode: sys.exit(1)
sys.exit(1)" || { cat "$out/serve_$1.log"; return 1; }; }
  bench_serve() { "$build/tools/folio-bench-serve" --image "$page" --mode base "$@" | tee -a "$out/serve.jsonl"; }
  serve_on 8101; wait_up 8101
  bench_serve --endpoint http://127.0.0.1:8101 --clients 8 --pages 16 --tokens 100 > /dev/null  # warm-up
  : > "$out/serve.jsonl"
  for clients in 1 8 32 64; do
    bench_serve --endpoint http://127.0.0.1:8101 --clients $clients --pages $((clients < 4 ? 6 : 3 * clients)) --tokens 1000
  done
  serve_on 8102; serve_on 8103; wait_up 8102; wait_up 8103
  three=(--endpoint http://127.0.0.1:8101 --endpoint http://127.0.0.1:8102 --endpoint http://127.0.0.1:8103)
  bench_serve "${three[@]}" --clients 8 --pages 24 --tokens 100 > /dev/null  # warm-up of the two new ones
  for clients in 8 32; do bench_serve "${three[@]}" --clients $clients --pages $((9 * clients)) --tokens 1000; done
  kill -INT $(jobs -p); wait || true
fi
if [[ $steps == *" ocr2 "* ]]; then
  # DeepSeek-OCR-2: the full-decoder goldens from transformers on this GPU (fp32, TF32 off) when the committed ones
  # lack them, then parity (full fp32, full bf16 with the graph and batched paths) and folio-bench.
  g2=/tmp/goldens_ocr2; rm -rf $g2; cp -r "$here/tests/data/goldens_ocr2" $g2
  if ! grep -q '"full.greedy_ids"' $g2/goldens.json; then
    PYTHONUNBUFFERED=1 $py "$here/tools/reference/make_goldens_ocr2.py" --variants full --device cuda --shared "$shared" \
      --out $g2 > "$out/goldens_ocr2.log" 2>&1 || { tail -30 "$out/goldens_ocr2.log"; exit 1; }
    mkdir -p "$out/goldens_ocr2"; cp $g2/*.safetensors $g2/goldens.json "$out/goldens_ocr2/"
  fi
  as_ppm $g2
  { time "$cli" synth-weights --config "$shared/model/ocr2_config.json" -o /tmp/ocr2; } > "$out/synth_ocr2.log" 2>&1
  goldens=$g2
  parity /tmp/ocr2 fp32 full "$out/parity_ocr2_full_fp32_cuda.json"
  parity /tmp/ocr2 bf16 full "$out/parity_ocr2_full_bf16_cuda.json"
  "$build/tools/folio-bench" --model /tmp/ocr2 --batches 32 --json | tee "$out/perf_ocr2.json"
fi
