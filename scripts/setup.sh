#!/usr/bin/env bash
# Installs everything omniserve's tests need on a Debian machine: system packages (only the
# missing ones), then the npm packages, then checks that each native piece really loads.
# Idempotent: a second run does nothing but the checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  redis-server            # real Redis for feature store, cache, queue tests
  librdkafka-dev          # rdkafka_mock.h: the Kafka-protocol mock cluster the tests start
  mesa-vulkan-drivers     # llvmpipe Vulkan device: WebGPU (Deno + onnxruntime-web) without a GPU
  prometheus              # promtool: the tests check /metrics with `promtool check metrics`
  wrk                     # HTTP load generator for bench/realtime
  python3-onnx            # (with numpy) the benchmark models generated at run time: bench/realtime's MLP, bench/gpu's conv model (tested)
  chromium                # the browser client's end-to-end tests and bench/browser (driven by playwright-core)
  build-essential python3 pkg-config  # node-gyp build of @confluentinc/kafka-javascript
  zlib1g-dev libssl-dev libzstd-dev libcurl4-openssl-dev liblz4-dev libsasl2-dev
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node: skip the CUDA download (no internet beyond npm). kafka-javascript: no
# prebuilt binary can be fetched, so it builds from source against Debian's libraries.
export ONNXRUNTIME_NODE_INSTALL=skip CKJS_LINKING=dynamic
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# npm may hold back install scripts; check that every binary really runs.
node_modules/.bin/bun --version >/dev/null || { echo "setup: bun did not install" >&2; exit 1; }
node_modules/.bin/deno --version >/dev/null || { echo "setup: deno did not install" >&2; exit 1; }
node -e "require('onnxruntime-node')" || { echo "setup: onnxruntime-node does not load" >&2; exit 1; }
node -e "require('@confluentinc/kafka-javascript')" || { echo "setup: @confluentinc/kafka-javascript did not build" >&2; exit 1; }
# The same Kafka client built for Bun's ABI (omniserve stream on Bun); kept when up to date.
bash scripts/kafka-bun/build.sh || { echo "setup: @confluentinc/kafka-javascript for Bun did not build (scripts/kafka-bun/build.sh)" >&2; exit 1; }
node -e "require('playwright-core')" || { echo "setup: playwright-core does not load" >&2; exit 1; }
/usr/bin/chromium --headless --no-sandbox --disable-gpu --user-data-dir="$(mktemp -d)" --dump-dom about:blank >/dev/null 2>&1 || { echo "setup: chromium does not start headless" >&2; exit 1; }
echo "setup: ok (node $(node --version), bun $(node_modules/.bin/bun --version), $(node_modules/.bin/deno --version | head -1))"
