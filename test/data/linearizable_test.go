//go:build unix

package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"obkv/api"
	"obkv/test/check"
	"obkv/test/internal/realcluster"
)

// Shape of the linearizability run.
const (
	linClients = 4
	linKeys    = 4
	// linRun is the least the workload runs; the faults below are spread over it.
	linRun = 10 * time.Second
	// linSeed seeds every client's choices (the faults' timing still depends on the machine).
	linSeed = 20240817
)

// TestLinearizableUnderLeaderChanges: four clients run strong Puts and Gets (half of the Gets
// on the leader under its lease, half on a FULL follower by ReadIndex) on four keys of a
// two-partition table for at least linRun, while the leaders move three ways: SIGKILL of s1,
// which leads every partition under primary_zone z1;z2,z3 (failover to z2/z3), its restart
// (leadership returns to z1), and switch-leader of partition 0 to s2. Each attempt is one
// operation of the history: a write the server refused (not leader, aborted) certainly did not
// happen and is left out; a write that timed out or whose server died may have happened. The
// history must be linearizable (porcupine; the visualisation's path is printed otherwise), and
// the writes must have been served by more than one leader.
func TestLinearizableUnderLeaderChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 90*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.kv", "--partitions", "2")
	c.waitLeaders(ctx, "t1", "kv", 2, "in z1", inZones("z1"))
	k := c.dialKV()
	rt := newRoutes(ctx, t, k, "t1", "kv")

	h := check.NewHistory()
	var unknown errSample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	served := make([]map[string]int, linClients) // per client: ok writes by leader server
	for i := range linClients {
		served[i] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			linClient(ctx, i, k, rt, h, stop, served[i], &unknown)
		}()
	}

	start := time.Now()
	nemesis := func(what string, f func()) {
		t0 := time.Now()
		f()
		t.Logf("%5.1fs %s (%v)", time.Since(start).Seconds(), what, time.Since(t0).Round(time.Millisecond))
	}
	pace(ctx, 2*time.Second)
	nemesis("SIGKILL s1 and failover to z2/z3", func() {
		c.Kill("s1")
		c.waitLeaders(ctx, "t1", "kv", 2, "in z2 or z3", inZones("z2", "z3"))
	})
	pace(ctx, 1500*time.Millisecond)
	nemesis("restart s1 and return to z1", func() {
		c.Start("s1")
		c.waitLeaders(ctx, "t1", "kv", 2, "back in z1", inZones("z1"))
	})
	pace(ctx, 1*time.Second)
	nemesis("switch-leader of partition 0 to s2", func() {
		c.MustCtl(ctx, nil, "switch-leader", "t1.kv", "--partition", "0", "--to", "s2")
		c.waitLeaders(ctx, "t1", "kv", 2, "with partition 0 on s2", func(r realcluster.ReplicaRow) bool {
			return r.Partition != 0 || r.Server == "s2"
		})
	})
	pace(ctx, max(time.Second, linRun-time.Since(start)))
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	counts := h.Counts()
	byServer := map[string]int{}
	for _, m := range served {
		for s, n := range m {
			byServer[s] += n
		}
	}
	t.Logf("history over %v: %s; ok writes by leader: %v", elapsed.Round(time.Millisecond), counts, byServer)
	if counts.Unknown > 0 {
		t.Logf("writes of unknown outcome, for example: %s", unknown.String())
	}
	checkStart := time.Now()
	path, err := h.Check(60 * time.Second)
	t.Logf("porcupine: %v in %v", map[bool]string{true: "linearizable", false: "NOT linearizable"}[err == nil], time.Since(checkStart).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("strong history: %v (visualisation: %s)", err, path)
	}
	if counts.OK < 200 {
		t.Errorf("only %d operations completed: the run checked too little", counts.OK)
	}
	if len(byServer) < 2 {
		t.Errorf("every acknowledged write was served by %v: the leaders never moved under load", byServer)
	}
}

// linClient runs one client of TestLinearizableUnderLeaderChanges until stop, one operation
// at a time, recording each in h.
func linClient(ctx context.Context, id int, k *kvConns, rt *routes, h *check.History, stop <-chan struct{}, served map[string]int, unknown *errSample) {
	rng := rand.New(rand.NewPCG(linSeed, uint64(id)))
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		key := fmt.Sprintf("k%d", rng.IntN(linKeys))
		p, leader, follower, at := rt.route(key)
		isPut := rng.IntN(2) == 0
		target := leader
		if !isPut && rng.IntN(2) == 0 && follower != "" {
			target = follower
		}
		if target == "" {
			_ = rt.refresh(ctx, at)
			backoff(ctx)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		if isPut {
			value := fmt.Sprintf("c%d-%d", id, seq)
			op := h.Call(id, check.Input{Kind: check.OpPut, Key: key, Value: value})
			resp, err := k.kv[target].Write(cctx, &api.WriteRequest{Tenant: "t1", Table: "kv", Partition: p,
				Ops: []*api.KVOp{{Kind: 1, Key: []byte(key), Value: []byte(value)}}})
			switch {
			case err == nil:
				op.Return(check.Output{Note: fmt.Sprintf("%s v%d", resp.ServedBy.GetServer(), resp.Version)})
				served[resp.ServedBy.GetServer()]++
			case refused(err):
				op.Fail()
			default:
				op.Unknown()
				unknown.note(err)
			}
			cancel()
			if err != nil {
				_ = rt.refresh(ctx, at)
				backoff(ctx)
			}
			continue
		}
		op := h.Call(id, check.Input{Kind: check.OpGet, Key: key})
		resp, err := k.kv[target].Get(cctx, &api.GetRequest{Tenant: "t1", Table: "kv", Partition: p, Key: []byte(key),
			Options: &api.ReadOptions{Consistency: "strong"}})
		cancel()
		if err != nil {
			op.Fail()
			_ = rt.refresh(ctx, at)
			backoff(ctx)
			continue
		}
		m := resp.Meta.GetServedBy()
		op.Return(check.Output{Found: resp.Found, Value: string(resp.Value),
			Note: fmt.Sprintf("%s %s v%d", m.GetServer(), m.GetRole(), resp.Meta.GetReadVersion())})
	}
}

// backoff paces a client after an error or when it has nowhere to send its next request (no
// leader located yet), so that a failover does not turn into a busy loop of refusals.
func backoff(ctx context.Context) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
	}
}

// errSample keeps the first few distinct errors of a kind, for the log.
type errSample struct {
	mu   sync.Mutex
	errs []string
}

func (e *errSample) note(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 5 && !slices.Contains(e.errs, err.Error()) {
		e.errs = append(e.errs, err.Error())
	}
}

func (e *errSample) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.errs, "; ")
}
