//go:build unix

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Poll and time bounds of the harness.
const (
	pollInterval = 100 * time.Millisecond
	// obctlTimeout is obctl's own --timeout: how long one command may retry while the root
	// service moves.
	obctlTimeout = 4 * time.Second
	// exitTimeout bounds how long a killed observer may take to exit.
	exitTimeout  = 15 * time.Second
	logTailLines = 40
)

// server is one server of the four-zone test cluster.
type server struct {
	name, zone, region  string
	rpcAddr, gossipAddr string
	dataDir             string
}

// fourZones is examples/cluster.yaml's shape: z1, z2, z3 in r1 and z4 in r2.
var fourZones = [][3]string{{"s1", "z1", "r1"}, {"s2", "z2", "r1"}, {"s3", "z3", "r1"}, {"s4", "z4", "r2"}}

// backend runs the servers of a cluster and injects faults into them. Every method fails the
// test on error; cleanup is registered by the constructor.
type backend interface {
	// start starts (or restarts) a server that is not running.
	start(name string)
	// kill sends SIGKILL and waits until the server has exited.
	kill(name string)
	// stop terminates a server gracefully (SIGTERM) and waits until it has exited.
	stop(name string)
	// pause freezes every thread of a server (SIGSTOP, or the cgroup freezer); resume thaws it.
	pause(name string)
	resume(name string)
	// netFaults says whether isolate and heal work here.
	netFaults() bool
	// isolate cuts every network link of a server, both ways; heal restores them.
	isolate(name string)
	heal(name string)
	// exited describes a server that exited without the test stopping it, or is "".
	exited() string
	// logs returns the tail of a server's log.
	logs(name string) string
}

// testCluster is a four-zone cluster owned by one test, whatever runs its servers.
type testCluster struct {
	t       *testing.T
	file    string // the cluster file obctl and the client use from the host
	servers []server
	b       backend
}

func (c *testCluster) server(name string) server {
	for _, s := range c.servers {
		if s.name == name {
			return s
		}
	}
	c.t.Fatalf("no server %q in the test cluster", name)
	return server{}
}

func (c *testCluster) addrs() []string {
	var out []string
	for _, s := range c.servers {
		out = append(out, s.rpcAddr)
	}
	return out
}

// writeClusterFile writes a cluster file of servers to path.
func writeClusterFile(t *testing.T, path, name string, servers []server) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %s\nregions:\n  - name: r1\n    zones: [z1, z2, z3]\n  - name: r2\n    zones: [z4]\nservers:\n", name)
	for _, s := range servers {
		fmt.Fprintf(&b, "  - {name: %s, zone: %s, rpc_addr: %s, gossip_addr: %s, data_dir: %s}\n",
			s.name, s.zone, s.rpcAddr, s.gossipAddr, s.dataDir)
	}
	// Small memory: four servers share a test machine. The rest are the defaults.
	b.WriteString("settings:\n  sstable_memory: 128MiB\n  clog_segment_size: 16MiB\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dumpLogs prints the tail of every server's log; cleanups call it when the test failed.
func (c *testCluster) dumpLogs() {
	for _, s := range c.servers {
		c.t.Logf("--- last lines of %s's log:\n%s", s.name, c.b.logs(s.name))
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// ---- Loopback processes ----

// procBackend runs each server as an observer process on 127.0.0.1, in its own process group.
type procBackend struct {
	t     *testing.T
	file  string
	c     *testCluster
	mu    sync.Mutex
	procs map[string]*proc
}

type proc struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has exited and been reaped
	err      error         // set before done is closed
	stopping bool          // the test stopped it on purpose; guarded by procBackend.mu
}

func (p *proc) hasExited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// newLoopbackCluster writes a cluster file with free loopback ports into t.TempDir(). It
// starts nothing; cleanup kills every process it started.
func newLoopbackCluster(t *testing.T) *testCluster {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 2*len(fourZones))
	c := &testCluster{t: t, file: filepath.Join(dir, "cluster.yaml")}
	for i, s := range fourZones {
		c.servers = append(c.servers, server{name: s[0], zone: s[1], region: s[2],
			rpcAddr:    fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			gossipAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			dataDir:    filepath.Join(dir, "data", s[0])})
	}
	writeClusterFile(t, c.file, "faults-loopback", c.servers)
	pb := &procBackend{t: t, file: c.file, c: c, procs: map[string]*proc{}}
	c.b = pb
	t.Cleanup(func() {
		pb.cleanup()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

func (b *procBackend) start(name string) {
	b.t.Helper()
	s := b.c.server(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.procs[name]; p != nil && !p.hasExited() {
		b.t.Fatalf("start %s: already running (pid %d)", name, p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir, "observer.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.Command(bins.observer, "-c", b.file, "--server", name)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		b.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	b.procs[name] = p
}

func (b *procBackend) proc(name string) *proc {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.procs[name]
	if p == nil {
		b.t.Fatalf("server %s was never started", name)
	}
	return p
}

func (b *procBackend) signalAndWait(name string, sig syscall.Signal) {
	b.t.Helper()
	p := b.proc(name)
	b.mu.Lock()
	p.stopping = true
	b.mu.Unlock()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) // a paused process must run to exit cleanly
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		b.t.Fatalf("%s: still running %v after %v", name, exitTimeout, sig)
	}
}

func (b *procBackend) kill(name string) { b.signalAndWait(name, syscall.SIGKILL) }
func (b *procBackend) stop(name string) { b.signalAndWait(name, syscall.SIGTERM) }

func (b *procBackend) pause(name string) {
	if err := syscall.Kill(-b.proc(name).cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		b.t.Fatalf("SIGSTOP %s: %v", name, err)
	}
}

func (b *procBackend) resume(name string) {
	if err := syscall.Kill(-b.proc(name).cmd.Process.Pid, syscall.SIGCONT); err != nil {
		b.t.Fatalf("SIGCONT %s: %v", name, err)
	}
}

func (b *procBackend) netFaults() bool { return false }

func (b *procBackend) isolate(name string) {
	b.t.Fatalf("isolate %s: no network faults on loopback", name)
}
func (b *procBackend) heal(name string) { b.t.Fatalf("heal %s: no network faults on loopback", name) }

func (b *procBackend) exited() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, p := range b.procs {
		if p.hasExited() && !p.stopping {
			return fmt.Sprintf("observer %s exited on its own (%v)", name, p.err)
		}
	}
	return ""
}

func (b *procBackend) logs(name string) string {
	data, err := os.ReadFile(filepath.Join(b.c.server(name).dataDir, "observer.log"))
	if err != nil {
		return err.Error()
	}
	return tail(string(data))
}

func (b *procBackend) cleanup() {
	b.mu.Lock()
	var procs []*proc
	for _, p := range b.procs {
		p.stopping = true
		procs = append(procs, p)
	}
	b.mu.Unlock()
	for _, p := range procs {
		if !p.hasExited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(exitTimeout):
			b.t.Errorf("observer pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	}
}

// freePorts returns n distinct loopback ports free for both TCP and UDP, drawn below the
// kernel's ephemeral range (an ephemeral port could be taken by an outgoing connection before
// its observer binds it), avoiding 28811-28824, 38811-38824 and 48811-48824, which other
// engineers' local clusters use. The draw is random, not seeded: it only has to avoid ports in
// use at this moment.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	lo, hi := 20000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var low int
		if _, err := fmt.Sscan(string(b), &low); err == nil && low > 13024 {
			lo, hi = low-12000, low
		}
	}
	reserved := func(p int) bool {
		m := p % 10000
		return p >= 20000 && p < 50000 && m >= 8811 && m <= 8824
	}
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 50*n {
			t.Fatalf("could not find %d free loopback ports (tcp and udp) in %d..%d", n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if seen[port] || reserved(port) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		closers = append(closers, func() { _ = l.Close() })
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		closers = append(closers, func() { _ = u.Close() })
		seen[port] = true
		ports = append(ports, port)
	}
	return ports
}

// ---- Docker containers ----

// Ports every container listens on (each has its own address, so they never collide).
const (
	dockerRPCPort    = 2882
	dockerGossipPort = 2883
)

// dockerBackend runs each server as a container of the project's image on a network of its own.
type dockerBackend struct {
	t       *testing.T
	c       *testCluster
	network string
	prefix  string // container names are prefix + server name
	mu      sync.Mutex
	// stopped holds the servers the test stopped on purpose, killed or stopped.
	stopped map[string]bool
}

// newDockerCluster creates a Docker network with a random free private /24 subnet and one
// (not yet started) container per server, with the cluster file copied in. Names are unique
// to the run; cleanup removes the containers and the network even when the test fails.
func newDockerCluster(t *testing.T) *testCluster {
	t.Helper()
	dir := t.TempDir()
	run := fmt.Sprintf("obkv-faults-%d-%06d", os.Getpid(), rand.IntN(1e6))
	db := &dockerBackend{t: t, network: run, prefix: run + "-", stopped: map[string]bool{}}
	c := &testCluster{t: t, file: filepath.Join(dir, "cluster.yaml"), b: db}
	db.c = c
	ctx := context.Background()
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		db.cleanup()
	})
	// A random subnet of 10.0.0.0/8 that no other network of this daemon uses: docker refuses
	// overlapping pools, so retry a few draws.
	var subnet string
	for attempt := 0; ; attempt++ {
		subnet = fmt.Sprintf("10.%d.%d", 100+rand.IntN(150), rand.IntN(256))
		_, err := docker(ctx, "network", "create", "--driver", "bridge", "--subnet", subnet+".0/24",
			"--label", "obkv-faults=1", run)
		if err == nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("create a docker network: %v", err)
		}
	}
	for i, s := range fourZones {
		ip := fmt.Sprintf("%s.%d", subnet, 11+i)
		c.servers = append(c.servers, server{name: s[0], zone: s[1], region: s[2],
			rpcAddr:    fmt.Sprintf("%s:%d", ip, dockerRPCPort),
			gossipAddr: fmt.Sprintf("%s:%d", ip, dockerGossipPort),
			dataDir:    "/data/" + s[0]})
	}
	writeClusterFile(t, c.file, "faults-docker", c.servers)
	for _, s := range c.servers {
		ip, _, _ := strings.Cut(s.rpcAddr, ":")
		if _, err := docker(ctx, "create", "--name", db.prefix+s.name, "--network", run, "--ip", ip,
			"--label", "obkv-faults=1", image, "-c", "/cluster.yaml", "--server", s.name); err != nil {
			t.Fatal(err)
		}
		// docker cp needs no shell in the image: scratch is enough.
		if _, err := docker(ctx, "cp", c.file, db.prefix+s.name+":/cluster.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (b *dockerBackend) do(args ...string) {
	b.t.Helper()
	if _, err := docker(context.Background(), args...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *dockerBackend) setStopped(name string, v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped[name] = v
}

func (b *dockerBackend) start(name string) {
	b.t.Helper()
	b.do("start", b.prefix+name)
	b.setStopped(name, false)
}

// kill sends SIGKILL to the container's observer (PID 1); docker kill returns once it is dead.
func (b *dockerBackend) kill(name string) {
	b.t.Helper()
	b.setStopped(name, true)
	b.do("kill", "--signal", "KILL", b.prefix+name)
	b.waitState(name, "exited")
}

func (b *dockerBackend) stop(name string) {
	b.t.Helper()
	b.setStopped(name, true)
	b.do("stop", "--time", fmt.Sprint(int(exitTimeout.Seconds())), b.prefix+name)
	b.waitState(name, "exited")
}

func (b *dockerBackend) waitState(name, want string) {
	b.t.Helper()
	deadline := time.Now().Add(exitTimeout)
	for {
		out, err := docker(context.Background(), "inspect", "--format", "{{.State.Status}}", b.prefix+name)
		if err == nil && strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("container %s: not %s after %v (%s %v)", name, want, exitTimeout, strings.TrimSpace(out), err)
		}
		time.Sleep(pollInterval) // polling docker inspect with a deadline
	}
}

func (b *dockerBackend) pause(name string)  { b.t.Helper(); b.do("pause", b.prefix+name) }
func (b *dockerBackend) resume(name string) { b.t.Helper(); b.do("unpause", b.prefix+name) }

func (b *dockerBackend) netFaults() bool { return true }

func (b *dockerBackend) isolate(name string) {
	b.t.Helper()
	b.do("network", "disconnect", b.network, b.prefix+name)
}

func (b *dockerBackend) heal(name string) {
	b.t.Helper()
	ip, _, _ := strings.Cut(b.c.server(name).rpcAddr, ":")
	b.do("network", "connect", "--ip", ip, b.network, b.prefix+name)
}

func (b *dockerBackend) exited() string {
	b.mu.Lock()
	stopped := map[string]bool{}
	for k, v := range b.stopped {
		stopped[k] = v
	}
	b.mu.Unlock()
	for _, s := range b.c.servers {
		if stopped[s.name] {
			continue
		}
		out, err := docker(context.Background(), "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", b.prefix+s.name)
		if err != nil {
			return err.Error()
		}
		if st := strings.Fields(out); len(st) > 0 && (st[0] == "exited" || st[0] == "dead") {
			return fmt.Sprintf("container of %s exited on its own (%s)", s.name, strings.TrimSpace(out))
		}
	}
	return ""
}

func (b *dockerBackend) logs(name string) string {
	out, err := docker(context.Background(), "logs", "--tail", fmt.Sprint(logTailLines), b.prefix+name)
	if err != nil {
		return err.Error()
	}
	return out
}

func (b *dockerBackend) cleanup() {
	ctx := context.Background()
	for _, s := range fourZones {
		if _, err := docker(ctx, "rm", "-f", "-v", b.prefix+s[0]); err != nil && !strings.Contains(err.Error(), "No such container") {
			b.t.Errorf("remove container: %v", err)
		}
	}
	if _, err := docker(ctx, "network", "rm", b.network); err != nil && !strings.Contains(err.Error(), "not found") {
		b.t.Errorf("remove network: %v", err)
	}
}

// ---- obctl ----

type ctlError struct {
	args   []string
	code   int
	stderr string
}

func (e *ctlError) Error() string {
	return fmt.Sprintf("obctl %s: exit %d: %s", strings.Join(e.args, " "), e.code, strings.TrimSpace(e.stderr))
}

// ctl runs obctl with the cluster file and -o json and decodes its output into v (if not nil).
func (c *testCluster) ctl(ctx context.Context, v any, args ...string) error {
	all := append([]string{"-c", c.file, "--timeout", obctlTimeout.String(), "-o", "json"}, args...)
	cmd := exec.CommandContext(ctx, bins.obctl, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ctlError{args: args, code: ee.ExitCode(), stderr: errb.String()}
	}
	if err != nil {
		return fmt.Errorf("obctl %s: %w", strings.Join(args, " "), err)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("obctl %s -o json: decode %q: %w", strings.Join(args, " "), out.String(), err)
	}
	return nil
}

func (c *testCluster) mustCtl(ctx context.Context, v any, args ...string) {
	c.t.Helper()
	if err := c.ctl(ctx, v, args...); err != nil {
		c.t.Fatal(err)
	}
}

// replicaRow is one row of `obctl show replicas -o json`.
type replicaRow struct {
	Tenant       string `json:"tenant"`
	Table        string `json:"table"`
	Partition    int    `json:"partition"`
	Server       string `json:"server"`
	Zone         string `json:"zone"`
	Type         string `json:"type"`
	Role         string `json:"role"`
	AppliedIndex uint64 `json:"applied_index"`
	Lag          uint64 `json:"lag"`
}

type serverRow struct {
	Server string `json:"server"`
	Status string `json:"status"`
}

// waitFor polls cond every pollInterval until it holds, and fails the test if ctx ends first,
// with what cond last said. It returns how long the wait took.
func (c *testCluster) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		if msg := c.b.exited(); msg != "" {
			c.t.Fatalf("waiting for %s: %s; see its log below", what, msg)
		}
		ok, state := cond(ctx)
		if ok {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting for %s: gave up after %v: %s", what, time.Since(start).Round(time.Millisecond), state)
		case <-time.After(pollInterval):
		}
	}
}

func (c *testCluster) replicas(ctx context.Context, tenant string) ([]replicaRow, error) {
	var rows []replicaRow
	err := c.ctl(ctx, &rows, "show", "replicas", "--tenant", tenant)
	return rows, err
}

// waitReady waits until every server is ACTIVE and the meta partition has one leader.
func (c *testCluster) waitReady(ctx context.Context) time.Duration {
	c.t.Helper()
	return c.waitFor(ctx, "the cluster to be ready", func(ctx context.Context) (bool, string) {
		var servers []serverRow
		if err := c.ctl(ctx, &servers, "show", "servers"); err != nil {
			return false, err.Error()
		}
		active := 0
		for _, s := range servers {
			if s.Status == "ACTIVE" {
				active++
			}
		}
		if active != len(c.servers) {
			return false, fmt.Sprintf("servers: %+v", servers)
		}
		rows, err := c.replicas(ctx, "sys")
		if err != nil {
			return false, err.Error()
		}
		_, msg := leaders(rows, "__all_meta", 1)
		return msg == "", msg
	})
}

// leaders returns the leader row of each of the parts partitions of table, or a description of
// the replicas when some partition has no leader or more than one.
func leaders(rows []replicaRow, table string, parts int) (map[int]replicaRow, string) {
	out := map[int]replicaRow{}
	count := map[int]int{}
	for _, r := range rows {
		if r.Table == table && r.Role == "LEADER" {
			out[r.Partition] = r
			count[r.Partition]++
		}
	}
	for p := 0; p < parts; p++ {
		if count[p] != 1 {
			return nil, fmt.Sprintf("partition %d of %s has %d leaders: %s", p, table, count[p], describe(rows, table))
		}
	}
	return out, ""
}

// describe lists the replicas of table: "p0: s1/z1/F/LEADER@12 s2/z2/F/FOLLOWER@12; p1: ...".
func describe(rows []replicaRow, table string) string {
	by := map[int][]string{}
	var parts []int
	for _, r := range rows {
		if r.Table != table {
			continue
		}
		if _, ok := by[r.Partition]; !ok {
			parts = append(parts, r.Partition)
		}
		ty := r.Type
		if ty != "" {
			ty = ty[:1]
		}
		by[r.Partition] = append(by[r.Partition], fmt.Sprintf("%s/%s/%s/%s@%d", r.Server, r.Zone, ty, r.Role, r.AppliedIndex))
	}
	sort.Ints(parts)
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "p%d: %s; ", p, strings.Join(by[p], " "))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// waitLeaders waits until every partition of tenant.table has exactly one leader and each
// satisfies ok.
func (c *testCluster) waitLeaders(ctx context.Context, tenant, table string, parts int, what string, ok func(replicaRow) bool) {
	c.t.Helper()
	c.waitFor(ctx, fmt.Sprintf("the leaders of %s.%s %s", tenant, table, what), func(ctx context.Context) (bool, string) {
		rows, err := c.replicas(ctx, tenant)
		if err != nil {
			return false, err.Error()
		}
		ls, msg := leaders(rows, table, parts)
		if msg != "" {
			return false, msg
		}
		for _, r := range ls {
			if !ok(r) {
				return false, describe(rows, table)
			}
		}
		return true, ""
	})
}

// waitJobDone waits until tenant's latest job of kind is done, and fails the test if it failed.
func (c *testCluster) waitJobDone(ctx context.Context, tenant, kind string) {
	c.t.Helper()
	c.waitFor(ctx, fmt.Sprintf("the %s job of %s", kind, tenant), func(ctx context.Context) (bool, string) {
		var jobs []map[string]any
		if err := c.ctl(ctx, &jobs, "show", "jobs"); err != nil {
			return false, err.Error()
		}
		found, running := false, false
		for _, j := range jobs {
			if j["kind"] != kind || j["tenant"] != tenant {
				continue
			}
			found = true
			switch j["state"] {
			case "done":
			case "failed":
				c.t.Fatalf("%s job of %s failed: %v", kind, tenant, j)
			default:
				running = true
			}
		}
		return found && !running, fmt.Sprintf("jobs: %v", jobs)
	})
}
