package main

// Runs the job's stage scripts inside the task and keeps each step's output as a file on the shared volume, so the
// channel can replay it from any offset after a reconnect. Helper steps run as child processes of the agent; build
// steps are handed to the build container's shell loop (src/driver/backends/build-loop.ts) through the control FIFO.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	controlFifo = "ctl"
	stepsDir    = "steps"
	// Time a step gets between SIGTERM and SIGKILL when cancelled (the driver must stop it within 2 s).
	stopGrace = time.Second
	pollEvery = 50 * time.Millisecond
	// How long the first build step waits for the build container's loop to read the control FIFO.
	buildLoopWait = 10 * time.Second
)

var validStepID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

type step struct {
	id      string
	target  string
	outPath string
	// ready is closed once the step's files exist and it was launched (or readyErr says why not).
	ready    chan struct{}
	readyErr error
	// wake carries "something changed" (output written, exit) to a stream waiting for it.
	wake chan struct{}

	mu            sync.Mutex
	exitCode      int
	exited        bool
	stopRequested bool
	helperPid     int
}

func (s *step) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// changed waits for the next sign of progress: true; or a poll interval: false.
func (s *step) changed() bool {
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	select {
	case <-s.wake:
		return true
	case <-timer.C:
		return false
	}
}

func (s *step) finish(code int) {
	s.mu.Lock()
	if !s.exited {
		s.exited, s.exitCode = true, code
	}
	s.mu.Unlock()
	s.notify()
}

func (s *step) result() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitCode, s.exited
}

type stepRunner struct {
	sharedDir    string
	stepsDir     string
	helperShell  string
	writableDirs []string

	mu    sync.Mutex
	steps map[string]*step
}

func newStepRunner(sharedDir, helperShell string, writableDirs []string) *stepRunner {
	return &stepRunner{
		sharedDir:    sharedDir,
		stepsDir:     filepath.Join(sharedDir, stepsDir),
		helperShell:  helperShell,
		writableDirs: writableDirs,
		steps:        map[string]*step{},
	}
}

// init creates the shared layout the build loop waits for.
func (r *stepRunner) init() error {
	if err := os.MkdirAll(r.stepsDir, 0o755); err != nil {
		return err
	}
	// The build container may run as another user (docker.user): it must be able to write outputs.
	if err := os.Chmod(r.stepsDir, 0o777|os.ModeSticky); err != nil {
		return err
	}
	// Volumes ECS creates are root's, mode 0755: open those the job image writes (the builds volume) to its user,
	// whoever that is.
	for _, dir := range r.writableDirs {
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
	}
	if err := r.ensureFifo(); err != nil {
		return err
	}
	go r.watch()
	return nil
}

func (r *stepRunner) ensureFifo() error {
	fifo := filepath.Join(r.sharedDir, controlFifo)
	if info, err := os.Lstat(fifo); err == nil {
		if info.Mode()&os.ModeNamedPipe != 0 {
			return nil
		}
		_ = os.Remove(fifo)
	}
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		return fmt.Errorf("mkfifo %s: %w", fifo, err)
	}
	return os.Chmod(fifo, 0o666) // whatever the umask
}

// watch wakes the streams of a step when its files change (inotify); streams also poll, so a lost event, or a
// volume that reports none, costs only a poll interval.
func (r *stepRunner) watch() {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, r.stepsDir, syscall.IN_MODIFY|syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO|syscall.IN_CREATE); err != nil {
		return
	}
	buffer := make([]byte, 64*1024)
	for {
		n, err := syscall.Read(fd, buffer)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for offset := 0; offset+syscall.SizeofInotifyEvent <= n; {
			event := (*syscall.InotifyEvent)(unsafePointer(&buffer[offset]))
			nameBytes := buffer[offset+syscall.SizeofInotifyEvent : offset+syscall.SizeofInotifyEvent+int(event.Len)]
			offset += syscall.SizeofInotifyEvent + int(event.Len)
			name := strings.TrimRight(string(nameBytes), "\x00")
			r.fileChanged(name)
		}
	}
}

func (r *stepRunner) fileChanged(name string) {
	var id string
	switch {
	case strings.HasSuffix(name, ".out"):
		id = strings.TrimSuffix(name, ".out")
	case strings.HasSuffix(name, ".rc"):
		id = strings.TrimSuffix(name, ".rc")
	default:
		return
	}
	s := r.get(id)
	if s == nil {
		return
	}
	if strings.HasSuffix(name, ".rc") {
		r.readBuildExit(s)
	} else {
		s.notify()
	}
}

func (r *stepRunner) get(id string) *step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.steps[id]
}

// unreleased counts steps the driver has not released yet (running, or finished with a result it has not collected).
func (r *stepRunner) unreleased() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

// register records a step before any slow work, so an attach that follows at once finds it; starting a step that
// exists returns it (the driver resends `start` after a reconnect).
func (r *stepRunner) register(id, target string) (*step, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing := r.steps[id]; existing != nil {
		return existing, false, nil
	}
	if !validStepID.MatchString(id) {
		quoted, _ := jsonString(id)
		return nil, false, fmt.Errorf("invalid step id %s", quoted)
	}
	if target != "helper" && target != "build" {
		return nil, false, fmt.Errorf("invalid step target %q", target)
	}
	s := &step{
		id:      id,
		target:  target,
		outPath: filepath.Join(r.stepsDir, id+".out"),
		ready:   make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	r.steps[id] = s
	return s, true, nil
}

// launch writes the step's files and starts it; on failure the step is forgotten (the driver may start it again).
func (r *stepRunner) launch(s *step, script string) error {
	err := r.launchStep(s, script)
	if err != nil {
		r.mu.Lock()
		delete(r.steps, s.id)
		r.mu.Unlock()
	}
	s.readyErr = err
	close(s.ready)
	return err
}

func (r *stepRunner) launchStep(s *step, script string) error {
	scriptPath := filepath.Join(r.stepsDir, s.id+".sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(s.outPath, nil, 0o666); err != nil {
		return err
	}
	if err := os.Chmod(s.outPath, 0o666); err != nil {
		return err
	}
	if s.target == "helper" {
		return r.startHelper(s, scriptPath)
	}
	return r.startBuild(s)
}

func (r *stepRunner) startHelper(s *step, scriptPath string) error {
	out, err := os.OpenFile(s.outPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	// umask 0000, as the Docker executor runs its helper: the checkout, caches and artifacts the helper writes
	// stay writable by a job image whose user is not root.
	cmd := exec.Command("/bin/sh", "-c", `umask 0000 && exec "$0" "$1"`, r.helperShell, scriptPath)
	cmd.Stdout, cmd.Stderr = out, out
	// Own session and process group: a stop reaches everything the script started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		_, _ = fmt.Fprintf(out, "sgr-agent: cannot start %s: %s\n", r.helperShell, err)
		s.finish(127)
		return nil
	}
	s.mu.Lock()
	s.helperPid = cmd.Process.Pid
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		s.finish(exitCodeOf(cmd.ProcessState))
	}()
	return nil
}

// exitCodeOf: the exit status, or 128 + the signal that ended the process (as a shell reports it).
func exitCodeOf(state *os.ProcessState) int {
	if status, ok := state.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal())
	}
	return state.ExitCode()
}

func (r *stepRunner) startBuild(s *step) error {
	fifo := r.openBuildLoop()
	if fifo == nil {
		// Not the script's failure: the driver reports it as a system failure.
		return errors.New("the build container is not running (does the job image have a POSIX shell, sh?)")
	}
	defer fifo.Close()
	_, err := fifo.WriteString("run " + s.id + "\n")
	return err
}

// openBuildLoop opens the control FIFO for writing once the build container's loop reads it. Non-blocking opens
// fail at once (ENXIO) while no reader is there, and the loop starts after the helper and looks for the FIFO once
// a second, so the first step may come before it reads: retried for buildLoopWait, then nil.
func (r *stepRunner) openBuildLoop() *os.File {
	deadline := time.Now().Add(buildLoopWait)
	for {
		fifo, err := os.OpenFile(filepath.Join(r.sharedDir, controlFifo), os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return fifo
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readBuildExit takes a build step's exit code from <id>.rc once the loop has written it whole.
func (r *stepRunner) readBuildExit(s *step) {
	if _, exited := s.result(); exited {
		return
	}
	text, err := os.ReadFile(filepath.Join(r.stepsDir, s.id+".rc"))
	if err != nil || !strings.HasSuffix(string(text), "\n") {
		return
	}
	if code, err := strconv.Atoi(strings.TrimSpace(string(text))); err == nil && code >= 0 {
		s.finish(code)
	}
}

// refresh polls what events may have missed.
func (r *stepRunner) refresh(s *step) {
	if s.target == "build" {
		r.readBuildExit(s)
	}
}

// stop sends SIGTERM to a step's processes, SIGKILL after stopGrace.
func (r *stepRunner) stop(id string) {
	s := r.get(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.exited || s.stopRequested {
		s.mu.Unlock()
		return
	}
	s.stopRequested = true
	pid := s.helperPid
	s.mu.Unlock()
	if s.target == "helper" {
		if pid == 0 {
			return
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		time.AfterFunc(stopGrace, func() {
			if _, exited := s.result(); !exited {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		})
		return
	}
	loopChild := r.buildStepPid(id)
	if loopChild == 0 {
		return
	}
	// The loop's subshell records the exit code, so signal what runs below it, not the subshell itself.
	signalAll(descendants(loopChild), syscall.SIGTERM)
	time.AfterFunc(stopGrace, func() {
		if _, exited := s.result(); !exited && isAlive(loopChild) {
			signalAll(descendants(loopChild), syscall.SIGKILL)
		}
	})
}

func (r *stepRunner) buildStepPid(id string) int {
	for i := 0; i < 20; i++ {
		text, err := os.ReadFile(filepath.Join(r.stepsDir, id+".pid"))
		if err == nil && strings.HasSuffix(string(text), "\n") {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(text))); err == nil && pid > 0 {
				return pid
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return 0
}

// release forgets a finished step and deletes its files (the script holds job secrets).
func (r *stepRunner) release(id string) {
	r.mu.Lock()
	s := r.steps[id]
	if s == nil {
		r.mu.Unlock()
		return
	}
	if _, exited := s.result(); !exited {
		r.mu.Unlock()
		return
	}
	delete(r.steps, id)
	r.mu.Unlock()
	for _, ext := range []string{"sh", "out", "rc", "pid"} {
		_ = os.Remove(filepath.Join(r.stepsDir, id+"."+ext))
	}
}
