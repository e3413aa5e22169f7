//go:build unix

package data

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"obkv/api"
	"obkv/client"
	"obkv/test/internal/realcluster"
)

// Sample sizes of the measurements.
const (
	stalenessSamples = 400
	latencySamples   = 400
	spreadReads      = 900
	// spreadTolerance: under leader-and-follower each of the three FULL replicas serves within
	// 20% of a third of the reads.
	spreadTolerance = 0.20
)

// TestMeasurements reports, on one 4-zone cluster with a one-partition table led from z1:
//
//   - the READONLY replica's staleness (staleness_ms of unbounded weak reads on s4, the
//     server's figure, and the test's own: now minus read_version, in microseconds) with no
//     writes, and under steady writes;
//   - the share of strong reads each FULL replica serves under leader-and-follower, which
//     must be even within spreadTolerance;
//   - the latency of a strong read on the leader (lease) and on a FULL follower (ReadIndex),
//     medians and p99, and the difference of the medians.
//
// Only the spread is asserted; the numbers are logged (they depend on the machine).
func TestMeasurements(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 90*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.kv", "--partitions", "1")
	c.waitLeaders(ctx, "t1", "kv", 1, "in z1", inZones("z1"))
	k := c.dialKV()
	w := c.newClient(ctx, c.Addrs())
	if _, err := w.Put(ctx, "t1", "kv", []byte("key"), []byte("value")); err != nil {
		t.Fatal(err)
	}
	c.waitWeakReadable(ctx, k, "t1", "kv", 1)

	idle := readonlyStaleness(ctx, t, k)
	t.Logf("READONLY staleness, idle: %s", idle)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writes := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stopped(ctx, stop); i++ {
			if _, err := w.Put(ctx, "t1", "kv", []byte(fmt.Sprintf("w%d", i%16)), []byte("v")); err == nil {
				writes++
			}
		}
	}()
	start := time.Now()
	busy := readonlyStaleness(ctx, t, k)
	close(stop)
	wg.Wait()
	t.Logf("READONLY staleness, under steady writes (%.0f writes/s): %s", float64(writes)/time.Since(start).Seconds(), busy)

	// leader-and-follower: one client, strong reads, counted by serving server.
	lf := c.newClient(ctx, c.Addrs(), client.WithReadPreference(client.LeaderAndFollower))
	by := map[string]int{}
	for range spreadReads {
		res, err := lf.Get(ctx, "t1", "kv", []byte("key"))
		if err != nil {
			t.Fatalf("leader-and-follower read: %v", err)
		}
		by[res.Meta.Server+"/"+res.Meta.Role]++
	}
	t.Logf("leader-and-follower, %d strong reads served by: %v", spreadReads, by)
	perServer := map[string]int{}
	for sr, n := range by {
		perServer[sr[:2]] += n
	}
	fair := float64(spreadReads) / 3
	for _, s := range []string{"s1", "s2", "s3"} {
		if n := float64(perServer[s]); n < (1-spreadTolerance)*fair || n > (1+spreadTolerance)*fair {
			t.Errorf("leader-and-follower: %s served %.0f of %d reads, want %.0f within %.0f%%", s, n, spreadReads, fair, 100*spreadTolerance)
		}
	}
	if len(perServer) != 3 {
		t.Errorf("leader-and-follower: reads served by %v, want s1, s2 and s3 only", perServer)
	}

	// Strong reads on the leader (s1) and by ReadIndex on a FULL follower (s2), interleaved.
	var onLeader, onFollower []time.Duration
	for i := range 2 * latencySamples {
		server := []string{"s1", "s2"}[i%2]
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		resp, err := k.kv[server].Get(cctx, &api.GetRequest{Tenant: "t1", Table: "kv", Key: []byte("key"), Options: &api.ReadOptions{Consistency: "strong"}})
		cancel()
		d := time.Since(t0)
		if err != nil {
			t.Fatalf("strong read on %s: %v", server, err)
		}
		if want := map[string]string{"s1": "LEADER", "s2": "FOLLOWER"}[server]; resp.Meta.GetServedBy().GetRole() != want {
			t.Fatalf("strong read on %s served as %v, want %s", server, resp.Meta.GetServedBy(), want)
		}
		if server == "s1" {
			onLeader = append(onLeader, d)
		} else {
			onFollower = append(onFollower, d)
		}
	}
	ml, mf := percentile(onLeader, 50), percentile(onFollower, 50)
	t.Logf("strong read latency (%d each, raw gRPC on loopback): leader p50 %v p99 %v; ReadIndex on a FULL follower p50 %v p99 %v; added median %v",
		latencySamples, ml, percentile(onLeader, 99), mf, percentile(onFollower, 99), mf-ml)
}

// stalenessStats are the staleness figures of a run of weak reads.
type stalenessStats struct {
	serverMs []int64 // staleness_ms as the server reported it
	clientUs []int64 // test clock at the answer minus read_version, microseconds
}

func (s stalenessStats) String() string {
	return fmt.Sprintf("%d reads: staleness_ms p50 %d p99 %d max %d; by the test's clock p50 %.1f ms p99 %.1f ms",
		len(s.serverMs), percentile(s.serverMs, 50), percentile(s.serverMs, 99), percentile(s.serverMs, 100),
		float64(percentile(s.clientUs, 50))/1000, float64(percentile(s.clientUs, 99))/1000)
}

// readonlyStaleness runs stalenessSamples unbounded weak reads on s4, the READONLY replica.
func readonlyStaleness(ctx context.Context, t *testing.T, k *kvConns) stalenessStats {
	t.Helper()
	var st stalenessStats
	for range stalenessSamples {
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		resp, err := k.kv["s4"].Get(cctx, &api.GetRequest{Tenant: "t1", Table: "kv", Key: []byte("key"), Options: &api.ReadOptions{Consistency: "weak"}})
		cancel()
		now := time.Now().UnixMicro()
		if err != nil {
			t.Fatalf("weak read on s4: %v", err)
		}
		if ty := resp.Meta.GetServedBy().GetType(); ty != "READONLY" {
			t.Fatalf("weak read on s4 served by a %s replica", ty)
		}
		st.serverMs = append(st.serverMs, resp.Meta.GetStalenessMs())
		st.clientUs = append(st.clientUs, now-int64(resp.Meta.GetReadVersion()))
	}
	return st
}
