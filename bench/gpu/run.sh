#!/usr/bin/env bash
# bench/gpu/run.sh: run ON the NVIDIA machine, in one go, as root, from the repo root, with
# the folders bench/gpu/prepare.sh made carried along. The device tool call:
#
#   run  command: bash bench/gpu/run.sh    carry: [".gpu", ".gl"]    timeout_s: 300
#
# It needs nothing from the internet: the Vulkan loader and glvnd (.gl/*.deb, unpacked into /
# only when `ldconfig -p` lists no libvulkan), Deno (and Node if prepared) and onnxruntime's
# files come from .gpu/; python3 with numpy + onnx generates the models. Then one process
# per backend measures the large MLP (bench/realtime/heavy-model.py) and the convolutional
# model (bench/gpu/conv-model.py) at batch 1, 64, 1024, 8192 (a size whose run would take too
# long or whose input would be too large is skipped, and the reason recorded):
#   native-cpu     onnxruntime-node CPU EP          (the baseline)
#   native-webgpu  onnxruntime-node WebGPU EP (Dawn, Vulkan)
#   web-webgpu     onnxruntime-web's WebGPU build in Deno (navigator.gpu = wgpu, Vulkan)
#   web-webgpu/jsep  the same with onnxruntime-web's JSEP kernels (the `all` build)
# then the served comparison (the whole server on native-cpu and on native-webgpu under the
# same binary OIP load: served rows/s, goal ≥ 5×),
# and writes bench/results/gpu.{json,md} (and $OUT/gpu.{json,md}, $OUT/run.log when $OUT is
# set). 116-138 s on an H200; each backend has its own time budget.
#
#   bash bench/gpu/run.sh --rehearse
#
# CPU rehearsal (any x86-64 Linux with the prepared folders): the same steps with small
# batches and short budgets; the .debs are unpacked into a scratch folder instead of /
# (the check is that they unpack and hold libvulkan.so.1), the NVIDIA-only steps are
# skipped, the models come from /usr/bin/python3, and results go to .tmp/gpu/ (never to
# bench/results/). native-webgpu is expected to be recorded as unavailable there (Dawn
# takes no CPU adapter); web-webgpu runs on Mesa's llvmpipe if it is installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
REHEARSE=0
for a in "$@"; do
  case "$a" in
    --rehearse) REHEARSE=1 ;;
    *) echo "run.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
WORK=${GPU_WORK:-/tmp/omniserve-gpu}
rm -rf "$WORK"; mkdir -p "$WORK/res" "$WORK/models"
LOG=$WORK/run.log
exec > >(tee "$LOG") 2>&1
T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
NOTES=()
note() { NOTES+=("$*"); say "note: $*"; }
# What is measured so far, into $OUT after every step: a run cut off by the device tool's
# limit still brings back the per-backend reports and the log.
snapshot() { [ -n "${OUT:-}" ] && tar czf "$OUT/partial.tgz" -C "$WORK" res run.log $(cd "$WORK" && ls machine.json nvidia-smi.txt serve-*.log 2>/dev/null) 2>/dev/null; return 0; }

[ -f .gpu/manifest.json ] || { say "FAIL: .gpu/ is missing: run bench/gpu/prepare.sh on a machine with npm and carry .gpu and .gl"; exit 1; }

# 1. Vulkan loader and glvnd.
if [ "$REHEARSE" = 1 ]; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" "$WORK/gl-root" || say "dpkg -x $f failed"; done
    if find "$WORK/gl-root" -name 'libvulkan.so.1*' | grep -q .; then say "rehearsal: .gl/*.deb unpack (into $WORK/gl-root, not /) and hold libvulkan.so.1"
    else note "rehearsal: .gl/*.deb did not yield libvulkan.so.1"; fi
  else
    note "rehearsal: no .gl/*.deb to check"
  fi
elif ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  say "Vulkan loader present: $(ldconfig -p | grep -m1 'libvulkan\.so\.1')"
elif ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" / || say "dpkg -x $f failed"; done
  ldconfig
  say "unpacked $(ls .gl/*.deb | wc -l) .debs into /: $(ldconfig -p | grep -m1 'libvulkan\.so\.1' || echo 'still no libvulkan.so.1')"
  note "the Vulkan loader came from .gl/ (the machine had none)"
else
  note "no Vulkan loader and no .gl/*.deb: WebGPU backends will find no adapter"
fi
if [ "$REHEARSE" = 0 ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { export VK_DRIVER_FILES=$f; break; }
  done
  for f in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
    [ -f "$f" ] && { export __EGL_VENDOR_LIBRARY_FILENAMES=$f; break; }
  done
  say "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset} __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-unset}"
  [ -n "${VK_DRIVER_FILES:-}" ] || note "no NVIDIA Vulkan ICD json found: the Vulkan loader picks whatever ICD it finds"
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

# 2. Binaries and onnxruntime into $WORK/gpu (the carried copy stays as it came).
cp -r .gpu "$WORK/gpu"
if command -v xz >/dev/null; then
  find "$WORK/gpu" -name '*.xz' -print0 | xargs -0 -r -n1 -P4 xz -d -T0 || { say "FAIL: xz -d"; exit 1; }
else
  # No xz binary (a minimal image): Python's lzma module reads the same files.
  say "no xz: unpacking with python3's lzma"
  find "$WORK/gpu" -name '*.xz' -print0 | xargs -0 -r -n1 -P4 python3 -c 'import lzma, os, shutil, sys
p = sys.argv[1]
with lzma.open(p) as i, open(p[:-3], "wb") as o: shutil.copyfileobj(i, o, 1 << 20)
os.remove(p)' || { say "FAIL: python3 lzma"; exit 1; }
fi
chmod +x "$WORK/gpu/deno" "$WORK/gpu/node" 2>/dev/null
G=$WORK/gpu
export DENO_DIR=$WORK/deno-dir DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
DENO=("$G/deno" run -A --quiet)
"$G/deno" --version | head -1 || { say "FAIL: deno does not start"; exit 1; }
if [ -x "$G/node" ]; then NATIVE=("$G/node"); NATIVE_HOST="node $("$G/node" --version)"
else NATIVE=("${DENO[@]}"); NATIVE_HOST="deno (no Node carried: .gpu holds no node.xz)"; fi
say "native backends run on: $NATIVE_HOST"

# 3. The machine.
PY=python3; [ "$REHEARSE" = 1 ] && PY=/usr/bin/python3
{
  echo '{'
  if command -v nvidia-smi >/dev/null; then
    printf '"gpu": %s,\n' "$(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | head -1 | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')"
    nvidia-smi >"$WORK/nvidia-smi.txt" 2>&1
  else
    echo '"gpu": "none (no nvidia-smi)",'
  fi
  printf '"vulkanDriverFiles": "%s",\n' "${VK_DRIVER_FILES:-unset}"
  printf '"deno": "%s",\n' "$("$G/deno" --version | head -1)"
  printf '"nativeHost": "%s",\n' "$NATIVE_HOST"
  printf '"python": %s,\n' "$("$PY" -c 'import json,sys,numpy,onnx; print(json.dumps(f"{sys.version.split()[0]} numpy {numpy.__version__} onnx {onnx.__version__}"))' 2>/dev/null || echo '"unavailable"')"
  printf '"prepared": %s\n' "$("$PY" -c 'import json; m=json.load(open(".gpu/manifest.json")); print(json.dumps({"at": m["preparedAt"], **m["versions"]}))')"
  echo '}'
} >"$WORK/machine.json"
cat "$WORK/machine.json"
[ -f "$WORK/nvidia-smi.txt" ] && cat "$WORK/nvidia-smi.txt"

# 4. Models.
"$PY" bench/realtime/heavy-model.py "$WORK/models" || { say "FAIL: heavy-model.py"; exit 1; }
"$PY" bench/gpu/conv-model.py "$WORK/models" || { say "FAIL: conv-model.py"; exit 1; }
MODELS=$WORK/models/heavy-mlp.onnx,$WORK/models/conv-resnet.onnx

# 5. One process per backend, each with its own budget (and a hard timeout above it).
if [ "$REHEARSE" = 1 ]; then
  BATCHES=1,4; PIN_BATCHES=1,4; SECONDS_PER=0.5; WARMUP=0.1; MAXRUN=5
  B_CPU=40 B_NWGPU=20 B_WEB=60 B_VK=30 B_JSEP=45
else
  BATCHES=1,64,1024,8192; PIN_BATCHES=1,64,1024; SECONDS_PER=1.5; WARMUP=0.5; MAXRUN=8
  B_CPU=75 B_NWGPU=50 B_WEB=75 B_VK=30 B_JSEP=30
fi
measure() { # label budget models batches RUNNER... -- MEASURE-ARGS...
  local label=$1 budget=$2 models=$3 batches=$4; shift 4
  local runner=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do runner+=("$1"); shift; done
  shift
  local file=$WORK/res/${label//\//-}.measure.json
  say "measure $label (budget ${budget}s)"
  (cd "$G" && timeout -k 10 $((budget + 45)) "${runner[@]}" measure.mjs "$@" --model "$models" --batches "$batches" --seconds "$SECONDS_PER" \
    --warmup "$WARMUP" --max-run-s "$MAXRUN" --budget-s "$budget" --json "$file" --ort-web-dir "$G/ort-web")
  local rc=$?
  [ $rc -eq 0 ] || note "$label: measure.mjs exited $rc$( [ $rc -ge 124 ] && echo ' (hard timeout: the report holds what was measured before)')"
  snapshot
}
measure native-cpu "$B_CPU" "$MODELS" "$BATCHES" "${NATIVE[@]}" -- --backend native-cpu
measure native-webgpu "$B_NWGPU" "$MODELS" "$BATCHES" "${NATIVE[@]}" -- --backend native-webgpu
measure web-webgpu "$B_WEB" "$MODELS" "$BATCHES" "${DENO[@]}" -- --backend web-webgpu --web-build webgpu
# Hypothesis: Deno's wgpu may pick its OpenGL (EGL) backend over Vulkan; pinned to Vulkan here.
DENO_WEBGPU_BACKEND=vulkan measure web-webgpu/vulkan "$B_VK" "$WORK/models/heavy-mlp.onnx" "$PIN_BATCHES" "${DENO[@]}" -- --backend web-webgpu --web-build webgpu --label web-webgpu/vulkan
# Whether Deno's mapAsync answers sooner while the device is polled by an empty submit every ms.
measure web-webgpu/polled "$B_VK" "$MODELS" "$PIN_BATCHES" "${DENO[@]}" -- --backend web-webgpu --web-build webgpu --label web-webgpu/polled --pump-ms 1
if [ -f "$G/ort-web/ort.all.bundle.min.mjs" ]; then
  measure web-webgpu/jsep "$B_JSEP" "$WORK/models/heavy-mlp.onnx" "$PIN_BATCHES" "${DENO[@]}" -- --backend web-webgpu --web-build jsep --label web-webgpu/jsep
else
  note "web-webgpu/jsep not measured: .gpu was prepared with --no-jsep"
fi

# 5a. The host's read-back floor apart from onnxruntime (Deno's navigator.gpu).
if [ -f "$G/map-probe.mjs" ]; then
  if [ "$REHEARSE" = 1 ]; then PROBE_N=1,1000; else PROBE_N=1,50000,100000,150000,200000,300000,1000000; fi
  say "map-probe (mapAsync latency, N = $PROBE_N)"
  (cd "$G" && timeout -k 5 60 "${DENO[@]}" map-probe.mjs --iterations "$PROBE_N" --json "$WORK/res/map.probe.json") || note "map-probe exited $?"
  snapshot
fi

# 5b. Served: the whole server (Deno, .gpu/serve.mjs) with the large MLP alone, one native
# backend pinned per server, loaded by serve-load.mjs with binary OIP requests.
if [ "$REHEARSE" = 1 ]; then S_ROWS=64 S_CONC=2 S_SECONDS=3 S_WARMUP=1 S_WAIT=90
else S_ROWS=1024 S_CONC=4 S_SECONDS=12 S_WARMUP=3 S_WAIT=120; fi
served() { # label port
  local label=$1 port=$2
  local cfg=$WORK/serve-$label.json log=$WORK/serve-$label.log json=$WORK/res/served-$label.served.json
  printf '{"models":[{"path":"%s","name":"heavy-mlp"}],"cache":{"kind":"none"},"server":{"maxBodyBytes":67108864,"maxRecords":100000,"requestTimeoutMs":60000}}\n' \
    "$WORK/models/heavy-mlp.onnx" >"$cfg"
  say "served $label: omniserve serve on port $port, then ${S_CONC} x ${S_ROWS}-row requests for ${S_SECONDS}s"
  (cd "$G" && exec env OMNISERVE_BACKEND="$label" timeout -k 5 $((S_WAIT + S_WARMUP + S_SECONDS + 60)) "${DENO[@]}" serve.mjs serve --config "$cfg" --port "$port") >"$log" 2>&1 &
  local sp=$! waited=0
  # Ready (the port answers) or dead (a pinned backend that is not there: serve exits).
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$sp" 2>/dev/null || [ "$waited" -ge "$S_WAIT" ]; then
      local why; why=$(grep -v '^\s*$' "$log" | tail -1 | cut -c1-300)
      (cd "$G" && "${DENO[@]}" serve-load.mjs --label "$label" --unavailable "the server did not start within ${waited}s: ${why:-no output}" --json "$json")
      kill -TERM "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
      return
    fi
    sleep 1; waited=$((waited + 1))
  done
  (cd "$G" && timeout -k 5 $((S_WAIT + S_WARMUP + S_SECONDS + 30)) "${DENO[@]}" serve-load.mjs --url "http://127.0.0.1:$port" --model heavy-mlp --label "$label" \
    --rows "$S_ROWS" --concurrency "$S_CONC" --seconds "$S_SECONDS" --warmup "$S_WARMUP" --wait-s "$S_WAIT" --json "$json") || note "served $label: serve-load.mjs exited $?"
  kill -TERM "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
  say "served $label: server log tail: $(grep -v '^\s*$' "$log" | tail -2 | cut -c1-200 | tr '\n' ' ')"
  snapshot
}
if [ -f "$G/serve.mjs" ] && [ -f "$G/serve-load.mjs" ]; then
  served native-cpu 18431
  served native-webgpu 18432
else
  note "served comparison skipped: .gpu has no serve.mjs / serve-load.mjs (prepared by an older prepare.sh)"
fi

# 6. Report.
if [ "$REHEARSE" = 1 ]; then DEST=$ROOT/.tmp/gpu; NAME=gpu-rehearsal; else DEST=$ROOT/bench/results; NAME=gpu; fi
mkdir -p "$DEST"
NOTE_ARGS=(); for n in "${NOTES[@]}"; do NOTE_ARGS+=(--note "$n"); done
REPORT_ARGS=(--in "$WORK/res" --machine "$WORK/machine.json" --out-json "$DEST/$NAME.json" --out-md "$DEST/$NAME.md" "${NOTE_ARGS[@]}")
[ "$REHEARSE" = 1 ] && REPORT_ARGS+=(--rehearsal)
(cd "$G" && "${NATIVE[@]}" report.mjs "${REPORT_ARGS[@]}") || say "report.mjs failed"
if [ -n "${OUT:-}" ]; then
  cp "$DEST/$NAME.json" "$DEST/$NAME.md" "$OUT/" 2>/dev/null
  [ -f "$WORK/nvidia-smi.txt" ] && cp "$WORK/nvidia-smi.txt" "$OUT/"
fi
say "done: $DEST/$NAME.md"
[ -n "${OUT:-}" ] && cp "$LOG" "$OUT/run.log"
exit 0
