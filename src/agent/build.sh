#!/bin/sh
# Builds the agent: a static, reproducible binary for linux/<arch> (amd64 or arm64), standard library only.
# Usage: build.sh <arch> <output>. The one place its build flags live: scripts/build-agent.mjs (cached build on
# this machine) and images/helper/Dockerfile (the helper image's Go stage) both run it.
set -eu
arch="${1:?usage: build.sh <amd64|arm64> <output>}"
out="${2:?usage: build.sh <amd64|arm64> <output>}"
cd "$(dirname "$0")"
# A module of its own (go.mod, no dependencies): the binary names no directory, so every checkout, and the image's
# build stage, makes the same bytes. GOTOOLCHAIN=local: the Go at hand builds it, nothing is downloaded.
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" GO111MODULE=on GOFLAGS= GOTOOLCHAIN=local \
  go build -trimpath -buildvcs=false -ldflags="-s -w -buildid=" -o "$out" .
