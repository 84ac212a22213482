#!/usr/bin/env bash
# Builds the real gitlab-runner (shell and custom executors) from the Go module proxy, pinned, into a cache
# outside the repository: $TOOLS_DIR/gitlab-runner/<version>/gitlab-runner. Idempotent; called by
# scripts/install-test-tools.sh.
#
# Why not `go install`: the runner's go.mod has replace directives, and its release tags (v19.x) are not importable
# versions (no /v19 suffix), so only a pseudo-version of a commit resolves and the build must run inside the
# downloaded module. The proxy also refuses a few of its dependencies ("This module version is not available"):
#   gitlab.com/gitlab-org/step-runner, gitlab.com/gitlab-org/moa, gitlab.com/gitlab-org/labkit/v2,
#   gitlab.com/gitlab-org/fleeting/{fleeting,taskscaler,nesting}, gitlab.com/ajwalker/phrasestream and the
#   runner's own nested module helpers/runner_wrapper/api.
# None of them is on the path of a shell or custom executor job: they serve CI steps (`run:`), job inputs
# (`${{ }}` expressions), usage billing events, the runner wrapper's gRPC API, proxy-exec masking and the
# fleeting autoscalers. So this script replaces them with small stand-ins (written below, ours, not GitLab
# code) that return "not supported in this build" errors, and builds a main with only the shell and custom
# executors and the S3 cache adapters. Everything else is the unmodified runner source from the proxy.
set -euo pipefail

GLR_MODULE="gitlab.com/gitlab-org/gitlab-runner"
# Commit fc1f1862bd91 (2026-09-03), whose VERSION file says 19.4.0: the newest commit the proxy serves.
GLR_PSEUDO_VERSION="v1.11.1-0.20260903214710-fc1f1862bd91"
GLR_VERSION="19.4.0"
GLR_REVISION="fc1f1862bd91"
# Bump when the stand-ins or the build recipe change, so cached binaries are rebuilt.
RECIPE_REVISION="1"

TOOLS_DIR="${SGR_TOOLS_DIR:-$HOME/.cache/serverless-gitlab-runner}"
# With a target architecture (`install-gitlab-runner.sh amd64|arm64`): a static build (CGO off, like GitLab's
# released binaries) into linux-<arch>/, for the stand-in base images (scripts/images/). Without: the host build
# the tests run.
TARGET_ARCH="${1:-}"
case "$TARGET_ARCH" in
  "") DEST_DIR="$TOOLS_DIR/gitlab-runner/$GLR_VERSION"; BUILD_ENV=() ;;
  amd64 | arm64) DEST_DIR="$TOOLS_DIR/gitlab-runner/$GLR_VERSION/linux-$TARGET_ARCH"
    BUILD_ENV=(CGO_ENABLED=0 GOOS=linux "GOARCH=$TARGET_ARCH") ;;
  *) printf '[install-gitlab-runner] ERROR: unknown architecture %s (amd64 or arm64)\n' "$TARGET_ARCH" >&2; exit 1 ;;
esac
DEST="$DEST_DIR/gitlab-runner"
STAMP="$GLR_PSEUDO_VERSION recipe-$RECIPE_REVISION${TARGET_ARCH:+ linux-$TARGET_ARCH}"

log() { printf '[install-gitlab-runner] %s\n' "$*"; }
die() { printf '[install-gitlab-runner] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -x "$DEST" && -f "$DEST_DIR/.stamp" && "$(cat "$DEST_DIR/.stamp")" == "$STAMP" ]]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is needed to build gitlab-runner (go 1.26 or newer on PATH)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to prepare the gitlab-runner build"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sgr-gitlab-runner.XXXXXX")"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

log "downloading $GLR_MODULE@$GLR_PSEUDO_VERSION from the Go module proxy"
download_json="$(go mod download -json "$GLR_MODULE@$GLR_PSEUDO_VERSION" 2>&1 || true)"
module_dir="$(printf '%s' "$download_json" | python3 -c '
import json, sys
data = json.loads(sys.stdin.read() or "{}")
if data.get("Error") or not data.get("Dir"):
    sys.exit(data.get("Error") or "no module directory in go mod download output")
print(data["Dir"])
')" || die "go mod download failed: $download_json"

cp -r "$module_dir" "$WORK/src"
chmod -R u+w "$WORK/src"
[[ "$(cat "$WORK/src/VERSION")" == "$GLR_VERSION" ]] || die "unexpected VERSION $(cat "$WORK/src/VERSION") (want $GLR_VERSION)"

# --- Stand-ins for the modules the proxy refuses -------------------------------------------------------------
S="$WORK/stubs"
mk() { # mk MODULE_PATH REL_DIR:PACKAGE_NAME...  (creates the module with empty packages; files are written below)
  local mod=$1; shift
  mkdir -p "$S/$mod"
  printf 'module %s\n\ngo 1.23\n' "$mod" >"$S/$mod/go.mod"
  for p in "$@"; do mkdir -p "$S/$mod/${p%%:*}"; done
}
mk gitlab.com/ajwalker/phrasestream addmask:addmask
mk gitlab.com/gitlab-org/labkit/v2 events/snowplow:snowplow events/snowplow/metrics:metrics events/snowplow/oidc:oidc fields:fields
mk gitlab.com/gitlab-org/moa .:moa ast:ast value:value
mk gitlab.com/gitlab-org/step-runner pkg/api:api pkg/api/client:client pkg/api/client/extended:extended \
  pkg/api/expression:expression pkg/api/proxy:proxy pkg/di:di pkg/runner:runner \
  pkg/runner/gracefulexitcmd:gracefulexitcmd proto:proto schema/v1:schema
mk gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api .:api server:server
mk gitlab.com/gitlab-org/fleeting/fleeting
mk gitlab.com/gitlab-org/fleeting/fleeting/metrics/prometheus
mk gitlab.com/gitlab-org/fleeting/nesting
mk gitlab.com/gitlab-org/fleeting/taskscaler
mk gitlab.com/gitlab-org/fleeting/taskscaler/metrics/prometheus

cat > "$S"/gitlab.com/ajwalker/phrasestream/addmask/stub.go <<'GO'
// Package addmask: stand-in passing output through unmasked (proxy-exec masking is unused by shell/custom jobs).
package addmask

import "io"

type AddMask struct{ writers []io.WriteCloser }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func New(db any, w ...io.Writer) (*AddMask, error) {
	m := &AddMask{}
	for _, x := range w {
		m.writers = append(m.writers, nopCloser{x})
	}
	return m, nil
}
func (m *AddMask) Get(i int) io.WriteCloser { return m.writers[i] }
func (m *AddMask) Close() error             { return nil }
GO

L="$S"/gitlab.com/gitlab-org/labkit/v2
cat > "$L"/fields/stub.go <<'GO'
// Package fields: log field names (stand-in for the module the proxy does not serve).
package fields

const (
	DurationS      = "duration_s"
	HTTPStatusCode = "status_code"
)

// DeprecatedField maps a legacy field alias to its standard name. Empty: this build keeps legacy names.
type DeprecatedField struct{ Standard string }

var (
	Deprecated     = map[string]DeprecatedField{}
	VariantVersion = map[string]int{}
)
GO
cat > "$L"/events/snowplow/metrics/stub.go <<'GO'
package metrics

type CollectorOption func()

func WithCollectorNamespace(string) CollectorOption                   { return func() {} }
func WithCollectorBatchDeliveryDurationBuckets([]float64) CollectorOption { return func() {} }
GO
cat > "$L"/events/snowplow/oidc/stub.go <<'GO'
package oidc

type Option func()
type Source struct{}

func WithSkipIfUnsupportedCloud(bool) Option { return func() {} }
func NewSource(...Option) *Source           { return &Source{} }
GO
cat > "$L"/events/snowplow/stub.go <<'GO'
// Package snowplow: usage billing events are not sent by this build.
package snowplow

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"gitlab.com/gitlab-org/labkit/v2/events/snowplow/metrics"
	"gitlab.com/gitlab-org/labkit/v2/events/snowplow/oidc"
)

var errUnsupported = errors.New("snowplow usage events are not supported in this build")

type SendResult struct {
	EventCount int
	StatusCode int
	Err        error
}
type SendCallback func(successes []SendResult, failures []SendResult)
type EmitterOption func()
type Emitter struct{}
type Tracker struct{}
type BillingEventRequiredInput struct {
	Category, EventType, Realm, UnitOfMeasure string
	Quantity                                  float64
}
type BillingEventOptionalInput struct {
	Subject, DeploymentType, InstanceID, UniqueInstanceID string
	Metadata                                              map[string]any
	ProjectID, NamespaceID, RootNamespaceID, OrganizationID int64
}

func WithCallback(SendCallback) EmitterOption                             { return func() {} }
func WithTokenSource(*oidc.Source) EmitterOption                          { return func() {} }
func WithMetricsCollectorOptions(...metrics.CollectorOption) EmitterOption { return func() {} }
func NewEmitter(string, ...EmitterOption) (*Emitter, error)               { return nil, errUnsupported }
func NewTracker(string, *Emitter) (*Tracker, error)                       { return nil, errUnsupported }
func (e *Emitter) Collector() prometheus.Collector                        { return nil }
func (t *Tracker) Stop()                                                  {}
func (t *Tracker) TrackBillingEventWithOptionalInput(BillingEventRequiredInput, BillingEventOptionalInput) error {
	return errUnsupported
}
GO
cat > "$L"/go.mod <<'GO'
module gitlab.com/gitlab-org/labkit/v2

go 1.23

require github.com/prometheus/client_golang v1.23.2
GO

M="$S"/gitlab.com/gitlab-org/moa
cat > "$M"/go.mod <<'GO'
module gitlab.com/gitlab-org/moa

go 1.23
GO
cat > "$M"/value/stub.go <<'GO'
// Package value: the minimum of moa's value model that job payload decoding needs (the module is not served).
package value

import (
	"encoding/json"
	"errors"
	"fmt"
)

type Kind int

const (
	NullKind Kind = iota
	StringKind
	NumberKind
	BoolKind
	ArrayKind
	ObjectKind
)

func (k Kind) String() string {
	return [...]string{"null", "string", "number", "bool", "array", "object"}[k]
}

var (
	ErrAttributeNotFound = errors.New("attribute not found")
	ErrInvalidKey        = errors.New("invalid key")
)

// Mapper is an object-like value.
type Mapper interface {
	Attr(string) (Value, error)
}

type Value struct {
	kind  Kind
	raw   any
	marks uint16
}

func Null() Value             { return Value{} }
func String(s string) Value   { return Value{kind: StringKind, raw: s} }
func Object(m Mapper) Value   { return Value{kind: ObjectKind, raw: m} }
func (v Value) Kind() Kind    { return v.kind }
func (v Value) HasMarks(m uint16) bool { return v.marks&m != 0 }
func (v Value) WithMarks(m uint16) Value {
	v.marks |= m
	return v
}
func (v Value) String() string {
	if s, ok := v.raw.(string); ok {
		return s
	}
	b, _ := json.Marshal(v.raw)
	return string(b)
}
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(v.raw) }
func (v *Value) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch x.(type) {
	case nil:
		*v = Value{}
	case string:
		*v = Value{kind: StringKind, raw: x}
	case float64:
		*v = Value{kind: NumberKind, raw: x}
	case bool:
		*v = Value{kind: BoolKind, raw: x}
	case []any:
		*v = Value{kind: ArrayKind, raw: x}
	case map[string]any:
		*v = Value{kind: ObjectKind, raw: x}
	default:
		return fmt.Errorf("unsupported value %T", x)
	}
	return nil
}
GO
cat > "$M"/ast/stub.go <<'GO'
package ast

type Visitor interface {
	Enter(Expr) (Visitor, error)
	Exit(Expr) (Expr, error)
}

type Expr interface {
	Walk(Visitor) (Expr, error)
}

// Template is a parsed template (never produced by this build's parser).
type Template struct{}

func (t *Template) Walk(v Visitor) (Expr, error) { return t, nil }
GO
cat > "$M"/stub.go <<'GO'
// Package moa: expression templates (job inputs) are not supported by this build.
package moa

import (
	"errors"

	"gitlab.com/gitlab-org/moa/ast"
)

var ErrUnsupported = errors.New("moa expressions (job inputs) are not supported in this build")

func ParseTemplate(string) (ast.Expr, error) { return nil, ErrUnsupported }
func EscapeTemplate(s string) string         { return s }
GO

R="$S"/gitlab.com/gitlab-org/step-runner
cat > "$R"/go.mod <<'GO'
module gitlab.com/gitlab-org/step-runner

go 1.23

require (
	gitlab.com/gitlab-org/moa v0.0.0
	google.golang.org/grpc v1.83.0
	google.golang.org/protobuf v1.36.12
)
GO
cat > "$R"/schema/v1/stub.go <<'GO'
// Package schema: CI steps (`run:`) are not supported by this build; the types only carry data.
package schema

type StepInputs map[string]any

type Step struct {
	Name   *string    `json:"name,omitempty" yaml:"name,omitempty"`
	Step   string     `json:"step,omitempty" yaml:"step,omitempty"`
	Script string     `json:"script,omitempty" yaml:"script,omitempty"`
	Inputs StepInputs `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	Run    []Step     `json:"run,omitempty" yaml:"run,omitempty"`
}
GO
cat > "$R"/pkg/api/expression/stub.go <<'GO'
package expression

import (
	"gitlab.com/gitlab-org/moa"
	"gitlab.com/gitlab-org/moa/ast"
	"gitlab.com/gitlab-org/moa/value"
)

const Sensitive uint16 = 1

type Input struct {
	Key   string
	Value value.Value
}

type Evaluator struct{}

func NewEvaluator(value.Value) (*Evaluator, error) { return &Evaluator{}, nil }
func (e *Evaluator) Eval(string, ast.Expr) (value.Value, error) {
	return value.Null(), moa.ErrUnsupported
}
GO
cat > "$R"/pkg/api/stub.go <<'GO'
package api

import (
	"net"
	"os"
	"path/filepath"
)

func DefaultSocketPath() string             { return filepath.Join(os.TempDir(), "step-runner.sock") }
func SocketAddr(path string) *net.UnixAddr { return &net.UnixAddr{Name: path, Net: "unix"} }
GO
cat > "$R"/pkg/api/client/stub.go <<'GO'
package client

type ErrorKind int

const (
	ErrorUnknown ErrorKind = iota
	ErrorInternal
	ErrorStepFailure
	ErrorCancelled
	ErrorTimeout
)

type State int

const (
	StateUnknown State = iota
	StateSuccess
	StateFailure
	StateCancelled
)

func (s State) String() string { return [...]string{"unknown", "success", "failure", "cancelled"}[s] }

type Status struct {
	State     State
	ErrorKind ErrorKind
	Message   string
}

type Variable struct {
	Key, Value   string
	File, Masked bool
}

type RunRequest struct {
	Id        string
	Timeout   any
	WorkDir   string
	BuildDir  string
	Env       map[string]string
	Steps     string
	Variables []Variable
}
GO
cat > "$R"/pkg/api/client/extended/stub.go <<'GO'
package extended

import (
	"context"
	"errors"
	"io"

	"gitlab.com/gitlab-org/step-runner/pkg/api/client"
	"google.golang.org/grpc"
)

var errUnsupported = errors.New("step-runner is not available in this build")

type Dialer interface{ Dial() (*grpc.ClientConn, error) }
type FollowOutput struct{ Logs io.Writer }
type Client struct{}

func New(Dialer) (*Client, error) { return nil, errUnsupported }
func (c *Client) CloseConn() error { return nil }
func (c *Client) Cancel(context.Context, string) error { return errUnsupported }
func (c *Client) RunAndFollow(context.Context, *client.RunRequest, *FollowOutput) (client.Status, error) {
	return client.Status{}, errUnsupported
}
GO
cat > "$R"/proto/stub.go <<'GO'
package proto

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

type ValueType int

const (
	ValueType_string ValueType = iota
	ValueType_number
	ValueType_boolean
	ValueType_struct
	ValueType_array
)

type Spec_Content_Input struct {
	Type      ValueType
	Default   *structpb.Value
	Sensitive bool
}
type Spec_Content struct {
	Inputs map[string]*Spec_Content_Input
}
type Spec struct{ Spec *Spec_Content }

func (s *Spec) GetSpec() *Spec_Content {
	if s == nil {
		return nil
	}
	return s.Spec
}
func (c *Spec_Content) GetInputs() map[string]*Spec_Content_Input {
	if c == nil {
		return nil
	}
	return c.Inputs
}

type StepRunnerServer interface{}

func RegisterStepRunnerServer(*grpc.Server, StepRunnerServer) {}
GO
cat > "$R"/pkg/runner/stub.go <<'GO'
package runner

import (
	"context"
	"io"
	"time"

	"gitlab.com/gitlab-org/step-runner/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

type Kind int

const (
	KindString Kind = iota
	KindBool
	KindList
)

type BuiltinResult struct{}

type BuiltinContext interface {
	GetJobVars() map[string]*structpb.Value
	GetEnvs() map[string]string
	GetEnvList() []string
	Pipe() (io.Writer, io.Writer)
	WorkDir() string
	GracefulExitDelay() time.Duration
	GetInput(name string, kind Kind) (*structpb.Value, error)
	GetInputWithDefault(name string, kind Kind, inputs map[string]*proto.Spec_Content_Input) (*structpb.Value, error)
	ListenCancel(ctx context.Context) (context.Context, context.CancelFunc)
}

type BuiltinFunction interface {
	Spec() *proto.Spec
	Run(ctx context.Context, builtinCtx BuiltinContext) (BuiltinResult, error)
}
GO
cat > "$R"/pkg/runner/gracefulexitcmd/stub.go <<'GO'
// Package gracefulexitcmd: a command that gets SIGTERM on cancel, then SIGKILL after a delay.
package gracefulexitcmd

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

type Cmd struct{ *exec.Cmd }

func New(ctx context.Context, delay time.Duration, name string, args ...string) *Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = delay
	return &Cmd{c}
}
GO
cat > "$R"/pkg/di/stub.go <<'GO'
package di

import (
	"errors"
	"log/slog"

	"gitlab.com/gitlab-org/step-runner/pkg/runner"
)

type Container struct{}

func NewContainer(...func(*Container)) *Container                      { return &Container{} }
func WithBuiltinFunc(string, runner.BuiltinFunction) func(*Container) { return func(*Container) {} }
func WithOperatorLogger(*slog.Logger) func(*Container)               { return func(*Container) {} }
func (c *Container) StepRunnerService() (any, error) {
	return nil, errors.New("step-runner is not available in this build")
}
GO
cat > "$R"/pkg/api/proxy/stub.go <<'GO'
package proxy

import (
	"errors"
	"io"
	"net"
)

func Proxy(io.Reader, io.Writer, net.Conn) error { return errors.New("step-runner is not available in this build") }
GO

W="$S"/gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api
cat > "$W"/stub.go <<'GO'
// Package api: the runner wrapper's gRPC API is not part of this build (its module is not served).
package api

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
)

type Status int

const (
	StatusUnknown Status = iota
	StatusRunning
	StatusInShutdown
	StatusStopped
)

func (s Status) String() string {
	return [...]string{"unknown", "running", "in_shutdown", "stopped"}[s]
}

var ErrProcessNotInitialized = errors.New("process not initialized")

type ShutdownCallbackDef interface {
	URL() string
	Method() string
}
type InitGracefulShutdownRequest interface{ ShutdownCallbackDef() ShutdownCallbackDef }
type ShutdownCallback interface{ Run(ctx context.Context) }

type noopCallback struct{}

func (noopCallback) Run(context.Context) {}

func NewShutdownCallback(logrus.FieldLogger, ShutdownCallbackDef) ShutdownCallback { return noopCallback{} }
GO
cat > "$W"/server/stub.go <<'GO'
package server

import (
	"net"

	"github.com/sirupsen/logrus"
)

type Server struct{}

func New(logrus.FieldLogger, any) *Server { return &Server{} }
func (s *Server) Listen(net.Listener)     {}
func (s *Server) Stop()                   {}
GO
cat > "$W"/go.mod <<'GO'
module gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api

go 1.22

require github.com/sirupsen/logrus v1.10.0
GO


# --- Point go.mod at the stand-ins and keep only the shell and custom executors in main -----------------------
cd "$WORK/src"
python3 - "$S" <<'PY'
import re, sys, os
stubs = sys.argv[1]
gomod = open("go.mod").read()
nested = "replace gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api => ./helpers/runner_wrapper/api\n"
if nested not in gomod:
    sys.exit("go.mod no longer has the runner_wrapper/api replace this recipe expects")
gomod = gomod.replace(nested, "")
for root, dirs, files in os.walk(stubs):
    if "go.mod" in files:
        mod = os.path.relpath(root, stubs)
        gomod += f"replace {mod} => {root}\n"
open("go.mod", "w").write(gomod)

main = open("main.go").read()
dropped_imports = [
    "commands/fleeting", "commands/steps", "executors/docker", "executors/docker/autoscaler",
    "executors/docker/machine", "executors/instance", "executors/kubernetes", "executors/parallels",
    "executors/ssh", "executors/virtualbox", "cache/azure", "cache/gcs", "cache/gcsv2",
    "helpers/secrets/resolvers/aws", "helpers/secrets/resolvers/azure_key_vault",
    "helpers/secrets/resolvers/gcp_secret_manager", "helpers/secrets/resolvers/gitlab_secrets_manager",
    "helpers/secrets/resolvers/vault",
]
lines = main.split("\n")
kept = [l for l in lines if not any(l.strip().endswith(f'gitlab-runner/{d}"') for d in dropped_imports)]
if len(lines) - len(kept) != len(dropped_imports):
    sys.exit("main.go imports differ from what this recipe expects")
main = "\n".join(kept)
for old in ["\t\tfleeting.NewCommand(),\n", "\t\tsteps.NewCommand(),\n", "\tdockerProvider := docker.NewProvider()\n"]:
    if old not in main:
        sys.exit(f"main.go no longer contains {old.strip()!r}")
    main = main.replace(old, "")
main, n = re.subn(r'\t\t"instance":.*?\n\t\}\)', "\t})", main, flags=re.S)
if n != 1:
    sys.exit("main.go executor registry differs from what this recipe expects")
open("main.go", "w").write(main)
PY

log "building gitlab-runner $GLR_VERSION ($GLR_REVISION); this takes several minutes the first time"
ns="gitlab.com/gitlab-org/gitlab-runner/common"
mkdir -p "$DEST_DIR"
env "${BUILD_ENV[@]}" GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X $ns.NAME=gitlab-runner -X $ns.VERSION=$GLR_VERSION -X $ns.REVISION=$GLR_REVISION -X $ns.BRANCH=$GLR_PSEUDO_VERSION" \
  -o "$DEST.tmp" . || die "go build of gitlab-runner failed (see the errors above)"
mv -f "$DEST.tmp" "$DEST"
echo "$STAMP" >"$DEST_DIR/.stamp"
if [[ -z "$TARGET_ARCH" ]]; then
  log "gitlab-runner ready: $("$DEST" --version | head -1) at $DEST"
else
  log "gitlab-runner ready (static, linux/$TARGET_ARCH) at $DEST"
fi
