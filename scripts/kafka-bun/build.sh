#!/usr/bin/env bash
# Builds @confluentinc/kafka-javascript's native addon for Bun, so `omniserve stream` runs on
# Bun (runtimes/native/stream-kafka.ts loads this build there; Node uses the package's own).
#
# The package's Node build (scripts/setup.sh, node-gyp against Node 20, ABI 115) does not load
# in Bun, which reports itself as Node 26 (ABI 147) and implements part of V8's C++ API for
# nan addons. This script compiles the same sources against Node 26's headers (taken from the
# npm package node-linux-<arch>, which ships include/node: no other download), adds
# bun-compat.cc (the V8/Node/libuv functions the addon calls that Bun lacks or stubs), and
# links the librdkafka shared libraries of the Node build (CKJS_LINKING=dynamic).
#
# Output: node_modules/.cache/omniserve-kafka-bun/ (lib/ + build/Release/*.node + rdkafka/),
# or $OMNISERVE_KAFKA_BUN_DIR. Idempotent: a build whose stamp matches is kept (no work).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=scripts/kafka-bun
PKG=node_modules/@confluentinc/kafka-javascript
OUT=${OMNISERVE_KAFKA_BUN_DIR:-node_modules/.cache/omniserve-kafka-bun}
BUN=node_modules/.bin/bun
say() { echo "kafka-bun: $*"; }
die() { echo "kafka-bun: $*" >&2; exit 1; }

[ -f "$PKG/package.json" ] || die "$PKG is not installed (run scripts/setup.sh)"
[ -x "$BUN" ] || die "$BUN is not installed (run scripts/setup.sh)"
[ -f "$PKG/build/deps/librdkafka.so.1" ] && [ -f "$PKG/build/deps/librdkafka++.so.1" ] ||
  die "$PKG/build/deps/librdkafka.so.1 is missing: the package must be built from source with CKJS_LINKING=dynamic (scripts/setup.sh does)"

NODE_VERSION=$("$BUN" -e 'console.log(process.versions.node)')
MODULES=$("$BUN" -e 'console.log(process.versions.modules)')
KAFKA_VERSION=$(node -p "require('./$PKG/package.json').version")
case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64) ARCH=arm64 ;;
  *) die "no node-linux package for $(uname -m)" ;;
esac
SOURCES_HASH=$(cat "$HERE/build.sh" "$HERE/binding.gyp" "$HERE/bun-compat.cc" "$PKG/build/deps/librdkafka.so.1" | sha256sum | cut -c1-16)
STAMP="kafka-javascript $KAFKA_VERSION; bun $("$BUN" --version) as node $NODE_VERSION (modules $MODULES); sources $SOURCES_HASH"
ADDON=build/Release/confluent-kafka-javascript.node
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/$ADDON" ]; then
  say "up to date ($OUT)"
  exit 0
fi

say "building for $STAMP"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Node's headers for the ABI Bun reports, from the npm registry (npm's cache when offline).
(cd "$WORK" && npm pack "node-linux-$ARCH@$NODE_VERSION" --silent >/dev/null) ||
  die "npm pack node-linux-$ARCH@$NODE_VERSION failed (Node's headers for Bun's ABI come from that package)"
mkdir -p "$WORK/node"
tar xzf "$WORK/node-linux-$ARCH-$NODE_VERSION.tgz" -C "$WORK/node" --strip-components=1 package/include/node
rm "$WORK/node-linux-$ARCH-$NODE_VERSION.tgz"
[ -f "$WORK/node/include/node/common.gypi" ] || die "node-linux-$ARCH@$NODE_VERSION has no include/node/common.gypi"

# The package's JavaScript and C++ sources, this directory's additions, librdkafka.
mkdir -p "$WORK/pkg/rdkafka"
cp -r "$PKG/lib" "$PKG/src" "$PKG/package.json" "$PKG/librdkafka.js" "$WORK/pkg/"
cp "$HERE/binding.gyp" "$WORK/pkg/binding.gyp"
cp "$HERE/bun-compat.cc" "$WORK/pkg/src/bun-compat.cc"
# The producer casts its headers argument to an Array unless it is undefined, but the KafkaJS
# layer passes null for a message without headers. V8 reads a length from null and gets 0;
# Bun's Array::Length dereferences it and crashes. Only an Array is read as headers here.
HEADERS_CHECK='if (info.Length() > 6 && !info[6]->IsUndefined()) {'
grep -qF "$HEADERS_CHECK" "$WORK/pkg/src/producer.cc" || die "src/producer.cc changed: review the headers patch in $HERE/build.sh"
sed -i 's/if (info.Length() > 6 \&\& !info\[6\]->IsUndefined()) {/if (info.Length() > 6 \&\& info[6]->IsArray()) {/' "$WORK/pkg/src/producer.cc"
grep -qF 'if (info.Length() > 6 && info[6]->IsArray()) {' "$WORK/pkg/src/producer.cc" || die "patching src/producer.cc failed"
cp -P "$PKG"/build/deps/librdkafka.so* "$PKG"/build/deps/librdkafka++.so* "$WORK/pkg/rdkafka/"
cp -r "$PKG/build/deps/include/librdkafka" "$WORK/pkg/rdkafka/include"

# node-gyp: the one npm bundles (which built the Node addon), else one in node_modules.
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
NODE_GYP=$NPM_DIR/node_modules/node-gyp/bin/node-gyp.js
[ -f "$NODE_GYP" ] || NODE_GYP=$ROOT/node_modules/node-gyp/bin/node-gyp.js
[ -f "$NODE_GYP" ] || die "node-gyp not found (neither npm's bundled copy nor node_modules/node-gyp)"

# Built in place under node_modules so that gyp's `require('nan')` finds the package's nan.
mkdir -p "$(dirname "$OUT")"
STAGE="${OUT%/}.stage.$$"
rm -rf "$STAGE"
mv "$WORK/pkg" "$STAGE"
trap 'rm -rf "$WORK" "$STAGE"' EXIT
(cd "$STAGE" && node "$NODE_GYP" rebuild --nodedir="$WORK/node" --jobs="$(nproc)" --loglevel=warn >"$WORK/build.log" 2>&1) || {
  tail -40 "$WORK/build.log" >&2
  die "node-gyp failed (log above)"
}
rm -rf "$STAGE/build/Release/obj.target" "$STAGE/build/Release/.deps"

# Every V8/Node/libuv symbol the addon needs must resolve in Bun now, not at first call.
LD_BIND_NOW=1 "$BUN" -e "const k = require('$ROOT/$STAGE/lib/index.js'); if (!k.KafkaJS) process.exit(1); console.log('kafka-bun: loads in Bun, librdkafka ' + k.librdkafkaVersion)" ||
  die "the Bun build does not load in Bun"

echo "$STAMP" >"$STAGE/stamp"
rm -rf "$OUT"
mv "$STAGE" "$OUT"
say "built $OUT"
