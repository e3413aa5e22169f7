//go:build unix

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// Poll and time bounds of the harness, shared with the loopback suites.
const (
	pollInterval = realcluster.PollInterval
	// exitTimeout bounds how long a killed or stopped server may take to exit.
	exitTimeout = realcluster.ExitTimeout
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
	// noNetFaults says why isolate, heal and the one-way cut do not work here, or is "".
	noNetFaults() string
	// isolate cuts every network link of a server, both ways; heal restores them.
	isolate(name string)
	heal(name string)
	// noOneWay says why cutOneWay does not work here, or is "".
	noOneWay() string
	// cutOneWay loses everything server from sends to the servers to, while what they send to
	// it still arrives. healOneWay restores it and returns how many packets (Docker) or
	// gossip datagrams (proxies) of the cut were dropped: the proof that it took effect.
	cutOneWay(from string, to []string)
	healOneWay(from string, to []string) uint64
	// wipe empties the data directory of a server that is not running, as a lost disk would.
	wipe(name string)
	// restartWith stops a running server gracefully and starts it again with extra observer
	// flags, which later starts keep.
	restartWith(name string, args ...string)
	// exited describes a server that exited without the test stopping it, or is "".
	exited() string
	// logs returns a server's whole log (every start of it), or why there is none.
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
	b.WriteString("settings:\n  sstable_memory: 128MiB\n  clog_segment_size: 32MiB\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dumpLogs prints the tail of every server's log and keeps the whole logs; the Docker
// backend's cleanup calls it when the test failed (realcluster does it for processes).
func (c *testCluster) dumpLogs() {
	var names []string
	for _, s := range c.servers {
		c.t.Logf("--- last lines of %s's log:\n%s", s.name, realcluster.Tail(c.b.logs(s.name)))
		names = append(names, s.name)
	}
	if keep, err := realcluster.KeepLogs(c.t, names, c.b.logs); err != nil {
		c.t.Logf("whole server logs not kept (%s): %v", keep, err)
	} else {
		c.t.Logf("whole server logs kept in %s", keep)
	}
}

// checkLogs fails the test for every server log line that reports a broken invariant: a chosen
// write that did not apply (replica "apply failed"), or a panic.
func (c *testCluster) checkLogs() {
	for _, s := range c.servers {
		for _, line := range brokenInvariants(c.b.logs(s.name)) {
			c.t.Errorf("%s logged: %s", s.name, line)
		}
	}
}

// brokenInvariants returns the lines of a server log that report a broken invariant.
func brokenInvariants(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="apply failed`) || strings.HasPrefix(line, "panic:") {
			out = append(out, line)
		}
	}
	return out
}

// ---- Loopback processes ----

// procBackend runs each server as an observer process on loopback, in its own process group,
// behind fault-injecting proxies: a realcluster.Cluster made by NewProxied, which also kills the
// processes and dumps their logs at cleanup.
type procBackend struct {
	t  *testing.T
	rc *realcluster.Cluster
	// dropped is what Net.Dropped said of each link when cutOneWay cut it.
	dropped map[[2]string]uint64
}

var _ backend = (*procBackend)(nil)

// newLoopbackCluster writes a cluster file with free loopback ports, every server behind its
// proxies on an address of its own, into t.TempDir(). It starts nothing; cleanup kills every
// process it started and closes the proxies.
func newLoopbackCluster(t *testing.T) *testCluster {
	t.Helper()
	rc := realcluster.NewProxied(t, "faults-loopback", realcluster.FourZones, nil)
	c := &testCluster{t: t, file: rc.File, b: &procBackend{t: t, rc: rc, dropped: map[[2]string]uint64{}}}
	for i, s := range rc.Servers {
		c.servers = append(c.servers, server{name: s.Name, zone: s.Zone, region: fourZones[i][2],
			rpcAddr: s.RPCAddr, gossipAddr: s.GossipAddr, dataDir: s.DataDir})
	}
	return c
}

func (b *procBackend) start(name string)       { b.rc.Start(name) }
func (b *procBackend) kill(name string)        { b.rc.Kill(name) }
func (b *procBackend) stop(name string)        { b.rc.Stop(name) }
func (b *procBackend) pause(name string)       { b.rc.Pause(name) }
func (b *procBackend) resume(name string)      { b.rc.Resume(name) }
func (b *procBackend) exited() string          { return b.rc.Unexpected() }
func (b *procBackend) logs(name string) string { return b.rc.Log(name) }
func (b *procBackend) isolate(name string)     { b.t.Helper(); b.rc.Isolate(name) }
func (b *procBackend) heal(name string)        { b.t.Helper(); b.rc.Heal(name) }
func (b *procBackend) noOneWay() string        { return b.noNetFaults() }

func (b *procBackend) noNetFaults() string {
	if b.rc.Net == nil {
		return "no fault proxies here (see the log above)"
	}
	return ""
}

// cutOneWay cuts the proxies' links from server from to each of to: its datagrams are dropped,
// its bytes on every TCP connection between them (whoever opened it) held until healOneWay.
func (b *procBackend) cutOneWay(from string, to []string) {
	for _, x := range to {
		b.dropped[[2]string{from, x}] = b.rc.Net.Dropped(from, x)
		b.rc.Net.Cut(from, x)
	}
}

func (b *procBackend) healOneWay(from string, to []string) uint64 {
	var n uint64
	for _, x := range to {
		b.rc.Net.Heal(from, x)
		n += b.rc.Net.Dropped(from, x) - b.dropped[[2]string{from, x}]
	}
	return n
}

func (b *procBackend) wipe(name string) { b.t.Helper(); b.rc.Wipe(name) }

func (b *procBackend) restartWith(name string, args ...string) {
	b.t.Helper()
	b.rc.Stop(name)
	b.rc.SetArgs(name, args...)
	b.rc.Start(name)
}

// ---- Docker containers ----

// Ports every container listens on (each has its own address, so they never collide).
const (
	dockerRPCPort    = 2882
	dockerGossipPort = 2883
)

// dockerBackend runs each server as a container of the project's image on a network of its own,
// its data directory on a volume of its own (so that a container can be made again with other
// flags and keep its data).
type dockerBackend struct {
	t       *testing.T
	c       *testCluster
	network string
	prefix  string // container and volume names are prefix + server name
	mu      sync.Mutex
	// stopped holds the servers the test stopped on purpose, killed or stopped.
	stopped map[string]bool
	// args are the extra observer flags of each server's container.
	args map[string][]string
	// earlier holds the logs of each server's containers that restartWith removed.
	earlier map[string]string
}

// newDockerCluster creates a Docker network with a random free private /24 subnet and one
// (not yet started) container per server, with the cluster file copied in. Names are unique
// to the run; cleanup removes the containers and the network even when the test fails.
func newDockerCluster(t *testing.T) *testCluster {
	t.Helper()
	dir := t.TempDir()
	run := fmt.Sprintf("obkv-faults-%d-%06d", os.Getpid(), rand.IntN(1e6))
	db := &dockerBackend{t: t, network: run, prefix: run + "-", stopped: map[string]bool{}, args: map[string][]string{}, earlier: map[string]string{}}
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
		if _, err := docker(ctx, "volume", "create", "--label", "obkv-faults=1", db.prefix+s.name); err != nil {
			t.Fatal(err)
		}
		db.create(s.name)
	}
	return c
}

// create makes server name's container (not started) with its extra flags, its volume at /data
// and the cluster file copied in.
func (b *dockerBackend) create(name string) {
	b.t.Helper()
	ctx := context.Background()
	ip, _, _ := strings.Cut(b.c.server(name).rpcAddr, ":")
	args := []string{"create", "--name", b.prefix + name, "--network", b.network, "--ip", ip,
		"--label", "obkv-faults=1", "--mount", "type=volume,source=" + b.prefix + name + ",target=/data",
		image, "-c", "/cluster.yaml", "--server", name}
	b.mu.Lock()
	args = append(args, b.args[name]...)
	b.mu.Unlock()
	if _, err := docker(ctx, args...); err != nil {
		b.t.Fatal(err)
	}
	// docker cp needs no shell in the image: scratch is enough.
	if _, err := docker(ctx, "cp", b.c.file, b.prefix+name+":/cluster.yaml"); err != nil {
		b.t.Fatal(err)
	}
}

// restartWith stops the container, makes it again with args (a container's command is fixed
// when it is created; the data is on its volume) and starts it.
func (b *dockerBackend) restartWith(name string, args ...string) {
	b.t.Helper()
	b.stop(name)
	b.remove(name)
	b.mu.Lock()
	b.args[name] = append([]string(nil), args...)
	b.mu.Unlock()
	b.create(name)
	b.start(name)
}

// remove removes the stopped container of server name, keeping its log for the report.
func (b *dockerBackend) remove(name string) {
	b.t.Helper()
	log := b.containerLog(name)
	b.mu.Lock()
	b.earlier[name] += log
	b.mu.Unlock()
	b.do("rm", b.prefix+name)
}

// wipe removes the container and its volume and makes both again: the data is gone, the
// container's log is kept for the report.
func (b *dockerBackend) wipe(name string) {
	b.t.Helper()
	b.remove(name)
	b.do("volume", "rm", b.prefix+name)
	b.do("volume", "create", "--label", "obkv-faults=1", b.prefix+name)
	b.create(name)
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

func (b *dockerBackend) noNetFaults() string { return "" }

// noOneWay: one-way loss is an iptables rule in the sender's network namespace, entered with
// nsenter (the image has no iptables): both must be on the host, and the test must run as root.
func (b *dockerBackend) noOneWay() string {
	for _, tool := range []string{"nsenter", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not on PATH"
		}
	}
	if os.Geteuid() != 0 {
		return "the test does not run as root (nsenter and iptables need it)"
	}
	return ""
}

// iptables runs the host's iptables with args in the network namespace of server name's container.
func (b *dockerBackend) iptables(name string, args ...string) string {
	b.t.Helper()
	out, err := docker(context.Background(), "inspect", "--format", "{{.State.Pid}}", b.prefix+name)
	if err != nil {
		b.t.Fatal(err)
	}
	pid := strings.TrimSpace(out)
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	all := append([]string{"--target", pid, "--net", "iptables", "-w", "5"}, args...)
	res, err := exec.CommandContext(ctx, "nsenter", all...).CombinedOutput()
	if err != nil {
		b.t.Fatalf("nsenter %s: %v: %s", strings.Join(all, " "), err, res)
	}
	return string(res)
}

func (b *dockerBackend) ipOf(name string) string {
	ip, _, _ := strings.Cut(b.c.server(name).rpcAddr, ":")
	return ip
}

// cutOneWay drops every packet server from sends to each of to, in from's own network
// namespace (its OUTPUT chain): the scratch image has no iptables, the host's runs there.
func (b *dockerBackend) cutOneWay(from string, to []string) {
	b.t.Helper()
	for _, x := range to {
		b.iptables(from, "-I", "OUTPUT", "-d", b.ipOf(x), "-j", "DROP")
	}
}

// healOneWay removes the rules and returns how many packets they dropped.
func (b *dockerBackend) healOneWay(from string, to []string) uint64 {
	b.t.Helper()
	dst := map[string]bool{}
	for _, x := range to {
		dst[b.ipOf(x)] = true
	}
	var n uint64
	for _, line := range strings.Split(b.iptables(from, "-L", "OUTPUT", "-n", "-v", "-x"), "\n") {
		// pkts bytes target prot opt in out source destination
		if f := strings.Fields(line); len(f) >= 9 && f[2] == "DROP" && dst[f[8]] {
			var k uint64
			_, _ = fmt.Sscan(f[0], &k)
			n += k
		}
	}
	for _, x := range to {
		b.iptables(from, "-D", "OUTPUT", "-d", b.ipOf(x), "-j", "DROP")
	}
	return n
}

func (b *dockerBackend) isolate(name string) {
	b.t.Helper()
	b.do("network", "disconnect", b.network, b.prefix+name)
}

func (b *dockerBackend) heal(name string) {
	b.t.Helper()
	b.do("network", "connect", "--ip", b.ipOf(name), b.network, b.prefix+name)
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
	b.mu.Lock()
	earlier := b.earlier[name]
	b.mu.Unlock()
	return earlier + b.containerLog(name)
}

// containerLog is the log of name's current container.
func (b *dockerBackend) containerLog(name string) string {
	out, err := docker(context.Background(), "logs", b.prefix+name)
	if err != nil {
		return err.Error() + "\n"
	}
	return out
}

func (b *dockerBackend) cleanup() {
	ctx := context.Background()
	for _, s := range fourZones {
		if _, err := docker(ctx, "rm", "-f", "-v", b.prefix+s[0]); err != nil && !strings.Contains(err.Error(), "No such container") {
			b.t.Errorf("remove container: %v", err)
		}
		if _, err := docker(ctx, "volume", "rm", "-f", b.prefix+s[0]); err != nil {
			b.t.Errorf("remove volume: %v", err)
		}
	}
	if _, err := docker(ctx, "network", "rm", b.network); err != nil && !strings.Contains(err.Error(), "not found") {
		b.t.Errorf("remove network: %v", err)
	}
}

// ---- obctl ----

// ctl runs obctl with the cluster file and -o json and decodes its output into v (if not nil).
// obctl itself moves on to another server when one fails or, for a show, does not answer in
// time (a server that clients reach but that cannot reach the root service, under one-way loss).
func (c *testCluster) ctl(ctx context.Context, v any, args ...string) error {
	return realcluster.Ctl(ctx, c.file, v, args...)
}

func (c *testCluster) mustCtl(ctx context.Context, v any, args ...string) {
	c.t.Helper()
	if err := c.ctl(ctx, v, args...); err != nil {
		c.t.Fatal(err)
	}
}

type (
	replicaRow = realcluster.ReplicaRow
	serverRow  = realcluster.ServerRow
)

// waitFor polls cond until it holds; see realcluster.WaitFor.
// Each wait gives up after at most maxWait, whatever is left of the run's bound: a failover,
// a catch-up or a return home takes seconds, and a cluster stuck for longer has a bug to report
// now, not when the run's bound ends.
func (c *testCluster) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	return realcluster.WaitFor(ctx, c.t, what, c.b.exited, cond)
}

// maxWait bounds one wait of the suite.
const maxWait = 2 * time.Minute

func (c *testCluster) replicas(ctx context.Context, tenant string) ([]replicaRow, error) {
	var rows []replicaRow
	err := c.ctl(ctx, &rows, "show", "replicas", "--tenant", tenant)
	return rows, err
}

// waitReady waits until every server is ACTIVE and the meta partition has one leader.
func (c *testCluster) waitReady(ctx context.Context) time.Duration {
	c.t.Helper()
	return c.waitFor(ctx, "the cluster to be ready", c.readyCheck)
}

// readyCheck reports whether every server is ACTIVE and the meta partition has one leader, and
// if not, what it saw.
func (c *testCluster) readyCheck(ctx context.Context) (bool, string) {
	return realcluster.Ready(ctx, c.file, len(c.servers))
}

var (
	leaders  = realcluster.Leaders
	describe = realcluster.Describe
)

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
