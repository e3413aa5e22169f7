//go:build linux

package launch

import (
	"bytes"
	"os"
	"strconv"
)

// procArgs returns the argument vector of process pid from
// /proc/<pid>/cmdline; empty for a zombie (the kernel has released its
// memory) and an error for a process that does not exist.
func procArgs(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, nil
	}
	var args []string
	for _, a := range bytes.Split(b, []byte{0}) {
		args = append(args, string(a))
	}
	return args, nil
}

// exiting reports a process that is not a zombie yet but whose memory is gone (an empty
// command line): one that is exiting.
func exiting(pid int) bool {
	args, err := procArgs(pid)
	return err == nil && len(args) == 0 && procAlive(pid)
}

// procAlive reports whether process pid exists and has not exited: a
// zombie (exited, not yet reaped by its parent) counts as gone, since it
// runs nothing and holds no ports; its parent reaps it. A thread group's
// leader shows as a zombie while its other threads are still exiting, and
// the process keeps its files (the data directory's lock) until the last
// one has: such a process still counts.
func procAlive(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	st, ok := procState(dir + "/stat")
	if !ok {
		return false
	}
	if !threadExited(st) {
		return true
	}
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		if st, ok := procState(dir + "/task/" + t.Name() + "/stat"); ok && !threadExited(st) {
			return true
		}
	}
	return false
}

// procState returns the state letter of a /proc stat file.
func procState(path string) (byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	// Format: "pid (comm) S ...": comm may hold spaces and parentheses,
	// so the state is the first field after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}

func threadExited(state byte) bool { return state == 'Z' || state == 'X' || state == 'x' }
