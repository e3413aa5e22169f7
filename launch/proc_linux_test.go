//go:build linux

package launch

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestProcAliveWhileThreadsExit: a process whose main thread has exited (the leader shows as a
// zombie) while another thread still runs holds its files, so it is alive; once every thread is
// gone it is not. (obctl bench failover restarted a SIGKILLed observer whose leader thread was
// a zombie while its other threads were still exiting, and the restart found the data
// directory locked.)
func TestProcAliveWhileThreadsExit(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the helper process calls exit(2) by its amd64 syscall number")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: it stands for a process whose main thread exits first")
	}
	// The main thread starts a sleeping thread, then exits alone (SYS_exit, not exit_group).
	cmd := exec.Command(py, "-c", `import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
ctypes.CDLL(None).syscall(60, 0)`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, ok := procState("/proc/" + strconv.Itoa(pid) + "/stat"); ok && threadExited(st) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the helper's main thread never exited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !procAlive(pid) {
		t.Fatal("procAlive = false for a process whose leader is a zombie and whose other thread runs")
	}
	_ = cmd.Process.Signal(os.Kill)
	for procAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatal("procAlive still true after every thread was killed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
