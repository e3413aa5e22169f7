package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"obkv/config"
)

// fakeObserver is the path of testdata/fakeobserver, built once by TestMain.
var fakeObserver string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "launch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeObserver = filepath.Join(dir, "observer")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", fakeObserver, "./testdata/fakeobserver")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fakeobserver: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePorts returns n distinct loopback ports that were free a moment ago. Every listener is held
// until all n are chosen: released one by one, the kernel could hand the same port out twice
// (a cluster file then failed validation with "address is already used").
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// newCluster writes a cluster file of n servers (s1.., zones z1..) with
// relative data dirs into a temp dir and loads it. Its servers are stopped
// with SIGKILL when the test ends, whatever the test did.
func newCluster(t *testing.T, n int) *config.Cluster {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: test\nregions:\n  - name: r1\n    zones: [")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "z%d", i)
	}
	b.WriteString("]\nservers:\n")
	ports := freePorts(t, 2*n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {name: s%d, zone: z%d, rpc_addr: '127.0.0.1:%d', gossip_addr: '127.0.0.1:%d', data_dir: data/s%d}\n",
			i, i, ports[2*i-2], ports[2*i-1], i)
	}
	path := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = Down(ctx, cl, Options{StopTimeout: time.Millisecond, PollInterval: 5 * time.Millisecond})
	})
	return cl
}

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.String())
	}
	return out
}

func (r *recorder) has(kind EventKind, server string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == kind && e.Server == server {
			return true
		}
	}
	return false
}

func testOptions(rec *recorder, env ...string) Options {
	return Options{
		ObserverPath: fakeObserver,
		Env:          env,
		PollInterval: 5 * time.Millisecond,
		StopTimeout:  2 * time.Second,
		Progress:     rec.add,
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func statusOf(t *testing.T, cl *config.Cluster, server string) ServerStatus {
	t.Helper()
	for _, st := range Status(cl) {
		if st.Server == server {
			return st
		}
	}
	t.Fatalf("no status for %s", server)
	return ServerStatus{}
}

func pidFile(cl *config.Cluster, server string) string {
	srv, _ := cl.Server(server)
	return filepath.Join(srv.DataDir, PIDFile)
}

func answers(srv config.Server) bool {
	c, err := net.DialTimeout("tcp", srv.RPCAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestUpStatusStopStartDown(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cl := newCluster(t, 3)
	rec := &recorder{}
	opts := testOptions(rec)

	if err := Up(ctx, cl, opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2", "s3"} {
		if !rec.has(EventStarted, name) || !rec.has(EventAnswering, name) {
			t.Errorf("events %q: want %s started and answering", rec.lines(), name)
		}
	}
	if last := rec.lines()[len(rec.lines())-1]; !strings.HasSuffix(last, "answering (3/3)") {
		t.Errorf("last event %q, want ... answering (3/3)", last)
	}
	pids := map[string]int{}
	for _, st := range Status(cl) {
		if st.State != StateRunning || st.PID == 0 || st.Zone != "z"+st.Server[1:] {
			t.Errorf("status %+v: want running with a pid", st)
		}
		pids[st.Server] = st.PID
		// Its own session (setsid makes it the leader of a new process
		// group too), so it survives obctl's terminal.
		if pgid, err := syscall.Getpgid(st.PID); err != nil || pgid != st.PID {
			t.Errorf("%s: process group %d (%v), want its own pid %d", st.Server, pgid, err, st.PID)
		}
		b, _ := os.ReadFile(pidFile(cl, st.Server))
		if string(b) != strconv.Itoa(st.PID)+"\n" {
			t.Errorf("%s pid file %q, want %d", st.Server, b, st.PID)
		}
	}
	srv1, _ := cl.Server("s1")
	logText, _ := os.ReadFile(filepath.Join(srv1.DataDir, LogFile))
	if !strings.Contains(string(logText), "obctl: starting "+fakeObserver+" -c "+cl.Path+" --server s1") ||
		!strings.Contains(string(logText), "fakeobserver s1: listening on "+srv1.RPCAddr) {
		t.Errorf("observer.log of s1:\n%s", logText)
	}

	// Up again starts nothing.
	rec2 := &recorder{}
	if err := Up(ctx, cl, testOptions(rec2)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2", "s3"} {
		if rec2.has(EventStarted, name) || !rec2.has(EventAlreadyRunning, name) {
			t.Errorf("second Up events %q: want %s already running", rec2.lines(), name)
		}
	}

	// Stop one with SIGTERM.
	if err := Stop(ctx, cl, "s2", false, opts); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, cl, "s2"); st.State != StateStopped || st.PID != 0 {
		t.Errorf("s2 after Stop: %+v", st)
	}
	if _, err := os.Stat(pidFile(cl, "s2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("s2 pid file after Stop: %v", err)
	}
	srv2, _ := cl.Server("s2")
	if answers(srv2) {
		t.Error("s2 still answers after Stop")
	}
	if st := statusOf(t, cl, "s1"); st.State != StateRunning || st.PID != pids["s1"] {
		t.Errorf("s1 after stopping s2: %+v", st)
	}
	logText, _ = os.ReadFile(filepath.Join(srv2.DataDir, LogFile))
	if !strings.Contains(string(logText), "fakeobserver s2: SIGTERM, exiting") {
		t.Errorf("s2 did not get SIGTERM; log:\n%s", logText)
	}
	// Stopping it again is not an error.
	rec3 := &recorder{}
	if err := Stop(ctx, cl, "s2", false, testOptions(rec3)); err != nil || !rec3.has(EventNotRunning, "s2") {
		t.Errorf("second Stop: %v, events %q", err, rec3.lines())
	}

	// Start it again.
	if err := Start(ctx, cl, "s2", opts); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, cl, "s2"); st.State != StateRunning || st.PID == pids["s2"] {
		t.Errorf("s2 after Start: %+v (old pid %d)", st, pids["s2"])
	}

	// Down stops all and removes the pid files.
	rec4 := &recorder{}
	if err := Down(ctx, cl, testOptions(rec4)); err != nil {
		t.Fatal(err)
	}
	for _, st := range Status(cl) {
		if st.State != StateStopped {
			t.Errorf("after Down: %+v", st)
		}
		if _, err := os.Stat(pidFile(cl, st.Server)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s pid file after Down: %v", st.Server, err)
		}
		if !rec4.has(EventStopping, st.Server) || !rec4.has(EventStopped, st.Server) {
			t.Errorf("Down events %q: want %s stopping and stopped", rec4.lines(), st.Server)
		}
	}
	if rec4.has(EventKilled, "s1") {
		t.Errorf("Down needed SIGKILL: %q", rec4.lines())
	}
}

func TestCrashAtStartupQuotesLog(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cl := newCluster(t, 2)
	rec := &recorder{}
	err := Up(ctx, cl, testOptions(rec, "FAKEOBSERVER_CRASH=s2"))
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Up: %v, want ErrExited", err)
	}
	srv2, _ := cl.Server("s2")
	for _, want := range []string{
		"server exited during startup: server s2 (pid ",
		"exit status 3",
		"last lines of " + filepath.Join(srv2.DataDir, LogFile),
		"  fakeobserver s2: simulated crash at startup",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if st := statusOf(t, cl, "s2"); st.State != StateStopped {
		t.Errorf("s2 after crash: %+v", st)
	}
	if _, err := os.Stat(pidFile(cl, "s2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file of the crashed server: %v", err)
	}
}

func TestStalePIDFiles(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2)
	// A pid that existed and is gone: a finished child of ours.
	done := exec.Command(fakeObserver, "-h")
	_ = done.Run()
	srv1, _ := cl.Server("s1")
	srv2, _ := cl.Server("s2")
	for _, srv := range []config.Server{srv1, srv2} {
		if err := os.MkdirAll(srv.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(pidFile(cl, "s1"), []byte(strconv.Itoa(done.Process.Pid)+"\n"), 0o644)
	os.WriteFile(pidFile(cl, "s2"), []byte("not a pid\n"), 0o644)
	for _, st := range Status(cl) {
		if st.State != StateStopped || st.PID != 0 {
			t.Errorf("status %+v, want stopped", st)
		}
		if _, err := os.Stat(pidFile(cl, st.Server)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale pid file of %s kept: %v", st.Server, err)
		}
	}
	// Up starts over a stale pid file, reporting it.
	os.WriteFile(pidFile(cl, "s1"), []byte(strconv.Itoa(done.Process.Pid)+"\n"), 0o644)
	rec := &recorder{}
	if err := Start(testContext(t), cl, "s1", testOptions(rec)); err != nil {
		t.Fatal(err)
	}
	if !rec.has(EventStalePID, "s1") || !rec.has(EventStarted, "s1") {
		t.Errorf("events %q: want a stale pid file removed, then s1 started", rec.lines())
	}
}

// TestForeignPIDNeverSignalled: a pid file naming a live process that is not
// an observer of that server (a recycled pid) is dropped, and the process is
// left alone, even by a SIGKILL stop.
func TestForeignPIDNeverSignalled(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cl := newCluster(t, 2)
	rec := &recorder{}
	opts := testOptions(rec)
	if err := Start(ctx, cl, "s2", opts); err != nil {
		t.Fatal(err)
	}
	s2 := statusOf(t, cl, "s2")
	srv1, _ := cl.Server("s1")
	srv2, _ := cl.Server("s2")
	os.MkdirAll(srv1.DataDir, 0o755)
	// s1's pid file names s2's observer, then this test process.
	for _, pid := range []int{s2.PID, os.Getpid()} {
		os.WriteFile(pidFile(cl, "s1"), []byte(strconv.Itoa(pid)+"\n"), 0o644)
		rec := &recorder{}
		if err := Stop(ctx, cl, "s1", true, testOptions(rec)); err != nil {
			t.Fatal(err)
		}
		if rec.has(EventStopping, "s1") || !rec.has(EventStalePID, "s1") || !rec.has(EventNotRunning, "s1") {
			t.Errorf("Stop s1 with pid %d: events %q", pid, rec.lines())
		}
		if _, err := os.Stat(pidFile(cl, "s1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("foreign pid file kept: %v", err)
		}
	}
	if !answers(srv2) || statusOf(t, cl, "s2").PID != s2.PID {
		t.Error("s2 was signalled through s1's pid file")
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cl := newCluster(t, 1)
	rec := &recorder{}
	opts := testOptions(rec, "FAKEOBSERVER_IGNORE_TERM=s1")
	opts.StopTimeout = 100 * time.Millisecond
	if err := Up(ctx, cl, opts); err != nil {
		t.Fatal(err)
	}
	if err := Stop(ctx, cl, "s1", false, opts); err != nil {
		t.Fatal(err)
	}
	want := "warning: s1 pid %d did not exit within 100ms of SIGTERM: sent SIGKILL"
	found := false
	for _, e := range rec.events {
		if e.Kind == EventKilled && e.String() == fmt.Sprintf(want, e.PID) {
			found = true
		}
	}
	if !found || !rec.has(EventStopped, "s1") {
		t.Errorf("events %q: want the SIGKILL warning and s1 stopped", rec.lines())
	}
	if st := statusOf(t, cl, "s1"); st.State != StateStopped {
		t.Errorf("after escalation: %+v", st)
	}
}

func TestStopKill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cl := newCluster(t, 1)
	rec := &recorder{}
	opts := testOptions(rec)
	if err := Up(ctx, cl, opts); err != nil {
		t.Fatal(err)
	}
	if err := Stop(ctx, cl, "s1", true, opts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Join(rec.lines(), "\n")
	if !strings.Contains(lines, "(SIGKILL)") || rec.has(EventKilled, "s1") || !rec.has(EventStopped, "s1") {
		t.Errorf("events:\n%s\nwant a SIGKILL stop without the escalation warning", lines)
	}
	srv, _ := cl.Server("s1")
	if b, _ := os.ReadFile(filepath.Join(srv.DataDir, LogFile)); strings.Contains(string(b), "SIGTERM") {
		t.Errorf("the server saw SIGTERM:\n%s", b)
	}
}

func TestStopBoundedByContext(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 1)
	rec := &recorder{}
	opts := testOptions(rec, "FAKEOBSERVER_IGNORE_TERM=s1")
	opts.StopTimeout = time.Hour
	if err := Up(testContext(t), cl, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Stop(ctx, cl, "s1", false, opts)
	if !errors.Is(err, ErrStillRunning) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "s1 (pid ") {
		t.Errorf("Stop: %v, want ErrStillRunning naming s1", err)
	}
	if st := statusOf(t, cl, "s1"); st.State != StateRunning {
		t.Errorf("after a bounded Stop: %+v, want still running", st)
	}
}

func TestUpNotAnswering(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2)
	rec := &recorder{}
	opts := testOptions(rec)
	opts.Probe = func(ctx context.Context, srv config.Server) error {
		if srv.Name == "s2" {
			return errors.New("health: not ready")
		}
		return DialProbe(ctx, srv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := Up(ctx, cl, opts)
	want := "servers not answering: s2 (health: not ready): context deadline exceeded"
	if !errors.Is(err, ErrNotAnswering) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != want {
		t.Errorf("Up: %v\nwant: %s", err, want)
	}
	if !rec.has(EventAnswering, "s1") || rec.has(EventAnswering, "s2") {
		t.Errorf("events %q", rec.lines())
	}
	// Both keep running: ctx bounds the wait, not the servers.
	for _, st := range Status(cl) {
		if st.State != StateRunning {
			t.Errorf("%+v: want running after the wait gave up", st)
		}
	}
}

func TestUnknownServer(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2)
	for _, err := range []error{
		Start(testContext(t), cl, "s9", Options{}),
		Stop(testContext(t), cl, "s9", false, Options{}),
	} {
		want := `unknown server "s9": cluster test has s1, s2`
		if !errors.Is(err, ErrUnknownServer) || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	}
}

func TestClusterWithoutPath(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 1)
	c := *cl
	c.Path = ""
	if err := Up(testContext(t), &c, testOptions(&recorder{})); err == nil || !strings.Contains(err.Error(), "cluster path is empty") {
		t.Errorf("Up without a path: %v", err)
	}
}

// TestFindObserver changes PATH, so it does not run in parallel.
func TestFindObserver(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	_, err := FindObserver("")
	exe, _ := os.Executable()
	want := "observer binary not found next to " + exe + " or on PATH: build it with `go build -o bin/ ./cmd/...`"
	if !errors.Is(err, ErrObserverNotFound) || err.Error() != want {
		t.Errorf("FindObserver: %v\nwant: %s", err, want)
	}
	// Up reports it before starting anything.
	cl := newCluster(t, 1)
	if err := Up(testContext(t), cl, Options{}); !errors.Is(err, ErrObserverNotFound) {
		t.Errorf("Up without an observer: %v", err)
	}
	// On PATH.
	if err := os.Symlink(fakeObserver, filepath.Join(empty, "observer")); err != nil {
		t.Fatal(err)
	}
	if got, err := FindObserver(""); err != nil || got != filepath.Join(empty, "observer") {
		t.Errorf("FindObserver with observer on PATH = %q, %v", got, err)
	}
	// An explicit path must exist and be executable.
	if _, err := FindObserver(filepath.Join(empty, "nope")); !errors.Is(err, ErrObserverNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FindObserver(missing) = %v", err)
	}
	plain := filepath.Join(empty, "plain")
	os.WriteFile(plain, []byte("x"), 0o644)
	if _, err := FindObserver(plain); err == nil || !strings.Contains(err.Error(), "is not an executable file") {
		t.Errorf("FindObserver(non-executable) = %v", err)
	}
}

func TestEventStrings(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventStarted, Server: "s1", PID: 1234}, "s1 started pid 1234"},
		{Event{Kind: EventAlreadyRunning, Server: "s1", PID: 1234}, "s1 already running pid 1234"},
		{Event{Kind: EventAnswering, Server: "s2", Done: 3, Total: 4}, "s2 answering (3/4)"},
		{Event{Kind: EventStopping, Server: "s1", PID: 7, Detail: "SIGTERM"}, "s1 stopping pid 7 (SIGTERM)"},
		{Event{Kind: EventStopped, Server: "s1"}, "s1 stopped"},
		{Event{Kind: EventNotRunning, Server: "s1"}, "s1 not running"},
		{Event{Kind: EventStalePID, Server: "s1", Detail: "pid 9 is not running"}, "s1: removed stale pid file: pid 9 is not running"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

// TestTailShowsTheLastStartOnly: the log tail of a server that failed to start shows the lines
// of that start, not an earlier run's (whose errors would mislead).
func TestTailShowsTheLastStartOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogFile)
	log := "--- 2026-12-08T00:00:00Z obctl: starting observer -c c.yaml --server s1\n" +
		"old error\n" +
		"--- 2026-12-08T00:01:00Z obctl: starting observer -c c.yaml --server s1\n" +
		"new error\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tail(path, 20)
	if strings.Contains(got, "old error") || !strings.Contains(got, "new error") || !strings.Contains(got, "00:01:00Z") {
		t.Fatalf("tail = %q; want the last start's lines only", got)
	}
}

// TestOtherClustersDataDirIsNotTouched: a cluster file whose data_dirs another cluster's
// servers ran in (their SERVER file says so) neither starts nor stops anything there: a copy
// of a running cluster's file with new ports once stopped that cluster's observers.
func TestOtherClustersDataDirIsNotTouched(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2)
	srv1, _ := cl.Server("s1")
	if err := os.MkdirAll(srv1.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(srv1.DataDir, "SERVER"), []byte("cluster=running\nserver=s1\nid=1\nzone=z1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for what, err := range map[string]error{
		"Up":    Up(ctx, cl, Options{}),
		"Start": Start(ctx, cl, "s1", Options{}),
		"Down":  Down(ctx, cl, Options{}),
		"Stop":  Stop(ctx, cl, "s1", false, Options{}),
	} {
		if !errors.Is(err, ErrOtherCluster) || !strings.Contains(err.Error(), `belongs to cluster "running"`) {
			t.Errorf("%s: %v; want ErrOtherCluster naming the cluster", what, err)
		}
	}
	if st := statusOf(t, cl, "s2"); st.State != StateStopped {
		t.Errorf("s2 %s after a refused Up; want nothing started", st.State)
	}
}
