package main

// The agent's TLS server: authenticates the driver (channel.go), starts steps, streams their output from any
// offset and reports exit codes. One connection per job normally; a reconnect simply attaches again, and a newer
// attach of a step supersedes a stream still running on a dead connection.

import (
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

const (
	readChunk     = 256 * 1024
	coalesceBelow = 64 * 1024
	coalesceFor   = 2 * time.Millisecond
	helloTimeout  = 10 * time.Second
)

// driverMessage: every field any op carries (src/driver/channel/protocol.ts, DriverMessage).
type driverMessage struct {
	Op        string  `json:"op"`
	StepID    string  `json:"stepId"`
	Target    string  `json:"target"`
	Script    string  `json:"script"`
	Offset    int64   `json:"offset"`
	ID        int64   `json:"id"`
	Ports     []int   `json:"ports"`
	TimeoutMs float64 `json:"timeoutMs"`
	Secret    string  `json:"secret"`
}

type exitMessage struct {
	Op     string `json:"op"`
	StepID string `json:"stepId"`
	Code   int    `json:"code"`
	Length int64  `json:"length"`
}

type stepErrorMessage struct {
	Op      string `json:"op"`
	StepID  string `json:"stepId"`
	Message string `json:"message"`
}

type portsReadyMessage struct {
	Op       string `json:"op"`
	ID       int64  `json:"id"`
	Ready    []int  `json:"ready"`
	NotReady []int  `json:"notReady"`
}

type opMessage struct {
	Op string `json:"op"`
}

type agentServer struct {
	steps *stepRunner
	log   func(string)
	cert  tls.Certificate
	// servicesHost is where the task's services listen (SGR_TASK_ADDRESS, default 127.0.0.1).
	servicesHost string
	// authenticated is closed when a driver first proves the job secret (a speculative task is then adopted).
	authenticated     chan struct{}
	authenticatedOnce sync.Once

	mu sync.Mutex
	// secret is the job secret: the one from the task's environment until the driver rotates it.
	secret string
	// generations holds the latest attach per step: an older stream stops when a newer attach arrives.
	generations map[string]int
}

// connection is one authenticated driver connection; writes come from several goroutines, one frame at a time.
type connection struct {
	conn    *tls.Conn
	writeMu sync.Mutex
	closed  chan struct{}
}

func (c *connection) write(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.conn.Write(frame)
	return err
}

func (c *connection) send(message any) { _ = c.write(encodeJSONFrame(frameControl, message)) }

func (c *connection) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (a *agentServer) currentSecret() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.secret
}

func (a *agentServer) serve(listener net.Listener) {
	for {
		raw, err := listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go a.handleConnection(raw)
	}
}

func (a *agentServer) handleConnection(raw net.Conn) {
	defer raw.Close()
	// One line per connection (normally one per job): when the driver says "no answer", this says whether we saw it.
	a.log("connection from " + raw.RemoteAddr().String())
	conn := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{a.cert}, MinVersion: tls.VersionTLS13})
	_ = raw.SetDeadline(time.Now().Add(helloTimeout))
	if err := conn.Handshake(); err != nil {
		return // not TLS (a health probe), or gone
	}
	c := &connection{conn: conn, closed: make(chan struct{})}
	defer close(c.closed)
	hello, err := readFrame(conn)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			a.log("closed a connection that sent no hello in time")
		}
		return
	}
	state := conn.ConnectionState()
	expected, err := channelProof(a.currentSecret(), "driver", state)
	var given struct {
		Proof string `json:"proof"`
	}
	if err != nil || hello.kind != frameHello || json.Unmarshal(hello.payload, &given) != nil ||
		!proofMatches(expected, given.Proof) {
		a.log("refused a connection that did not prove the job secret")
		return
	}
	_ = raw.SetDeadline(time.Time{})
	a.log("driver authenticated")
	a.authenticatedOnce.Do(func() { close(a.authenticated) })
	proof, err := channelProof(a.currentSecret(), "agent", state)
	if err != nil {
		return
	}
	if err := c.write(encodeJSONFrame(frameHello, map[string]string{"proof": hex.EncodeToString(proof)})); err != nil {
		return
	}
	for {
		f, err := readFrame(conn)
		if err != nil {
			return
		}
		if f.kind != frameControl {
			continue
		}
		var message driverMessage
		if json.Unmarshal(f.payload, &message) != nil {
			continue
		}
		a.handle(message, c)
	}
}

// handle runs in the connection's read loop: what must happen in order (a step registered before its attach)
// happens here; whatever waits runs in its own goroutine.
func (a *agentServer) handle(message driverMessage, c *connection) {
	stepError := func(err error) {
		c.send(stepErrorMessage{Op: "stepError", StepID: message.StepID, Message: err.Error()})
	}
	switch message.Op {
	case "start":
		s, created, err := a.steps.register(message.StepID, message.Target)
		if err != nil {
			stepError(err)
			return
		}
		go func() {
			if created {
				err = a.steps.launch(s, message.Script)
			} else {
				<-s.ready
				err = s.readyErr
			}
			if err != nil {
				stepError(err)
			}
		}()
	case "attach":
		a.mu.Lock()
		generation := a.generations[message.StepID] + 1
		a.generations[message.StepID] = generation
		a.mu.Unlock()
		s := a.steps.get(message.StepID)
		if s == nil {
			stepError(fmt.Errorf("unknown step %s", message.StepID))
			return
		}
		superseded := func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.generations[message.StepID] != generation
		}
		go func() {
			if err := a.stream(s, message.Offset, c, superseded); err != nil {
				stepError(err)
			}
		}()
	case "signal":
		go a.steps.stop(message.StepID)
	case "release":
		a.mu.Lock()
		delete(a.generations, message.StepID)
		a.mu.Unlock()
		a.steps.release(message.StepID)
	case "rekey":
		if !secretPattern.MatchString(message.Secret) {
			return
		}
		a.mu.Lock()
		a.secret = message.Secret
		a.mu.Unlock()
		c.send(opMessage{Op: "rekeyed"})
	case "ping":
		// Not from the read loop: a stream may hold the socket while the driver pauses reading.
		go c.send(opMessage{Op: "pong"})
	case "waitPorts":
		go func() {
			timeout := time.Duration(message.TimeoutMs * float64(time.Millisecond))
			ready, notReady := waitForPorts(a.servicesHost, message.Ports, timeout)
			c.send(portsReadyMessage{Op: "portsReady", ID: message.ID, Ready: ready, NotReady: notReady})
		}()
	}
}

// stream sends a step's output from offset on, then its exit code and total length once it has exited and every
// byte was sent.
func (a *agentServer) stream(s *step, offset int64, c *connection, superseded func() bool) error {
	<-s.ready
	if s.readyErr != nil {
		return s.readyErr
	}
	file, err := os.Open(s.outPath)
	if err != nil {
		return err
	}
	defer file.Close()
	// One frame-sized buffer, reused: file data is read straight into it, no copy on the way to the socket.
	frame := newOutputFrame(s.id, readChunk)
	position := offset
	for {
		if c.isClosed() || superseded() {
			return nil
		}
		code, exitedBefore := s.result()
		n, err := file.ReadAt(frame.data(), position)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n > 0 {
			position += int64(n)
			if c.write(frame.finish(n)) != nil {
				return nil
			}
			// Caught up with a writer that writes in small pieces (busybox: 4 KiB): let output gather a moment, so
			// it travels in large frames instead of one small frame and wake-up per write.
			if _, exited := s.result(); n < coalesceBelow && !exited {
				time.Sleep(coalesceFor)
			}
			continue
		}
		// EOF: final only if the step had exited before this read (its last bytes are in the file).
		if exitedBefore {
			c.send(exitMessage{Op: "exit", StepID: s.id, Code: code, Length: position})
			return nil
		}
		if !s.changed() {
			a.steps.refresh(s)
		}
	}
}

// waitForPorts waits until each port accepts a TCP connection on the task's address (its services listen there),
// all ports at once, until timeout.
func waitForPorts(host string, ports []int, timeout time.Duration) (ready, notReady []int) {
	ready, notReady = []int{}, []int{}
	deadline := time.Now().Add(timeout)
	results := make([]bool, len(ports))
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = waitForPort(host, port, deadline)
		}()
	}
	wg.Wait()
	for i, port := range ports {
		if results[i] {
			ready = append(ready, port)
		} else {
			notReady = append(notReady, port)
		}
	}
	return ready, notReady
}

func waitForPort(host string, port int, deadline time.Time) bool {
	address := net.JoinHostPort(host, strconv.Itoa(port))
	for time.Now().Before(deadline) {
		probe, err := net.DialTimeout("tcp", address, time.Until(deadline))
		if err == nil {
			// A graceful close: some services treat a reset during their greeting as an error.
			if tcp, ok := probe.(*net.TCPConn); ok {
				_ = tcp.CloseWrite()
			}
			time.AfterFunc(time.Second, func() { _ = probe.Close() })
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
