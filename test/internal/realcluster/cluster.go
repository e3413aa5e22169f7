package realcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"obkv/test/internal/faultproxy"
)

// Poll and time bounds of the harness.
const (
	// PollInterval is how often a wait re-checks its condition.
	PollInterval = 100 * time.Millisecond
	// ObctlTimeout is obctl's own --timeout: how long one command may retry while the root
	// service moves.
	ObctlTimeout = 4 * time.Second
	// ExitTimeout bounds how long a killed or terminated observer may take to exit.
	ExitTimeout = 15 * time.Second
	// LogTailLines is how much of each server's log a failing test prints.
	LogTailLines = 40
)

// Region is a region of a topology and its zones.
type Region struct {
	Name  string
	Zones []string
}

// Topology is the shape of a test cluster: regions, and servers by name and zone (file order,
// which is also the servers' replica IDs).
type Topology struct {
	Regions []Region
	Servers [][2]string // name, zone
}

// BaseSettings keep each server small: four to six of them share a test machine. New's settings
// are applied over them.
var BaseSettings = map[string]string{
	"sstable_memory":    "128MiB",
	"clog_segment_size": "32MiB",
}

// Server is one server of a test cluster.
type Server struct {
	Name, Zone string
	// RPCAddr and GossipAddr are the cluster file's: where peers, obctl and clients reach the
	// server (its proxies, in a proxied cluster).
	RPCAddr, GossipAddr string
	// RPCListen and GossipListen are where the observer really listens in a proxied cluster
	// (observer --rpc-listen, --gossip-listen); "" otherwise.
	RPCListen, GossipListen string
	DataDir                 string
}

// Proc is a running (or exited) observer process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	// exitedAt and err are set before done is closed.
	exitedAt time.Time
	err      error
	// stopping is set when the test kills, terminates or restarts the process on purpose.
	// Guarded by Cluster.mu.
	stopping bool
}

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitedAt is when the process was seen to exit; valid once Done is closed.
func (p *Proc) ExitedAt() time.Time { <-p.done; return p.exitedAt }

// Err is how the process exited (nil for status 0); valid once Done is closed.
func (p *Proc) Err() error { <-p.done; return p.err }

// Pid is the process's ID, which is also its process group's.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Cluster is a cluster of observer processes on loopback, owned by one test.
type Cluster struct {
	t *testing.T
	// File is the cluster file obctl and the observers read.
	File string
	// Servers are in the cluster file's order.
	Servers []Server

	// Net cuts the links between the servers (and between them and the test's clients) of a
	// proxied cluster; nil otherwise.
	Net *faultproxy.Net

	mu    sync.Mutex
	procs map[string]*Proc    // the latest process of each server
	args  map[string][]string // extra observer flags of each server (SetArgs)
}

// Options are New's choices beyond the topology and settings.
type Options struct {
	// Proxied puts every server behind fault-injecting proxies (see NewProxied).
	Proxied bool
}

// Client is the node the proxies of a proxied cluster attribute every connection and datagram
// that does not come from a server's address to: the test's clients and obctl.
const Client = "client"

// New writes a cluster file named name (the sanitized test name when "") of topo with free
// loopback ports and settings (over BaseSettings) into t.TempDir(). It starts nothing. Cleanup
// kills every process it started and, if the test failed, logs the tail of each server's log.
func New(t *testing.T, name string, topo Topology, settings map[string]string) *Cluster {
	t.Helper()
	return newCluster(t, name, topo, settings, Options{})
}

// NewProxied is New with every server behind fault-injecting proxies on loopback, so that the
// test can cut links with c.Net (test/internal/faultproxy):
//
//   - Server i (1-based) gets an address of its own, 127.A.B.i, with A.B drawn at random for the
//     run (so that two runs never share one). The cluster file's rpc_addr and gossip_addr are
//     its proxies there (TCP for rpc; TCP and UDP for gossip); the observer listens on two
//     other ports of the same address (--rpc-listen, --gossip-listen) and makes its outgoing
//     peer and gossip connections from it, which is how the proxies tell the servers apart.
//   - obctl and the clients of the test reach the servers through the proxies too, from
//     127.0.0.1: node Client.
//
// When this system refuses to listen on such an address (not Linux), the cluster is not
// proxied: c.Net is nil and the reason is logged.
func NewProxied(t *testing.T, name string, topo Topology, settings map[string]string) *Cluster {
	t.Helper()
	return newCluster(t, name, topo, settings, Options{Proxied: true})
}

func newCluster(t *testing.T, name string, topo Topology, settings map[string]string, opts Options) *Cluster {
	t.Helper()
	if name == "" {
		name = sanitize(t.Name())
	}
	dir := t.TempDir()
	c := &Cluster{t: t, File: filepath.Join(dir, "cluster.yaml"), procs: map[string]*Proc{}, args: map[string][]string{}}
	base := ""
	if opts.Proxied {
		base = fmt.Sprintf("127.%d.%d.", 100+rand.IntN(100), rand.IntN(256))
		if l, err := net.Listen("tcp", base+"1:0"); err != nil {
			t.Logf("no fault proxies: cannot listen on %s1 (%v); the servers run on 127.0.0.1", base, err)
			base = ""
		} else {
			_ = l.Close()
		}
	}
	perServer := 2
	if base != "" {
		perServer = 4
		c.Net = faultproxy.New(Client)
		// Registered before the processes' cleanup, so it runs after it: the proxies outlive
		// the observers.
		t.Cleanup(func() { _ = c.Net.Close() })
	}
	ports := FreePorts(t, perServer*len(topo.Servers))
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %s\nregions:\n", name)
	for _, r := range topo.Regions {
		fmt.Fprintf(&b, "  - name: %s\n    zones: [%s]\n", r.Name, strings.Join(r.Zones, ", "))
	}
	b.WriteString("servers:\n")
	for i, s := range topo.Servers {
		p := ports[perServer*i:]
		srv := Server{Name: s[0], Zone: s[1],
			RPCAddr:    fmt.Sprintf("127.0.0.1:%d", p[0]),
			GossipAddr: fmt.Sprintf("127.0.0.1:%d", p[1]),
			DataDir:    filepath.Join(dir, "data", s[0])}
		if base != "" {
			ip := fmt.Sprintf("%s%d", base, i+1)
			srv.RPCAddr, srv.GossipAddr = fmt.Sprintf("%s:%d", ip, p[0]), fmt.Sprintf("%s:%d", ip, p[1])
			srv.RPCListen, srv.GossipListen = fmt.Sprintf("%s:%d", ip, p[2]), fmt.Sprintf("%s:%d", ip, p[3])
			c.Net.AddHost(netip.MustParseAddr(ip), srv.Name)
			if _, err := c.Net.ListenTCP(srv.RPCAddr, srv.RPCListen, srv.Name); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Net.ListenTCP(srv.GossipAddr, srv.GossipListen, srv.Name); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Net.ListenUDP(srv.GossipAddr, srv.GossipListen, srv.Name); err != nil {
				t.Fatal(err)
			}
		}
		c.Servers = append(c.Servers, srv)
		fmt.Fprintf(&b, "  - {name: %s, zone: %s, rpc_addr: %s, gossip_addr: %s, data_dir: %s}\n",
			srv.Name, srv.Zone, srv.RPCAddr, srv.GossipAddr, srv.DataDir)
	}
	all := map[string]string{}
	for k, v := range BaseSettings {
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
	if err := os.WriteFile(c.File, []byte(b.String()), 0o644); err != nil {
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

// Server returns server name, and fails the test if there is none.
func (c *Cluster) Server(name string) Server {
	c.t.Helper()
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	c.t.Fatalf("no server %q in the test cluster", name)
	return Server{}
}

// ZoneOf returns the zone of server name.
func (c *Cluster) ZoneOf(name string) string { return c.Server(name).Zone }

// Addrs returns the servers' RPC addresses in file order.
func (c *Cluster) Addrs() []string {
	out := make([]string, 0, len(c.Servers))
	for _, s := range c.Servers {
		out = append(out, s.RPCAddr)
	}
	return out
}

// Start starts (or restarts) server name's observer in its own process group, appending its
// stdout and stderr to data_dir/observer.log. The server must not be running.
func (c *Cluster) Start(name string) {
	c.t.Helper()
	s := c.Server(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[name]; p != nil && !p.exited() {
		c.t.Fatalf("start %s: already running (pid %d)", name, p.Pid())
	}
	if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.DataDir, "observer.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	args := []string{"-c", c.File, "--server", name}
	if s.RPCListen != "" {
		args = append(args, "--rpc-listen", s.RPCListen, "--gossip-listen", s.GossipListen)
	}
	args = append(args, c.args[name]...)
	cmd := exec.Command(Bins().Observer, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.exitedAt, p.err = time.Now(), err
		_ = f.Close()
		close(p.done)
	}()
	c.procs[name] = p
}

// Wipe empties the data directory of server name, which must not be running, as a lost disk
// would; its observer.log stays for the test's report.
func (c *Cluster) Wipe(name string) {
	c.t.Helper()
	dir := c.Server(name).DataDir
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[name]; p != nil && !p.exited() {
		c.t.Fatalf("wipe %s: it is running (pid %d)", name, p.Pid())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "observer.log" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			c.t.Fatal(err)
		}
	}
}

// SetArgs sets the extra observer flags server name starts with from now on (none by default).
func (c *Cluster) SetArgs(name string, args ...string) {
	c.t.Helper()
	c.Server(name) // fails on an unknown name
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args[name] = append([]string(nil), args...)
}

// Isolate cuts every link of server name, both ways: to and from every other server and the
// test's clients. It fails the test if the cluster is not proxied.
func (c *Cluster) Isolate(name string) {
	c.t.Helper()
	for _, other := range c.nodes() {
		if other != name {
			c.net().Cut(name, other)
			c.net().Cut(other, name)
		}
	}
}

// Heal restores every link of server name, both ways.
func (c *Cluster) Heal(name string) {
	c.t.Helper()
	for _, other := range c.nodes() {
		if other != name {
			c.net().Heal(name, other)
			c.net().Heal(other, name)
		}
	}
}

func (c *Cluster) nodes() []string {
	out := []string{Client}
	for _, s := range c.Servers {
		out = append(out, s.Name)
	}
	return out
}

func (c *Cluster) net() *faultproxy.Net {
	c.t.Helper()
	if c.Net == nil {
		c.t.Fatal("this cluster has no fault proxies (realcluster.NewProxied)")
	}
	return c.Net
}

// StartAll starts every server of the cluster.
func (c *Cluster) StartAll() {
	c.t.Helper()
	for _, s := range c.Servers {
		c.Start(s.Name)
	}
}

// proc returns server name's latest process and marks it stopping when stop is set.
func (c *Cluster) proc(name string, stop bool) *Proc {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[name]
	if p == nil {
		c.t.Fatalf("server %s was never started", name)
	}
	if stop {
		p.stopping = true
	}
	return p
}

// signalAndWait sends sig to server name's process group and waits until it has exited. A
// paused process is continued first: it must run to exit cleanly.
func (c *Cluster) signalAndWait(name string, sig syscall.Signal) {
	c.t.Helper()
	p := c.proc(name, true)
	_ = syscall.Kill(-p.Pid(), syscall.SIGCONT)
	_ = syscall.Kill(-p.Pid(), sig)
	select {
	case <-p.done:
	case <-time.After(ExitTimeout):
		c.t.Fatalf("%s: still running %v after %v", name, ExitTimeout, sig)
	}
}

// Kill sends SIGKILL to server name's process group and waits until it has exited.
func (c *Cluster) Kill(name string) { c.t.Helper(); c.signalAndWait(name, syscall.SIGKILL) }

// Stop sends SIGTERM to server name's process group and waits until it has exited.
func (c *Cluster) Stop(name string) { c.t.Helper(); c.signalAndWait(name, syscall.SIGTERM) }

// Term sends SIGTERM to server name's observer and returns its process; the caller waits on
// Done for it to hand its leaderships over and exit.
func (c *Cluster) Term(name string) *Proc {
	c.t.Helper()
	p := c.proc(name, true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("SIGTERM %s: %v", name, err)
	}
	return p
}

// Pause freezes every thread of server name (SIGSTOP to its group); Resume thaws it.
func (c *Cluster) Pause(name string) {
	c.t.Helper()
	if err := syscall.Kill(-c.proc(name, false).Pid(), syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP %s: %v", name, err)
	}
}

// Resume continues a server Pause froze.
func (c *Cluster) Resume(name string) {
	c.t.Helper()
	if err := syscall.Kill(-c.proc(name, false).Pid(), syscall.SIGCONT); err != nil {
		c.t.Fatalf("SIGCONT %s: %v", name, err)
	}
}

// Restart kills server name and starts it again on the same data directory.
func (c *Cluster) Restart(name string) {
	c.t.Helper()
	c.Kill(name)
	c.Start(name)
}

// KillAll kills every running server.
func (c *Cluster) KillAll() {
	c.t.Helper()
	for _, s := range c.Servers {
		c.mu.Lock()
		p := c.procs[s.Name]
		c.mu.Unlock()
		if p != nil && !p.exited() {
			c.Kill(s.Name)
		}
	}
}

// Unexpected describes an observer that exited without the test stopping it, or is "".
func (c *Cluster) Unexpected() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.procs {
		if p.exited() && !p.stopping {
			return fmt.Sprintf("observer %s exited on its own (%v)", name, p.err)
		}
	}
	return ""
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	procs := make([]*Proc, 0, len(c.procs))
	for _, p := range c.procs {
		p.stopping = true
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(ExitTimeout):
			c.t.Errorf("observer pid %d did not exit after SIGKILL", p.Pid())
		}
	}
	if c.t.Failed() {
		c.DumpLogs()
	}
}

// LogTail returns the last LogTailLines lines of server name's observer.log, or why there are
// none.
func (c *Cluster) LogTail(name string) string {
	return Tail(c.Log(name))
}

// Log returns the whole of server name's observer.log, or why there is none.
func (c *Cluster) Log(name string) string {
	b, err := os.ReadFile(filepath.Join(c.Server(name).DataDir, "observer.log"))
	if err != nil {
		return fmt.Sprintf("no log: %v", err)
	}
	return string(b)
}

// Tail returns the last LogTailLines lines of s.
func Tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > LogTailLines {
		lines = lines[len(lines)-LogTailLines:]
	}
	return strings.Join(lines, "\n")
}

// DumpLogs logs the tail of every server's observer.log and keeps the whole logs in a directory
// outside the test's own (which is removed), naming it: a failure seen in a long run must be
// readable after it.
func (c *Cluster) DumpLogs() {
	for _, s := range c.Servers {
		c.t.Logf("--- last lines of %s/observer.log:\n%s", s.Name, c.LogTail(s.Name))
	}
	var names []string
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	if keep, err := KeepLogs(c.t, names, c.Log); err != nil {
		c.t.Logf("whole server logs not kept (%s): %v", keep, err)
	} else {
		c.t.Logf("whole server logs kept in %s", keep)
	}
}

// KeepLogs writes each server's whole log, as logOf returns it, into a new directory outside
// the test's own (which is removed when the test ends) and returns the directory.
func KeepLogs(t *testing.T, names []string, logOf func(name string) string) (string, error) {
	keep, err := os.MkdirTemp("", "obkv-logs-"+sanitize(t.Name())+"-*")
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(keep, n+".log"), []byte(logOf(n)), 0o644); err != nil {
			return keep, err
		}
	}
	return keep, nil
}

// FourZones is examples/cluster.yaml's shape: z1, z2, z3 in r1 and z4 in r2, one server each.
var FourZones = Topology{
	Regions: []Region{{"r1", []string{"z1", "z2", "z3"}}, {"r2", []string{"z4"}}},
	Servers: [][2]string{{"s1", "z1"}, {"s2", "z2"}, {"s3", "z3"}, {"s4", "z4"}},
}

// ThreeByTwo is examples/cluster-3x2.yaml's shape: three zones of two servers in one region.
var ThreeByTwo = Topology{
	Regions: []Region{{"r1", []string{"z1", "z2", "z3"}}},
	Servers: [][2]string{{"s1", "z1"}, {"s2", "z1"}, {"s3", "z2"}, {"s4", "z2"}, {"s5", "z3"}, {"s6", "z3"}},
}
