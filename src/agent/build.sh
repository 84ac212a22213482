#!/bin/sh
# Builds the agent: a static, reproducible binary for linux/<arch> (amd64 or arm64), standard library only.
# Usage: build.sh <arch> <output>. The one place its build flags live: scripts/build-agent.mjs (cached build on
# this machine) and images/helper/Dockerfile (the helper image's Go stage) both run it.
set -eu
arch="${1:?usage: build.sh <amd64|arm64> <output>}"
out="${2:?usage: build.sh <amd64|arm64> <output>}"
cd "$(dirname "$0")"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" GO111MODULE=off GOFLAGS= \
  go build -trimpath -ldflags="-s -w -buildid=" -o "$out" .
