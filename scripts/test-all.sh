#!/usr/bin/env bash
# The one command that runs every test: types, lint, unit, integration and end-to-end tiers.
# Every tier runs; a missing tool fails its tier with a message saying how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [[ "$node_major" != "24" ]]; then
  echo "tests must run on Node 24 (the Lambda runtime); found $(node --version). Run 'npm ci'." >&2
  exit 1
fi

echo "== typecheck"; tsc --noEmit -p tsconfig.json
echo "== lint"; biome check .
# The agent (Go, stdlib only): gofmt, vet and its Go tests; the vitest tier runs the built binary against the driver.
echo "== agent (go)"
unformatted="$(gofmt -l src/agent)"
if [[ -n "$unformatted" ]]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
(cd src/agent && export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS= && go vet . && go test .)
# The container images the image tests run, built here when they changed (their tests would build them too, but
# next to the other tests on a small machine). A failure here is reported by the image tests themselves.
echo "== images"; tsx scripts/images/build.ts || echo "the images could not be built: the image tests will say why"
echo "== image builders"; tsx scripts/images/builders.ts || echo "the image builders could not be built: test/builders will say why"
echo "== tests (unit, integration, end-to-end)"
results="$(mktemp -t sgr-vitest-XXXXXX.json)"
trap 'rm -f "$results"' EXIT
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$results" || true
exit "$status"
