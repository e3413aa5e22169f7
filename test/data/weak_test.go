//go:build unix

package data

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"obkv/api"
	"obkv/client"
	"obkv/tenant"
	"obkv/test/check"
	"obkv/test/internal/realcluster"
)

// Shape of the weak-read run.
const (
	weakWriters = 2
	weakKeys    = 8
	weakParts   = 2
	// weakRun is how long writers and readers run.
	weakRun = 6 * time.Second
	// weakBound is every weak read's max_staleness.
	weakBound = time.Second
	weakSeed  = 20240818
)

// weakReader is one reader of TestWeakReads: a client in zone with a read preference, or, when
// server is set, raw gRPC to that server only.
type weakReader struct {
	zone   string
	pref   client.ReadPreference
	server string
	// want is the replica type that must serve it ("" for any follower).
	want string
}

func (r weakReader) String() string {
	if r.server != "" {
		return "raw gRPC to " + r.server
	}
	return fmt.Sprintf("client in %s, %v", r.zone, r.pref)
}

// TestWeakReads: two writers Put unique values to eight keys of a two-partition table while
// three readers run weak Gets bounded by max_staleness 1s: one in z4 with readonly-only (the
// READONLY replica) and two in z2 and z3 with follower (their zone's FULL follower); halfway,
// switch-leader moves partition 0's leader (closed versions must not go back across leaders).
// Every read must return the latest acknowledged write at or below its read version, be
// within the bound (by the server's word and by the test's clock: the processes share it),
// and read at a version no lower than the same reader's previous read of that partition
// (check.CheckWeakReads); each reader must be served by the replica type its preference
// names, and most reads must succeed.
func TestWeakReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 90*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.kv", "--partitions", fmt.Sprint(weakParts))
	c.waitLeaders(ctx, "t1", "kv", weakParts, "in z1", inZones("z1"))
	addrs := c.Addrs()

	var (
		mu     sync.Mutex
		writes []check.Write
		reads  []check.WeakRead
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writeErrs := make([]int, weakWriters)
	for w := range weakWriters {
		cl := c.newClient(ctx, addrs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(weakSeed, uint64(w)))
			for seq := 0; !stopped(ctx, stop); seq++ {
				key, value := fmt.Sprintf("k%d", rng.IntN(weakKeys)), fmt.Sprintf("w%d-%d", w, seq)
				v, err := cl.Put(ctx, "t1", "kv", []byte(key), []byte(value))
				switch {
				case err == nil:
					mu.Lock()
					writes = append(writes, check.Write{Key: key, Value: value, Version: v})
					mu.Unlock()
				case client.IsOutcomeUnknown(err):
					mu.Lock()
					writes = append(writes, check.Write{Key: key, Value: value, Unknown: true})
					mu.Unlock()
					writeErrs[w]++
				default: // refused: certainly not applied
					writeErrs[w]++
				}
			}
		}()
	}
	readers := []weakReader{
		{zone: "z4", pref: client.ReadonlyOnly, want: "READONLY"},
		{zone: "z2", pref: client.Follower},
		{server: "s3", want: "FULL"},
		{server: "s4", want: "READONLY"},
	}
	k := c.dialKV()
	rt := newRoutes(ctx, t, k, "t1", "kv")
	c.waitWeakReadable(ctx, k, "t1", "kv", weakParts)
	type tally struct {
		ok, notReadable, other int
		wrongType, byServer    map[string]int
		lastErr                error
	}
	tallies := make([]tally, len(readers))
	for i, r := range readers {
		cl := c.newClient(ctx, addrs, client.WithZone(r.zone), client.WithReadPreference(r.pref),
			client.WithConsistency(client.WeakConsistency), client.WithMaxStaleness(weakBound))
		tallies[i].wrongType, tallies[i].byServer = map[string]int{}, map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(weakSeed, uint64(100+i)))
			ty := &tallies[i]
			for seq := 0; !stopped(ctx, stop); seq++ {
				key := fmt.Sprintf("k%d", rng.IntN(weakKeys))
				sent := time.Now().UnixMicro()
				var res client.Result
				var err error
				if r.server != "" {
					res, err = rawWeakGet(ctx, k, r.server, rt, key, weakBound)
				} else {
					res, err = cl.Get(ctx, "t1", "kv", []byte(key))
				}
				if err != nil {
					if errors.Is(err, client.ErrNotReadable) || strings.Contains(err.Error(), "replica not readable") {
						ty.notReadable++
					} else {
						ty.other++
					}
					ty.lastErr = err
					backoff(ctx)
					continue
				}
				ty.ok++
				ty.byServer[res.Meta.Server]++
				if r.want != "" && res.Meta.Type != r.want || res.Meta.Role != "FOLLOWER" || r.server != "" && res.Meta.Server != r.server {
					ty.wrongType[res.Meta.Server+"/"+res.Meta.Type+"/"+res.Meta.Role]++
				}
				mu.Lock()
				reads = append(reads, check.WeakRead{Client: i, Seq: seq, Partition: tenant.PartitionOf([]byte(key), weakParts),
					Key: key, Found: res.Found, Value: string(res.Value), ReadVersion: res.Meta.ReadVersion,
					StalenessMs: res.Meta.Staleness.Milliseconds(), MaxStalenessMs: weakBound.Milliseconds(),
					SentUnixMicro: sent, ServedBy: res.Meta.Server})
				mu.Unlock()
			}
		}()
	}

	start := time.Now()
	pace(ctx, weakRun/2)
	c.MustCtl(ctx, nil, "switch-leader", "t1.kv", "--partition", "0", "--to", "s2")
	c.waitLeaders(ctx, "t1", "kv", weakParts, "with partition 0 on s2", func(r realcluster.ReplicaRow) bool {
		return r.Partition != 0 || r.Server == "s2"
	})
	t.Logf("%.1fs: partition 0's leader moved to s2", time.Since(start).Seconds())
	pace(ctx, weakRun-time.Since(start))
	close(stop)
	wg.Wait()

	acked := 0
	for _, w := range writes {
		if !w.Unknown {
			acked++
		}
	}
	t.Logf("%d writes acknowledged, %d failed (%d of unknown outcome); %d weak reads checked", acked, writeErrs[0]+writeErrs[1], len(writes)-acked, len(reads))
	for i, r := range readers {
		ty := tallies[i]
		t.Logf("reader %d (%v): %d ok (by server %v), %d not readable, %d other errors (last: %v)", i, r, ty.ok, ty.byServer, ty.notReadable, ty.other, ty.lastErr)
		if len(ty.wrongType) > 0 {
			t.Errorf("reader %d (%v): served by %v, want only %s followers", i, r, ty.wrongType, r.want)
		}
		if ty.ok < 100 || ty.ok < 10*(ty.notReadable+ty.other) {
			t.Errorf("reader %d (%v): %d ok reads, %d not readable, %d other errors: want at least 100 and over 90%% ok (last error: %v)",
				i, r, ty.ok, ty.notReadable, ty.other, ty.lastErr)
		}
	}
	if acked < 100 {
		t.Errorf("only %d writes acknowledged", acked)
	}
	if v := check.CheckWeakReads(writes, reads); len(v) > 0 {
		for i, x := range v {
			if i == 20 {
				t.Errorf("... and %d more", len(v)-20)
				break
			}
			t.Errorf("%s", x)
		}
	}
}

// rawWeakGet reads key weakly from server only, bounded by bound, and returns the answer as
// the client would.
func rawWeakGet(ctx context.Context, k *kvConns, server string, rt *routes, key string, bound time.Duration) (client.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	p := rt.partitionOf(key)
	resp, err := k.kv[server].Get(ctx, &api.GetRequest{Tenant: rt.tenant, Table: rt.table, Partition: p, Key: []byte(key),
		Options: &api.ReadOptions{Consistency: "weak", MaxStalenessMs: bound.Milliseconds()}})
	if err != nil {
		return client.Result{}, err
	}
	m := resp.Meta
	return client.Result{Value: resp.Value, Found: resp.Found, Meta: client.Meta{Partition: int(p),
		Server: m.GetServedBy().GetServer(), Zone: m.GetServedBy().GetZone(), Type: m.GetServedBy().GetType(), Role: m.GetServedBy().GetRole(),
		ReadVersion: m.GetReadVersion(), Staleness: time.Duration(m.GetStalenessMs()) * time.Millisecond, ReadableVersion: m.GetReadableVersion(), Tried: 1}}, nil
}

// waitWeakReadable waits until every replica on servers (all when none are named) of every
// partition of tenant.table that keeps data answers a weak read (right after a table is
// created, or its leader changes, a follower may say "no readable version yet" for a while).
func (c *testCluster) waitWeakReadable(ctx context.Context, k *kvConns, tenantName, table string, parts int, servers ...string) time.Duration {
	c.t.Helper()
	if len(servers) == 0 {
		servers = k.names
	}
	return c.WaitFor(ctx, "every replica of "+tenantName+"."+table+" to serve weak reads", func(ctx context.Context) (bool, string) {
		for _, s := range servers {
			for p := range parts {
				key := keyIn(p, parts)
				cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
				_, err := k.kv[s].Get(cctx, &api.GetRequest{Tenant: tenantName, Table: table, Partition: uint32(p), Key: []byte(key),
					Options: &api.ReadOptions{Consistency: "weak"}})
				cancel()
				if err != nil && !strings.Contains(err.Error(), "has no replica on server") {
					return false, fmt.Sprintf("%s partition %d: %v", s, p, err)
				}
			}
		}
		return true, ""
	})
}

// keyIn returns a key of partition p of parts.
func keyIn(p, parts int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("probe%d", i); tenant.PartitionOf([]byte(k), parts) == p {
			return k
		}
	}
}

// stopped reports whether stop is closed or ctx done.
func stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// pace lets a workload run for d (the run's own length, not a wait for a condition).
func pace(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// newClient returns a client of the cluster with opts, closed at cleanup.
func (c *testCluster) newClient(ctx context.Context, addrs []string, opts ...client.Option) *client.Client {
	c.t.Helper()
	cl, err := client.New(ctx, addrs, append([]client.Option{client.WithTimeout(rpcTimeout)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}
