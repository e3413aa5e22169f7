//go:build unix

package data

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Poll and time bounds of the harness.
const (
	// pollInterval is how often a wait re-checks its condition.
	pollInterval = 100 * time.Millisecond
	// obctlTimeout is obctl's own --timeout: how long one command may retry while the root
	// service moves.
	obctlTimeout = 4 * time.Second
	// exitTimeout bounds how long a killed or terminated observer may take to exit.
	exitTimeout = 15 * time.Second
	// logTailLines is how much of each server's log a failing test prints.
	logTailLines = 40
)

// region is a region of a topology and its zones.
type region struct {
	name  string
	zones []string
}

// topology is the shape of a test cluster: regions, and servers by name and zone (file order,
// which is also the servers' replica IDs).
type topology struct {
	regions []region
	servers [][2]string // name, zone
}

// fourZones is examples/cluster.yaml's shape: z1, z2, z3 in r1 and z4 in r2, one server each.
var fourZones = topology{
	regions: []region{{"r1", []string{"z1", "z2", "z3"}}, {"r2", []string{"z4"}}},
	servers: [][2]string{{"s1", "z1"}, {"s2", "z2"}, {"s3", "z3"}, {"s4", "z4"}},
}

// baseSettings keep each server small: four to six of them share a test machine.
var baseSettings = map[string]string{
	"sstable_memory":    "128MiB",
	"clog_segment_size": "16MiB",
}

// server is one server of a test cluster.
type server struct {
	name, zone          string
	rpcAddr, gossipAddr string
	dataDir             string
}

// proc is a running (or exited) observer process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	// exitedAt and err are set before done is closed.
	exitedAt time.Time
	err      error
	// stopping is set when the test kills or terminates the process on purpose.
	stopping atomic.Bool
}

// testCluster is a cluster of observer processes on loopback, owned by one test.
type testCluster struct {
	t       *testing.T
	file    string
	servers []server

	mu    sync.Mutex
	procs map[string]*proc // the latest process of each server
}

// newCluster writes a cluster file of topo with free loopback ports and settings (over
// baseSettings) into t.TempDir(). It starts nothing. Cleanup kills every process it started
// and, if the test failed, prints the tail of each server's log.
func newCluster(t *testing.T, topo topology, settings map[string]string) *testCluster {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 2*len(topo.servers))
	c := &testCluster{t: t, file: filepath.Join(dir, "cluster.yaml"), procs: map[string]*proc{}}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %s\nregions:\n", sanitize(t.Name()))
	for _, r := range topo.regions {
		fmt.Fprintf(&b, "  - name: %s\n    zones: [%s]\n", r.name, strings.Join(r.zones, ", "))
	}
	b.WriteString("servers:\n")
	for i, s := range topo.servers {
		srv := server{name: s[0], zone: s[1],
			rpcAddr:    fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			gossipAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			dataDir:    filepath.Join(dir, "data", s[0])}
		c.servers = append(c.servers, srv)
		fmt.Fprintf(&b, "  - {name: %s, zone: %s, rpc_addr: %s, gossip_addr: %s, data_dir: %s}\n",
			srv.name, srv.zone, srv.rpcAddr, srv.gossipAddr, srv.dataDir)
	}
	all := map[string]string{}
	for k, v := range baseSettings {
		all[k] = v
	}
	for k, v := range settings {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("settings:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, all[k])
	}
	if err := os.WriteFile(c.file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	return c
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

// freePorts returns n distinct loopback ports on which both TCP and UDP were free (memberlist
// binds both on the gossip port). Every listener is held until all n are chosen, so no port is
// handed out twice. Ports are drawn below the kernel's ephemeral range when it is known: an
// ephemeral port freed here could be taken by any outgoing connection (the observers dial each
// other while the later ones start, and again around restarts) before its observer binds it.
// The draw is random, not seeded: it only has to avoid ports others use at this moment.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	lo, hi := portRange()
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 50*n {
			t.Fatalf("could not find %d free loopback ports (tcp and udp) in %d..%d", n, lo, hi)
		}
		port := 0
		if hi > lo {
			port = lo + rand.IntN(hi-lo)
			if seen[port] {
				continue
			}
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		closers = append(closers, func() { _ = l.Close() })
		port = l.Addr().(*net.TCPAddr).Port
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

// portRange is the range freePorts draws from: the 12,000 ports below Linux's ephemeral range,
// or 0, 0 (let the kernel choose) when the range is unknown or leaves no room below it.
func portRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low < 13024 {
		return 0, 0
	}
	return low - 12000, low
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

// zoneOf returns the zone of server name.
func (c *testCluster) zoneOf(name string) string { return c.server(name).zone }

// start starts server name's observer in its own process group, appending its stdout and
// stderr to data_dir/observer.log.
func (c *testCluster) start(name string) {
	c.t.Helper()
	s := c.server(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[name]; p != nil && !p.exited() {
		c.t.Fatalf("start %s: already running (pid %d)", name, p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir, "observer.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bins.observer, "-c", c.file, "--server", name)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.exitedAt, p.err = time.Now(), err
		_ = f.Close()
		close(p.done)
	}()
	c.procs[name] = p
}

// startAll starts every server of the cluster.
func (c *testCluster) startAll() {
	c.t.Helper()
	for _, s := range c.servers {
		c.start(s.name)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (c *testCluster) proc(name string) *proc {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[name]
	if p == nil {
		c.t.Fatalf("server %s was never started", name)
	}
	return p
}

// kill sends SIGKILL to server name's process group and waits until it has exited.
func (c *testCluster) kill(name string) {
	c.t.Helper()
	p := c.proc(name)
	p.stopping.Store(true)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		c.t.Fatalf("kill %s: still running %v after SIGKILL", name, exitTimeout)
	}
}

func (c *testCluster) cleanup() {
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		p.stopping.Store(true)
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(exitTimeout):
			c.t.Errorf("observer pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	}
	if c.t.Failed() {
		c.dumpLogs()
	}
}

// dumpLogs prints the tail of every server's observer.log.
func (c *testCluster) dumpLogs() {
	for _, s := range c.servers {
		b, err := os.ReadFile(filepath.Join(s.dataDir, "observer.log"))
		if err != nil {
			c.t.Logf("--- %s: no log: %v", s.name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		c.t.Logf("--- last %d lines of %s/observer.log:\n%s", len(lines), s.name, strings.Join(lines, "\n"))
	}
}

// ctlError is a failed obctl run: its exit code and stderr.
type ctlError struct {
	args   []string
	code   int
	stderr string
}

func (e *ctlError) Error() string {
	return fmt.Sprintf("obctl %s: exit %d: %s", strings.Join(e.args, " "), e.code, strings.TrimSpace(e.stderr))
}

// run runs obctl with args and the cluster file, and returns its stdout. A non-zero exit is a
// *ctlError.
func (c *testCluster) run(ctx context.Context, args ...string) (string, error) {
	all := append([]string{"-c", c.file, "--timeout", obctlTimeout.String()}, args...)
	cmd := exec.CommandContext(ctx, bins.obctl, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), &ctlError{args: args, code: ee.ExitCode(), stderr: errb.String()}
	}
	if err != nil {
		return out.String(), fmt.Errorf("obctl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// ctl runs obctl with -o json and decodes its output into v (if not nil).
func (c *testCluster) ctl(ctx context.Context, v any, args ...string) error {
	out, err := c.run(ctx, append(args, "-o", "json")...)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("obctl %s -o json: decode %q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// mustCtl is ctl that fails the test on error.
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

// serverRow is one row of `obctl show servers -o json`.
type serverRow struct {
	Server string `json:"server"`
	Zone   string `json:"zone"`
	Region string `json:"region"`
	Status string `json:"status"`
}

// waitFor polls cond every pollInterval until it holds, and fails the test if ctx ends first,
// with what cond last said about the state. It returns how long the wait took.
func (c *testCluster) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	c.t.Helper()
	start := time.Now()
	last := "never checked"
	for {
		if msg := c.unexpectedExit(); msg != "" {
			c.t.Fatalf("waiting for %s: %s", what, msg)
		}
		ok, state := cond(ctx)
		if ok {
			return time.Since(start)
		}
		last = state
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting for %s: gave up after %v: %s", what, time.Since(start).Round(time.Millisecond), last)
		case <-time.After(pollInterval):
		}
	}
}

// unexpectedExit describes an observer that exited without the test stopping it, or is "".
func (c *testCluster) unexpectedExit() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.procs {
		if p.exited() && !p.stopping.Load() {
			return fmt.Sprintf("observer %s exited on its own (%v); see its log below", name, p.err)
		}
	}
	return ""
}

// waitReady waits until the root service sees every server ACTIVE
// and the meta partition has a leader.
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
		if active != len(c.servers) || len(servers) != len(c.servers) {
			return false, fmt.Sprintf("servers: %+v", servers)
		}
		rows, err := c.replicas(ctx, "sys")
		if err != nil {
			return false, err.Error()
		}
		if _, msg := leaders(rows, "__all_meta", 1); msg != "" {
			return false, msg
		}
		return true, ""
	})
}

// replicas returns `show replicas` of one tenant.
func (c *testCluster) replicas(ctx context.Context, tenant string) ([]replicaRow, error) {
	var rows []replicaRow
	err := c.ctl(ctx, &rows, "show", "replicas", "--tenant", tenant)
	return rows, err
}

// leaders returns the leader row of each of the parts partitions of table, or, when some
// partition has no leader or more than one, a description of the replicas.
func leaders(rows []replicaRow, table string, parts int) (map[int]replicaRow, string) {
	out := map[int]replicaRow{}
	count := map[int]int{}
	for _, r := range rows {
		if r.Table != table || r.Role != "LEADER" {
			continue
		}
		out[r.Partition] = r
		count[r.Partition]++
	}
	for p := 0; p < parts; p++ {
		if count[p] != 1 {
			return nil, fmt.Sprintf("partition %d of %s has %d leaders: %s", p, table, count[p], describe(rows, table))
		}
	}
	return out, ""
}

// describe lists the replicas of table compactly: "p0: s1/z1/F/LEADER s2/z2/F/FOLLOWER; p1: ...".
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
		by[r.Partition] = append(by[r.Partition], fmt.Sprintf("%s/%s/%s/%s", r.Server, r.Zone, r.Type[:1], r.Role))
	}
	sort.Ints(parts)
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "p%d: %s; ", p, strings.Join(by[p], " "))
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// setupTenant creates a unit u_TENANT, pool and tenant in one go.
func (c *testCluster) setupTenant(ctx context.Context, tenant, pool string, unitNum int, zones, locality, primaryZone string) {
	c.t.Helper()
	c.mustCtl(ctx, nil, "create", "resource-unit", "u_"+tenant, "--max-cpu", "1", "--memory-size", "1GiB")
	c.mustCtl(ctx, nil, "create", "resource-pool", pool, "--unit", "u_"+tenant, "--unit-num", fmt.Sprint(unitNum), "--zone-list", zones)
	args := []string{"create", "tenant", tenant, "--resource-pool-list", pool, "--primary-zone", primaryZone}
	if locality != "" {
		args = append(args, "--locality", locality)
	}
	c.mustCtl(ctx, nil, args...)
}

// testContext bounds one test.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
