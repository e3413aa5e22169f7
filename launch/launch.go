package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"obkv/config"
)

// Sentinel errors, wrapped with the server and the details.
var (
	// ErrObserverNotFound: no observer binary at Options.ObserverPath, next
	// to the running executable or on PATH.
	ErrObserverNotFound = errors.New("observer binary not found")
	// ErrUnknownServer: the server name is not in the cluster file.
	ErrUnknownServer = errors.New("unknown server")
	// ErrExited: a server started by Up or Start exited before it answered.
	ErrExited = errors.New("server exited during startup")
	// ErrNotAnswering: the context ended before every server answered.
	ErrNotAnswering = errors.New("servers not answering")
	// ErrStillRunning: the context ended before every stopped server exited.
	ErrStillRunning = errors.New("servers still running")
)

// File names inside a server's data_dir.
const (
	LogFile = "observer.log" // the server's stdout and stderr, appended
	PIDFile = "observer.pid" // the pid of the running server, "1234\n"
)

// Options tune Up, Down, Start and Stop. The zero value is usable.
type Options struct {
	// ObserverPath is the observer binary. Default: a file named observer
	// next to the running executable, else observer on PATH.
	ObserverPath string
	// Args are extra arguments for every started server, after
	// -c FILE --server NAME (e.g. --log-level debug).
	Args []string
	// Env is extra environment (KEY=VALUE) for started servers, on top of
	// this process's environment.
	Env []string
	// Probe decides whether a server answers; it must honour ctx. Default:
	// DialProbe. The caller supplies a real health RPC.
	Probe func(ctx context.Context, srv config.Server) error
	// ProbeTimeout bounds one Probe call. Default 1s.
	ProbeTimeout time.Duration
	// PollInterval is how often waits re-check probes and processes.
	// Default 50ms.
	PollInterval time.Duration
	// StopTimeout is how long a server may take to exit after SIGTERM
	// before it is sent SIGKILL. Default 10s.
	StopTimeout time.Duration
	// LogTailLines is how many lines of observer.log an error quotes when a
	// server exits during startup. Default 20.
	LogTailLines int
	// Progress, if set, is told what happens, synchronously from the
	// goroutine that called Up, Down, Start or Stop.
	Progress func(Event)
}

func (o Options) withDefaults() Options {
	if o.Probe == nil {
		o.Probe = DialProbe
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.LogTailLines <= 0 {
		o.LogTailLines = 20
	}
	if o.Progress == nil {
		o.Progress = func(Event) {}
	}
	return o
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventStarted: a server process was started (PID set).
	EventStarted EventKind = iota + 1
	// EventAlreadyRunning: Up or Start found the server running (PID set).
	EventAlreadyRunning
	// EventAnswering: the server answered its probe (Done of Total).
	EventAnswering
	// EventStopping: a signal was sent (PID, Detail: SIGTERM or SIGKILL).
	EventStopping
	// EventKilled: a warning: the server outlived StopTimeout after SIGTERM
	// and was sent SIGKILL (PID, Detail).
	EventKilled
	// EventStopped: the server's process is gone and its pid file removed.
	EventStopped
	// EventNotRunning: Stop or Down found nothing to stop.
	EventNotRunning
	// EventStalePID: a pid file that did not name a running observer of
	// the server was removed (PID, Detail).
	EventStalePID
)

// Event is one step of Up, Down, Start or Stop, for progress output.
type Event struct {
	Kind   EventKind
	Server string
	PID    int
	// Done and Total count answering servers (EventAnswering).
	Done, Total int
	// Detail is the signal (EventStopping, EventKilled) or the reason
	// (EventStalePID).
	Detail string
}

// String renders the event as one line of progress output.
func (e Event) String() string {
	switch e.Kind {
	case EventStarted:
		return fmt.Sprintf("%s started pid %d", e.Server, e.PID)
	case EventAlreadyRunning:
		return fmt.Sprintf("%s already running pid %d", e.Server, e.PID)
	case EventAnswering:
		return fmt.Sprintf("%s answering (%d/%d)", e.Server, e.Done, e.Total)
	case EventStopping:
		return fmt.Sprintf("%s stopping pid %d (%s)", e.Server, e.PID, e.Detail)
	case EventKilled:
		return fmt.Sprintf("warning: %s pid %d %s", e.Server, e.PID, e.Detail)
	case EventStopped:
		return fmt.Sprintf("%s stopped", e.Server)
	case EventNotRunning:
		return fmt.Sprintf("%s not running", e.Server)
	case EventStalePID:
		return fmt.Sprintf("%s: removed stale pid file: %s", e.Server, e.Detail)
	}
	return fmt.Sprintf("%s: event %d", e.Server, int(e.Kind))
}

// State is whether a server's process runs.
type State string

const (
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// ServerStatus is one row of Status.
type ServerStatus struct {
	Server string
	Zone   string
	PID    int // 0 when stopped
	State  State
}

// DialProbe is the default probe: the server answers when a TCP connection
// to its rpc_addr succeeds.
func DialProbe(ctx context.Context, srv config.Server) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", srv.RPCAddr)
	if err != nil {
		return err
	}
	return c.Close()
}

// Status reports, in file order, whether each server of the cluster runs on
// this machine according to its pid file. A pid file that does not name a
// live observer of that server is stale: it is removed and the server
// reported stopped. The caller adds whether a running server answers.
func Status(cl *config.Cluster) []ServerStatus {
	out := make([]ServerStatus, 0, len(cl.Servers))
	for _, srv := range cl.Servers {
		st := ServerStatus{Server: srv.Name, Zone: srv.Zone, State: StateStopped}
		if pid, ok := running(srv, func(Event) {}); ok {
			st.PID, st.State = pid, StateRunning
		}
		out = append(out, st)
	}
	return out
}

// Up starts every server of the cluster that is not running and waits until
// every server answers opts.Probe. Servers are started as background
// processes in their own session (they outlive the caller and the terminal),
// with stdout and stderr appended to <data_dir>/observer.log and the pid in
// <data_dir>/observer.pid. ctx bounds the whole call (never the servers).
// A server that exits before it answers fails Up with ErrExited and the tail
// of its log; servers already started keep running (Down stops them).
func Up(ctx context.Context, cl *config.Cluster, opts Options) error {
	if err := owned(cl, cl.Servers); err != nil {
		return err
	}
	return up(ctx, cl, cl.Servers, opts)
}

// Start is Up for one server.
func Start(ctx context.Context, cl *config.Cluster, server string, opts Options) error {
	srv, err := lookup(cl, server)
	if err != nil {
		return err
	}
	if err := owned(cl, []config.Server{srv}); err != nil {
		return err
	}
	return up(ctx, cl, []config.Server{srv}, opts)
}

// Down stops every running server of the cluster: SIGTERM, then SIGKILL (with
// an EventKilled warning) for those still running after opts.StopTimeout. A
// pid is signalled only if /proc/<pid>/cmdline shows it is an observer of
// that server, so a recycled pid is never killed. Pid files of stopped
// servers are removed. If ctx ends first, Down returns ErrStillRunning naming
// the servers that have not exited (it does not escalate to SIGKILL early).
func Down(ctx context.Context, cl *config.Cluster, opts Options) error {
	if err := owned(cl, cl.Servers); err != nil {
		return err
	}
	return stop(ctx, cl.Servers, false, opts)
}

// Stop stops one server as Down does; kill sends SIGKILL at once instead of
// SIGTERM.
func Stop(ctx context.Context, cl *config.Cluster, server string, kill bool, opts Options) error {
	srv, err := lookup(cl, server)
	if err != nil {
		return err
	}
	if err := owned(cl, []config.Server{srv}); err != nil {
		return err
	}
	return stop(ctx, []config.Server{srv}, kill, opts)
}

// ErrOtherCluster: a server's data_dir belongs to another cluster (its SERVER file says so).
var ErrOtherCluster = errors.New("data_dir of another cluster")

// owned refuses servers whose data_dir a server of another cluster ran in: its processes and
// pid file are that cluster's (two cluster files sharing data_dirs; the observer itself refuses
// to start there). A data_dir without the file (never started) passes.
func owned(cl *config.Cluster, servers []config.Server) error {
	for _, srv := range servers {
		id, ok, _ := config.ReadIdentity(srv.DataDir) // a damaged file: the observer says so
		if ok && id.Cluster != cl.Name {
			return fmt.Errorf("%w: server %s: data_dir %s belongs to cluster %q (its %s file), not %q of %s: "+
				"nothing was started or stopped; check the cluster file", ErrOtherCluster, srv.Name, srv.DataDir, id.Cluster, config.IdentityFile, cl.Name, cl.Path)
		}
	}
	return nil
}

func lookup(cl *config.Cluster, name string) (config.Server, error) {
	srv, ok := cl.Server(name)
	if !ok {
		return config.Server{}, fmt.Errorf("%w %q: cluster %s has %s", ErrUnknownServer, name, cl.Name,
			strings.Join(cl.ServerNames(), ", "))
	}
	return srv, nil
}

// FindObserver resolves the observer binary as Up does: path if not empty,
// else observer next to the running executable, else observer on PATH.
func FindObserver(path string) (string, error) {
	if path != "" {
		if err := checkExecutable(path); err != nil {
			return "", fmt.Errorf("%w: %w", ErrObserverNotFound, err)
		}
		return path, nil
	}
	exe, err := os.Executable()
	if err == nil {
		next := filepath.Join(filepath.Dir(exe), "observer")
		if checkExecutable(next) == nil {
			return next, nil
		}
	}
	if p, err := exec.LookPath("observer"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w next to %s or on PATH: build it with `go build -o bin/ ./cmd/...`", ErrObserverNotFound, exe)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// target is a server Up waits for.
type target struct {
	srv  config.Server
	pid  int
	done <-chan struct{} // closed when a process started here exits; nil otherwise
	err  *error          // its Wait error, valid once done is closed
}

func up(ctx context.Context, cl *config.Cluster, servers []config.Server, opts Options) error {
	opts = opts.withDefaults()
	file, err := clusterFile(cl)
	if err != nil {
		return err
	}
	observer := ""
	var targets []*target
	for _, srv := range servers {
		if pid, ok := running(srv, opts.Progress); ok {
			opts.Progress(Event{Kind: EventAlreadyRunning, Server: srv.Name, PID: pid})
			targets = append(targets, &target{srv: srv, pid: pid})
			continue
		}
		if observer == "" {
			if observer, err = FindObserver(opts.ObserverPath); err != nil {
				return err
			}
		}
		t, err := startOne(observer, file, srv, opts)
		if err != nil {
			return err
		}
		opts.Progress(Event{Kind: EventStarted, Server: srv.Name, PID: t.pid})
		targets = append(targets, t)
	}
	return waitAnswering(ctx, targets, opts)
}

// clusterFile is the absolute path of the file the servers are given.
func clusterFile(cl *config.Cluster) (string, error) {
	if cl.Path == "" {
		return "", errors.New("cluster path is empty: load the cluster with config.Load so observers can be given its file")
	}
	abs, err := filepath.Abs(cl.Path)
	if err != nil {
		return "", fmt.Errorf("cluster file %s: %w", cl.Path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("cluster file: %w", err)
	}
	return abs, nil
}

// startOne starts srv's observer in its own session and records its pid.
func startOne(observer, file string, srv config.Server, opts Options) (*target, error) {
	if err := os.MkdirAll(srv.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("server %s: data_dir: %w", srv.Name, err)
	}
	logPath := filepath.Join(srv.DataDir, LogFile)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	defer logf.Close() // the child has its own descriptor
	args := append([]string{"-c", file, "--server", srv.Name}, opts.Args...)
	// A marker line separates runs, so the tail quoted for a crash is this
	// run's output.
	fmt.Fprintf(logf, "--- %s obctl: starting %s %s\n", time.Now().Format(time.RFC3339), observer, strings.Join(args, " "))
	// exec.Command, not CommandContext: ctx bounds the wait, never the
	// server's life.
	cmd := exec.Command(observer, args...)
	cmd.Dir = srv.DataDir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), opts.Env...)
	// A new session: its own process group, no controlling terminal, so
	// neither Ctrl-C in obctl's terminal nor closing it reaches the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("server %s: start %s: %w", srv.Name, observer, err)
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	var werr error
	// Reap the child when it exits, so it never lingers as a zombie while
	// this process lives (a zombie would look alive to kill(pid, 0)).
	go func() {
		werr = cmd.Wait()
		close(done)
	}()
	if err := writePID(srv, pid); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	return &target{srv: srv, pid: pid, done: done, err: &werr}, nil
}

func writePID(srv config.Server, pid int) error {
	path := filepath.Join(srv.DataDir, PIDFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitAnswering polls until every target answers its probe, one exits, or
// ctx ends.
func waitAnswering(ctx context.Context, targets []*target, opts Options) error {
	total, done := len(targets), 0
	lastErr := map[string]error{}
	ticker := time.NewTicker(opts.PollInterval)
	defer ticker.Stop()
	for {
		pending := targets[:0]
		for _, t := range targets {
			if err := exited(t, opts); err != nil {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, opts.ProbeTimeout)
			err := opts.Probe(pctx, t.srv)
			cancel()
			if err != nil {
				lastErr[t.srv.Name] = err
				pending = append(pending, t)
				continue
			}
			done++
			opts.Progress(Event{Kind: EventAnswering, Server: t.srv.Name, PID: t.pid, Done: done, Total: total})
		}
		targets = pending
		if len(targets) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var parts []string
			for _, t := range targets {
				parts = append(parts, fmt.Sprintf("%s (%v)", t.srv.Name, lastErr[t.srv.Name]))
			}
			return fmt.Errorf("%w: %s: %w", ErrNotAnswering, strings.Join(parts, ", "), ctx.Err())
		case <-ticker.C:
		}
	}
}

// exited returns ErrExited with the log tail if t's process is gone.
func exited(t *target, opts Options) error {
	var how string
	if t.done != nil {
		select {
		case <-t.done:
			how = "exited during startup"
			if *t.err != nil {
				how += " (" + (*t.err).Error() + ")"
			}
		default:
			return nil
		}
	} else if !procAlive(t.pid) {
		how = "exited while waiting for it to answer"
	} else {
		return nil
	}
	removePID(t.srv, t.pid)
	logPath := filepath.Join(t.srv.DataDir, LogFile)
	return fmt.Errorf("%w: server %s (pid %d) %s; last lines of %s:\n%s",
		ErrExited, t.srv.Name, t.pid, how, logPath, tail(logPath, opts.LogTailLines))
}

// tail returns the last n lines of the file since the last start marker, indented, or why it
// cannot.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		_, _ = f.Seek(fi.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, window))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	// Only this start's lines: from the marker obctl writes before each start (start) on.
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "--- ") && strings.Contains(lines[i], " obctl: starting ") {
			lines = lines[i:]
			break
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// running reads srv's pid file and reports whether it names a live observer
// of srv. A stale pid file is removed (and reported).
func running(srv config.Server, progress func(Event)) (int, bool) {
	path := filepath.Join(srv.DataDir, PIDFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		_ = os.Remove(path)
		progress(Event{Kind: EventStalePID, Server: srv.Name, Detail: fmt.Sprintf("%q is not a pid", bytes.TrimSpace(b))})
		return 0, false
	}
	if why := notObserverOf(pid, srv.Name); why != "" {
		_ = os.Remove(path)
		progress(Event{Kind: EventStalePID, Server: srv.Name, PID: pid, Detail: why})
		return 0, false
	}
	return pid, true
}

// notObserverOf says why pid is not a live observer of server, or "" if it
// is: its command line carries --server NAME (or -server NAME, or
// --server=NAME: the flag package accepts all three).
func notObserverOf(pid int, server string) string {
	if !procAlive(pid) {
		return fmt.Sprintf("pid %d is not running", pid)
	}
	args, err := procArgs(pid)
	if err != nil {
		return fmt.Sprintf("pid %d: %v", pid, err)
	}
	for i, a := range args {
		switch a {
		case "--server", "-server":
			if i+1 < len(args) && args[i+1] == server {
				return ""
			}
		case "--server=" + server, "-server=" + server:
			return ""
		}
	}
	return fmt.Sprintf("pid %d is not an observer of %s (%s)", pid, server, strings.Join(args, " "))
}

// removePID removes srv's pid file if it still names pid (a concurrent
// start may have replaced it).
func removePID(srv config.Server, pid int) {
	path := filepath.Join(srv.DataDir, PIDFile)
	if b, err := os.ReadFile(path); err == nil && string(bytes.TrimSpace(b)) == strconv.Itoa(pid) {
		_ = os.Remove(path)
	}
}

// victim is a server being stopped.
type victim struct {
	srv    config.Server
	pid    int
	killed bool // SIGKILL sent
}

func stop(ctx context.Context, servers []config.Server, kill bool, opts Options) error {
	opts = opts.withDefaults()
	var victims []*victim
	for _, srv := range servers {
		pid, ok := running(srv, opts.Progress)
		if !ok {
			opts.Progress(Event{Kind: EventNotRunning, Server: srv.Name})
			continue
		}
		v := &victim{srv: srv, pid: pid, killed: kill}
		sig, name := syscall.SIGTERM, "SIGTERM"
		if kill {
			sig, name = syscall.SIGKILL, "SIGKILL"
		}
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("server %s: signal pid %d: %w", srv.Name, pid, err)
		}
		opts.Progress(Event{Kind: EventStopping, Server: srv.Name, PID: pid, Detail: name})
		victims = append(victims, v)
	}
	deadline := time.Now().Add(opts.StopTimeout)
	ticker := time.NewTicker(opts.PollInterval)
	defer ticker.Stop()
	for {
		alive := victims[:0]
		for _, v := range victims {
			// Gone, or (rarely) gone and its pid already recycled: either
			// way no observer of the server runs under that pid any more.
			// A process that is still exiting counts as running: the kernel
			// frees its memory (its command line reads empty from then on)
			// before it closes its files, so it still holds the data
			// directory's lock, and a start right after SIGKILL of a large
			// observer failed on it.
			if notObserverOf(v.pid, v.srv.Name) == "" || exiting(v.pid) {
				alive = append(alive, v)
				continue
			}
			removePID(v.srv, v.pid)
			opts.Progress(Event{Kind: EventStopped, Server: v.srv.Name, PID: v.pid})
		}
		victims = alive
		if len(victims) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			for _, v := range victims {
				if v.killed {
					continue
				}
				v.killed = true
				_ = syscall.Kill(v.pid, syscall.SIGKILL)
				opts.Progress(Event{Kind: EventKilled, Server: v.srv.Name, PID: v.pid,
					Detail: fmt.Sprintf("did not exit within %s of SIGTERM: sent SIGKILL", opts.StopTimeout)})
			}
		}
		select {
		case <-ctx.Done():
			var parts []string
			for _, v := range victims {
				parts = append(parts, fmt.Sprintf("%s (pid %d)", v.srv.Name, v.pid))
			}
			return fmt.Errorf("%w: %s: %w", ErrStillRunning, strings.Join(parts, ", "), ctx.Err())
		case <-ticker.C:
		}
	}
}
