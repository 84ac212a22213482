#!/usr/bin/env bash
# Builds the AWS Lambda Runtime Interface Emulator from the Go module proxy, pinned, into the tool cache:
# $TOOLS_DIR/aws-lambda-rie/<version>/aws-lambda-rie. The end-to-end tier runs every Lambda bundle under it, as
# Lambda runs them (Runtime API, timeouts). Idempotent; called by scripts/install-test-tools.sh.
set -euo pipefail

RIE_MODULE="github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
# The proxy serves no release tags of this module, only pseudo-versions of commits.
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"
TOOLS_DIR="${SGR_TOOLS_DIR:-$HOME/.cache/serverless-gitlab-runner}"
DEST_DIR="$TOOLS_DIR/aws-lambda-rie/$RIE_VERSION"

if [[ -x "$DEST_DIR/aws-lambda-rie" ]]; then exit 0; fi
command -v go >/dev/null 2>&1 || { echo "[install-lambda-rie] ERROR: Go is needed to build aws-lambda-rie" >&2; exit 1; }
echo "[install-lambda-rie] building $RIE_MODULE@$RIE_VERSION"
mkdir -p "$DEST_DIR.tmp"
GOBIN="$DEST_DIR.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$RIE_MODULE@$RIE_VERSION"
rm -rf "$DEST_DIR" && mv "$DEST_DIR.tmp" "$DEST_DIR"
