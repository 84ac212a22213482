// sgr-driver: the thin per-stage client gitlab-runner execs for config/prepare/run/cleanup. It forwards argv,
// environment and signals to the long-lived driver daemon over a Unix socket, copies the stage's stdout/stderr
// and exits with the daemon's code. Written in Go because a Node process start alone costs ~45 ms per stage;
// this one starts in a few milliseconds. Wire format: src/driver/daemon/wire.ts (keep in step).
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	frameRequest = 1
	frameStdout  = 2
	frameStderr  = 3
	frameExit    = 4
	frameSignal  = 5
)

func socketPath() string {
	if p := os.Getenv("SGR_DRIVER_SOCKET"); p != "" {
		return p
	}
	return "/tmp/sgr-driver/daemon.sock"
}

func systemFailure() int {
	if n, err := strconv.Atoi(os.Getenv("SYSTEM_FAILURE_EXIT_CODE")); err == nil {
		return n
	}
	return 2
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sgr-driver: "+format+"\n", args...)
	if len(os.Args) > 1 && os.Args[1] == "cleanup" {
		os.Exit(0) // cleanup never fails the job
	}
	os.Exit(systemFailure())
}

// startDaemon spawns the daemon detached, under a lock so concurrent stage clients start only one.
func startDaemon(path string) (net.Conn, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if conn, err := net.Dial("unix", path); err == nil {
		return conn, nil // another client started it while we waited for the lock
	}
	script := os.Getenv("SGR_DRIVER_DAEMON")
	if script == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		script = filepath.Join(filepath.Dir(exe), "daemon.mjs")
	}
	node := os.Getenv("SGR_DRIVER_NODE")
	if node == "" {
		if node, err = exec.LookPath("node"); err != nil {
			return nil, fmt.Errorf("cannot start the driver daemon: node is not on PATH (set SGR_DRIVER_NODE)")
		}
	}
	logFile, err := os.OpenFile(path+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(node, script)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = "/"
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this stage and its process group's signals
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("unix", path); err == nil {
			return conn, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("the driver daemon did not start listening on %s (see %s.log)", path, path)
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	header := make([]byte, 5)
	header[0] = kind
	binary.BigEndian.PutUint32(header[1:], uint32(len(payload)))
	_, err := w.Write(append(header, payload...))
	return err
}

func main() {
	path := socketPath()
	conn, err := net.Dial("unix", path)
	if err != nil {
		if conn, err = startDaemon(path); err != nil {
			fail("%v", err)
		}
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if i := strings.IndexByte(kv, '='); i > 0 {
			env[kv[:i]] = kv[i+1:]
		}
	}
	cwd, _ := os.Getwd()
	request, _ := json.Marshal(map[string]any{"argv": os.Args[1:], "env": env, "cwd": cwd})

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if err := writeFrame(conn, frameRequest, request); err != nil {
		fail("cannot reach the driver daemon: %v", err)
	}
	go func() {
		for sig := range signals {
			name := "SIGTERM"
			if sig == syscall.SIGINT {
				name = "SIGINT"
			}
			writeFrame(conn, frameSignal, []byte(name))
		}
	}()

	// Buffered reads and one reused payload buffer: job logs can be hundreds of MB.
	reader := bufio.NewReaderSize(conn, 512*1024)
	header := make([]byte, 5)
	buffer := make([]byte, 512*1024)
	for {
		if _, err := io.ReadFull(reader, header); err != nil {
			fail("lost the connection to the driver daemon: %v", err)
		}
		length := int(binary.BigEndian.Uint32(header[1:]))
		if length > cap(buffer) {
			buffer = make([]byte, length)
		}
		payload := buffer[:length]
		if _, err := io.ReadFull(reader, payload); err != nil {
			fail("lost the connection to the driver daemon: %v", err)
		}
		switch header[0] {
		case frameStdout:
			os.Stdout.Write(payload)
		case frameStderr:
			os.Stderr.Write(payload)
		case frameExit:
			var exit struct{ Code int }
			if err := json.Unmarshal(payload, &exit); err != nil {
				fail("bad exit frame from the driver daemon")
			}
			os.Exit(exit.Code)
		}
	}
}
