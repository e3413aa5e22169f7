//go:build unix

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"obkv/client"
	"obkv/test/check"
)

// Shape of a run. FAULTS_LONG=1 runs longRounds seeded rounds with longer holds.
const (
	faultSeed  = 20261121
	shortHold  = 2 * time.Second
	longHold   = 8 * time.Second
	longRounds = 5
	// strongClients and weakClients are the workload's clients (plus one scanner per table).
	strongClients = 4
	weakClients   = 2
)

// The two tenants: t1 has three FULL replicas in r1 and a READONLY one in z4, leaders in z1;
// t2 starts with three FULL replicas, leaders in z2, and gains and loses R@z4 online.
var tables = []table{
	{tenant: "t1", name: "kv", parts: 3, home: "z1", id: 1},
	{tenant: "t2", name: "kv", parts: 2, home: "z2", id: 2},
}

// TestFaultsDocker runs the fault suite on containers of the project's image, network faults
// included.
func TestFaultsDocker(t *testing.T) {
	if image == "" {
		t.Skipf("docker is not usable here (%s): the Docker fault suite (network partitions) needs it; TestFaultsLoopback covers process faults", noDocker)
	}
	runSuite(t, newDockerCluster(t))
}

// TestFaultsLoopback runs the same workload, faults and checks on processes on loopback, each
// server behind fault-injecting proxies (test/internal/faultproxy) for the network faults.
func TestFaultsLoopback(t *testing.T) {
	runSuite(t, newLoopbackCluster(t))
}

// fault is one step of the nemesis: inject, hold while the workload runs, heal, and wait for
// the cluster to be whole again.
type fault struct {
	name string
	// net marks a network fault, skipped by backends without them; oneWay one that needs
	// one-way loss.
	net, oneWay bool
	run         func(ctx context.Context, c *testCluster, hold func())
}

func runSuite(t *testing.T, c *testCluster) {
	long := os.Getenv("FAULTS_LONG") != ""
	// FAULTS_ONLY=text runs only the faults whose name contains text (to debug one);
	// FAULTS_SKIP=text1,text2 skips those whose name contains any (to look past a known bug).
	only := os.Getenv("FAULTS_ONLY")
	var skip []string
	if v := os.Getenv("FAULTS_SKIP"); v != "" {
		skip = strings.Split(v, ",")
	}
	skipped := func(name string) bool {
		for _, s := range skip {
			if strings.Contains(name, s) {
				return true
			}
		}
		return only != "" && !strings.Contains(name, only)
	}
	hold, rounds, bound := shortHold, 1, 4*time.Minute
	if long {
		hold, rounds, bound = longHold, longRounds, 30*time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)

	start := time.Now()
	for _, s := range c.servers {
		c.b.start(s.name)
	}
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.setupTenant(ctx, "t2", "F@z1,F@z2,F@z3", "z2;z1,z3")
	for _, tb := range tables {
		c.mustCtl(ctx, nil, "create", "table", tb.tenant+"."+tb.name, "--partitions", fmt.Sprint(tb.parts))
	}
	c.waitHome(ctx)
	t.Logf("%5.1fs cluster up, tenants and tables created, leaders home", time.Since(start).Seconds())

	var clients []*client.Client
	newClient := func(opts ...client.Option) *client.Client {
		cl, err := client.New(ctx, c.addrs(), append([]client.Option{client.WithTimeout(callTimeout),
			client.WithFailureCooldown(time.Second)}, opts...)...)
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		clients = append(clients, cl)
		return cl
	}
	t.Cleanup(func() {
		for _, cl := range clients {
			_ = cl.Close()
		}
	})
	w := newWorkload(tables, faultSeed)
	w.run(ctx, newClient, strongClients, weakClients)
	stopped := false
	defer func() {
		if !stopped {
			w.halt()
		}
	}()

	rng := rand.New(rand.NewPCG(faultSeed, 0))
	withR := false // whether t2's locality has R@z4
	runStart := time.Now()
	for round := range rounds {
		faults := nemesis(&withR, round)
		if round > 0 {
			rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
		}
		for _, f := range faults {
			if skipped(f.name) {
				continue
			}
			if why := c.b.noNetFaults(); f.net && why != "" {
				t.Logf("%5.1fs skip %q: this backend has no network faults: %s", time.Since(runStart).Seconds(), f.name, why)
				continue
			}
			if why := c.b.noOneWay(); f.oneWay && why != "" {
				t.Logf("%5.1fs skip %q: this backend cannot lose packets one way: %s", time.Since(runStart).Seconds(), f.name, why)
				continue
			}
			t0 := time.Now()
			f.run(ctx, c, func() { w.sleepRun(ctx, hold) })
			c.waitHome(ctx)
			t.Logf("%5.1fs round %d: %s, healed and leaders home (%v)", time.Since(runStart).Seconds(), round, f.name, time.Since(t0).Round(time.Millisecond))
			w.sleepRun(ctx, hold/4)
		}
	}
	w.halt()
	stopped = true
	t.Logf("%5.1fs workload stopped; clients:%s", time.Since(runStart).Seconds(), w.summary())

	// No acknowledged write lost: every key read back strongly, inside the history.
	lost := w.readBack(ctx, newClient())
	for _, l := range lost {
		t.Errorf("acknowledged write lost: %s", l)
	}
	counts := w.hist.Counts()
	t0 := time.Now()
	path, err := w.hist.Check(2 * time.Minute)
	t.Logf("strong history %s: porcupine took %v", counts, time.Since(t0).Round(time.Millisecond))
	if err != nil {
		t.Errorf("strong history: %v (visualisation: %s)", err, path)
	}
	w.mu.Lock()
	writes, reads := w.writes, w.reads
	w.mu.Unlock()
	if v := check.CheckWeakReads(writes, reads); len(v) > 0 {
		for i, x := range v {
			if i == 20 {
				t.Errorf("... and %d more weak-read violations", len(v)-20)
				break
			}
			t.Errorf("weak read: %s", x)
		}
	}
	t.Logf("%d weak reads (scan rows included) checked", len(reads))
	if counts.OK < 200 {
		t.Errorf("only %d strong operations completed: the run checked too little", counts.OK)
	}
	c.waitConverged(ctx, "sys", "t1", "t2")
	c.waitHome(ctx)
	t.Logf("%5.1fs every partition converged, leaders home", time.Since(start).Seconds())
	c.checkLogs()
}

// clockOffset is the clock offset of the clock fault: s2 runs this much ahead and s3 this much
// behind (the other way in odd rounds), so every pair of servers is at most 2*clockOffset =
// settings.max_clock_drift (50ms by default) apart.
const clockOffset = 25 * time.Millisecond

// nemesis returns round's faults. withR tracks t2's locality across rounds: the locality change
// adds R@z4 when it is absent and removes it when present.
func nemesis(withR *bool, round int) []fault {
	skew := clockOffset
	if round%2 == 1 {
		skew = -skew
	}
	return []fault{
		{name: fmt.Sprintf("clock offsets: restart s2 (t2's leaders) with --clock-offset %v and s3 with %v, kept for the rest of the run", skew, -skew), run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.restartWith("s2", "--clock-offset", skew.String())
			c.b.restartWith("s3", "--clock-offset", (-skew).String())
			hold()
		}},
		{name: "SIGKILL the server of t1's leaders (s1), fail over to z2/z3, restart", run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.kill("s1")
			c.waitLeaders(ctx, "t1", "kv", 3, "in z2 or z3", func(r replicaRow) bool { return r.Zone == "z2" || r.Zone == "z3" })
			hold()
			c.b.start("s1")
		}},
		{name: "pause (freeze) the server of t2's leaders (s2), then resume", run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.pause("s2")
			hold()
			c.b.resume("s2")
		}},
		{name: "restart a follower-only server (s3) with SIGTERM", run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.stop("s3")
			hold()
			c.b.start("s3")
		}},
		{name: "a follower-only server (s3) loses its data directory: SIGKILL, empty it, restart; its replicas recover", run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.kill("s3")
			c.b.wipe("s3")
			c.b.start("s3")
			hold()
			c.waitRecovered(ctx, "s3", "sys", "t1", "t2")
		}},
		{name: "SIGKILL the READONLY server (s4) and restart", run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.kill("s4")
			hold()
			c.b.start("s4")
		}},
		{name: "isolate a follower zone (z3)", net: true, run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.isolate("s3")
			hold()
			c.b.heal("s3")
		}},
		{name: "isolate the zone of t1's leaders (z1), fail over, heal", net: true, run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.isolate("s1")
			c.waitLeaders(ctx, "t1", "kv", 3, "in z2 or z3", func(r replicaRow) bool { return r.Zone == "z2" || r.Zone == "z3" })
			hold()
			c.b.heal("s1")
		}},
		{name: "split: minority {z2 (t2's leaders), z4} cut from majority {z1, z3}", net: true, run: func(ctx context.Context, c *testCluster, hold func()) {
			c.b.isolate("s2")
			c.b.isolate("s4")
			c.waitLeaders(ctx, "t2", "kv", 2, "in z1 or z3", func(r replicaRow) bool { return r.Zone == "z1" || r.Zone == "z3" })
			hold()
			c.b.heal("s2")
			c.b.heal("s4")
		}},
		{name: "one-way loss: everything s1 (t1's leaders) sends to s2, s3, s4 is lost; they still reach it; fail over, heal", net: true, oneWay: true, run: func(ctx context.Context, c *testCluster, hold func()) {
			others := []string{"s2", "s3", "s4"}
			c.b.cutOneWay("s1", others)
			c.waitLeaders(ctx, "t1", "kv", 3, "in z2 or z3", func(r replicaRow) bool { return r.Zone == "z2" || r.Zone == "z3" })
			hold()
			if n := c.b.healOneWay("s1", others); n == 0 {
				c.t.Errorf("one-way loss from s1: nothing was dropped, so the fault did not take effect")
			} else {
				c.t.Logf("one-way loss from s1: %d packets or datagrams dropped", n)
			}
		}},
		{name: "online locality change of t2 (R@z4 added or removed)", run: func(ctx context.Context, c *testCluster, hold func()) {
			loc := "F@z1,F@z2,F@z3,R@z4"
			if *withR {
				loc = "F@z1,F@z2,F@z3"
			}
			c.mustCtl(ctx, nil, "alter", "tenant", "t2", "--locality", loc)
			c.waitJobDone(ctx, "t2", "alter-locality")
			*withR = !*withR
			want := 3
			if *withR {
				want = 4
			}
			c.waitFor(ctx, "t2's replicas of locality "+loc, func(ctx context.Context) (bool, string) {
				rows, err := c.replicas(ctx, "t2")
				if err != nil {
					return false, err.Error()
				}
				n := 0
				for _, r := range rows {
					if r.Table == "kv" {
						n++
					}
				}
				return n == want*2, describe(rows, "kv")
			})
			// The new replicas must also catch up, not only exist.
			c.waitCaughtUp(ctx, "t2")
		}},
	}
}

// sleepRun lets the workload run for d (the point is the load during a fault, not a wait for
// a condition), ending early when the test's context ends.
func (w *workload) sleepRun(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// setupTenant creates unit u_T, pool p_T over every zone, and tenant T.
func (c *testCluster) setupTenant(ctx context.Context, tenant, locality, primaryZone string) {
	c.t.Helper()
	c.mustCtl(ctx, nil, "create", "resource-unit", "u_"+tenant, "--max-cpu", "1", "--memory-size", "1GiB")
	c.mustCtl(ctx, nil, "create", "resource-pool", "p_"+tenant, "--unit", "u_"+tenant, "--unit-num", "1", "--zone-list", "z1,z2,z3,z4")
	c.mustCtl(ctx, nil, "create", "tenant", tenant, "--resource-pool-list", "p_"+tenant,
		"--primary-zone", primaryZone, "--locality", locality)
}

// waitHome waits until every partition of every table has one leader, in its home zone.
func (c *testCluster) waitHome(ctx context.Context) {
	c.t.Helper()
	for _, tb := range tables {
		c.waitLeaders(ctx, tb.tenant, tb.name, tb.parts, "in "+tb.home, func(r replicaRow) bool { return r.Zone == tb.home })
	}
}

// waitCaughtUp waits, while the workload runs, until every replica (LOGONLY excepted) of every
// partition of tenant has applied at least what its leader had applied when the wait began.
func (c *testCluster) waitCaughtUp(ctx context.Context, tenant string) {
	c.t.Helper()
	target := map[string]uint64{}
	c.waitFor(ctx, "the replicas of "+tenant+" to catch up", func(ctx context.Context) (bool, string) {
		rows, err := c.replicas(ctx, tenant)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			k := fmt.Sprintf("%s/%d", r.Table, r.Partition)
			if _, ok := target[k]; !ok && r.Role == "LEADER" {
				target[k] = r.AppliedIndex
			}
		}
		for _, r := range rows {
			want, ok := target[fmt.Sprintf("%s/%d", r.Table, r.Partition)]
			if r.Type == "LOGONLY" {
				continue
			}
			if !ok || r.AppliedIndex < want {
				return false, fmt.Sprintf("%s.%s p%d: %s at %d, its leader was at %d: %s", tenant, r.Table, r.Partition, r.Server, r.AppliedIndex, want, describe(rows, r.Table))
			}
		}
		return len(rows) > 0, "no replicas"
	})
}

// waitRecovered waits, while the workload runs, until server holds a replica of every partition
// of tenants that it is placed on again, none of them RECOVERING.
func (c *testCluster) waitRecovered(ctx context.Context, server string, tenants ...string) {
	c.t.Helper()
	for _, tenant := range tenants {
		c.waitFor(ctx, server+"'s replicas of "+tenant+" out of recovery", func(ctx context.Context) (bool, string) {
			rows, err := c.replicas(ctx, tenant)
			if err != nil {
				return false, err.Error()
			}
			n := 0
			for _, r := range rows {
				if r.Server != server {
					continue
				}
				if r.Role != "FOLLOWER" && r.Role != "LEADER" {
					return false, describe(rows, r.Table)
				}
				n++
			}
			return n > 0, "no replica on " + server
		})
	}
}

// waitConverged waits until, in one listing per tenant, every replica of every partition of
// tenants (sys: the meta partition) reports the same applied index as its partition's leader.
func (c *testCluster) waitConverged(ctx context.Context, tenants ...string) {
	c.t.Helper()
	for _, tn := range tenants {
		c.waitFor(ctx, "the replicas of "+tn+" to converge", func(ctx context.Context) (bool, string) {
			rows, err := c.replicas(ctx, tn)
			if err != nil {
				return false, err.Error()
			}
			applied := map[string]uint64{}
			for _, r := range rows {
				if r.Role == "LEADER" {
					applied[fmt.Sprintf("%s/%d", r.Table, r.Partition)] = r.AppliedIndex
				}
			}
			for _, r := range rows {
				if r.Type == "LOGONLY" {
					continue
				}
				want, ok := applied[fmt.Sprintf("%s/%d", r.Table, r.Partition)]
				if !ok || r.AppliedIndex != want {
					return false, fmt.Sprintf("%s.%s p%d: %s", tn, r.Table, r.Partition, describe(rows, r.Table))
				}
			}
			return len(rows) > 0, "no replicas"
		})
	}
}
