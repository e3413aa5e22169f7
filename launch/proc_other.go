//go:build !linux

package launch

import "errors"

// Without /proc, a pid cannot be verified to be an observer of the server,
// so no pid file is ever trusted: Status reports stopped and Stop and Down
// signal nothing. Never killing a stranger matters more than stopping a
// server (obctl targets Linux; see doc.go).

var errNoProc = errors.New("process inspection needs /proc (Linux)")

func procArgs(pid int) ([]string, error) { return nil, errNoProc }

func procAlive(pid int) bool { return false }

func exiting(pid int) bool { return false }
