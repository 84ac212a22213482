package main

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// detectShell: the same order the Docker executor uses, bash in the usual places, then sh.
func detectShell() (string, error) {
	for _, candidate := range []string{
		"/usr/local/bin/bash", "/usr/bin/bash", "/bin/bash",
		"/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh",
	} {
		if syscall.Access(candidate, 1 /* X_OK */) == nil {
			return candidate, nil
		}
	}
	return "", errors.New("no POSIX shell found (looked for bash and sh in /usr/local/bin, /usr/bin, /bin)")
}

// parentPid reads the parent pid from /proc/<pid>/stat (the command name may hold spaces and parentheses).
func parentPid(stat string) (int, bool) {
	fields := strings.Fields(stat[strings.LastIndex(stat, ")")+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// descendants lists every descendant of root (not root itself), found through /proc.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + entry.Name() + "/stat")
		if err != nil {
			continue // exited while we looked
		}
		if ppid, ok := parentPid(string(stat)); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var found []int
	queue := []int{root}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, child := range children[next] {
			found = append(found, child)
			queue = append(queue, child)
		}
	}
	return found
}

func signalAll(pids []int, signal syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, signal)
	}
}

func isAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func jsonString(value string) (string, error) {
	encoded, err := json.Marshal(value)
	return string(encoded), err
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }
