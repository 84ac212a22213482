// sgr-agent: the in-task side of the driver's channel (helper container of a job task, or the local backend's
// task). A static binary, so the helper image needs no runtime of its own. Configuration by environment:
// SGR_AGENT_SECRET (required; removed from the environment at once so scripts never see it), SGR_AGENT_PORT
// (default 7443, src/config/ports.ts; 0 = any), SGR_AGENT_HOST (default 0.0.0.0), SGR_SHARED (the volume shared
// with the build container, default /sgr), SGR_AGENT_PORT_FILE (write the bound port there once listening),
// SGR_WRITABLE_DIRS (`:`-separated directories opened to every user at start: the builds volume, for non-root job
// images), SGR_TASK_ADDRESS (where the task's services listen, default 127.0.0.1: TASK_ADDRESS_ENV in
// src/driver/backends/build-loop.ts), SGR_ADOPT_DEADLINE_SECONDS (a task started ahead of its job: exit unless a
// driver connects within that many seconds). Protocol: src/driver/channel/protocol.ts (keep in step).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	defaultPort   = 7443
	defaultShared = "/sgr"
	// Where a task's services listen unless SGR_TASK_ADDRESS says otherwise (DEFAULT_TASK_ADDRESS in build-loop.ts).
	defaultTaskAddress = "127.0.0.1"
	// How often a stopping agent checks whether the driver still has results to collect.
	exitPoll = 200 * time.Millisecond
)

func logLine(level, message string) {
	line, _ := json.Marshal(struct {
		Level   string `json:"level"`
		Service string `json:"service"`
		Message string `json:"message"`
	}{level, "sgr-agent", message})
	_, _ = os.Stderr.Write(append(line, '\n'))
}

func logInfo(message string) { logLine("INFO", message) }

func main() {
	if err := run(); err != nil {
		logLine("ERROR", err.Error())
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

func run() error {
	secret := os.Getenv("SGR_AGENT_SECRET")
	_ = os.Unsetenv("SGR_AGENT_SECRET")
	if len(secret) < 32 {
		return errors.New("SGR_AGENT_SECRET is missing or too short")
	}
	port, err := strconv.Atoi(envOr("SGR_AGENT_PORT", strconv.Itoa(defaultPort)))
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("SGR_AGENT_PORT must be a port number, got %q", os.Getenv("SGR_AGENT_PORT"))
	}
	shell, err := detectShell()
	if err != nil {
		return err
	}
	var writable []string
	for _, dir := range strings.Split(os.Getenv("SGR_WRITABLE_DIRS"), ":") {
		if dir != "" {
			writable = append(writable, dir)
		}
	}
	steps := newStepRunner(envOr("SGR_SHARED", defaultShared), shell, writable)
	if err := steps.init(); err != nil {
		return err
	}
	cert, err := selfSignedCertificate("sgr-agent", 8)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(envOr("SGR_AGENT_HOST", "0.0.0.0"), strconv.Itoa(port)))
	if err != nil {
		return err
	}
	bound := listener.Addr().(*net.TCPAddr).Port
	servicesHost := os.Getenv("SGR_TASK_ADDRESS")
	if servicesHost == "" {
		servicesHost = defaultTaskAddress
	}
	deadline, err := adoptDeadline(os.Getenv("SGR_ADOPT_DEADLINE_SECONDS"))
	if err != nil {
		return err
	}
	server := &agentServer{
		steps: steps, log: logInfo, cert: cert, secret: secret, generations: map[string]int{}, servicesHost: servicesHost,
		authenticated: make(chan struct{}),
	}
	go server.serve(listener)
	if deadline > 0 {
		go exitUnlessAdopted(server.authenticated, deadline)
	}
	if file := os.Getenv("SGR_AGENT_PORT_FILE"); file != "" {
		if err := os.WriteFile(file, []byte(fmt.Sprintf("%d\n", bound)), 0o644); err != nil {
			return err
		}
	}
	logInfo(fmt.Sprintf("listening on port %d", bound))
	waitForStop(steps)
	return nil
}

// adoptDeadline parses SGR_ADOPT_DEADLINE_SECONDS: unset means no deadline.
func adoptDeadline(value string) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	seconds, err := strconv.ParseFloat(value, 64)
	if err != nil || seconds <= 0 {
		return 0, fmt.Errorf("SGR_ADOPT_DEADLINE_SECONDS must be a positive number of seconds, got %q", value)
	}
	return time.Duration(seconds * float64(time.Second)), nil
}

// exitUnlessAdopted ends a task started ahead of its job that no driver took in time: the helper is essential, so
// ECS stops the task and its billing. Exit code 0: nothing failed, the job simply went elsewhere.
func exitUnlessAdopted(authenticated <-chan struct{}, deadline time.Duration) {
	select {
	case <-authenticated:
	case <-time.After(deadline):
		logInfo(fmt.Sprintf("speculative job task not adopted: no driver connected within %s; exiting", deadline))
		os.Exit(0)
	}
}

// waitForStop returns once the task is stopping and the driver has every step's result. SIGTERM means the task is
// being stopped (StopTask, Spot interruption: up to 2 minutes' notice). Stopping the steps ourselves would report
// them as the script failing (exit 143); instead we keep serving, so a step that finishes in time reports its real
// result and one that does not ends with the connection, which the driver reports as a system failure with the
// task's stop reason. Once nothing is left to serve, the agent exits rather than hold the task (and its billing)
// until ECS kills it at the stop timeout.
func waitForStop(steps *stepRunner) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	received := <-signals
	logInfo(fmt.Sprintf("%s received: the task is stopping; exiting once the driver has every step's result", signalName(received)))
	for steps.unreleased() > 0 {
		time.Sleep(exitPoll)
	}
	logInfo("no step left to serve: exiting")
}

func signalName(s os.Signal) string {
	if s == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}
