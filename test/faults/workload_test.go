//go:build unix

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"obkv/client"
	"obkv/tenant"
	"obkv/test/check"
)

// table is one table of the workload: tenant.name with parts hash partitions, its leaders
// preferred in zone home.
type table struct {
	tenant, name string
	parts        int
	home         string
	// id separates the tables' keys in the checked histories and their partitions in the weak
	// read check (partition id*100+p).
	id int
}

func (tb table) key(k int) string { return fmt.Sprintf("k%d", k) }

// hkey is the key as the checkers see it: unique across tables.
func (tb table) hkey(key string) string { return tb.tenant + "." + tb.name + "/" + key }

// Shape and bounds of the workload.
const (
	keysPerTable = 6
	// opInterval paces every client: at most one operation per interval, which bounds the
	// traffic and the history porcupine must check.
	opInterval = 10 * time.Millisecond
	// weakBound is the max_staleness of weak reads and scans.
	weakBound = 3 * time.Second
	// callTimeout bounds one client call.
	callTimeout = 3 * time.Second
	// clockSlack is how far behind the test's clock a server's may be: settings.max_clock_drift
	// (the default, 50ms), the bound of the clock-offset fault. The staleness check compares a
	// read's version with the time the test sent it (check.WeakRead.SentUnixMicro), which
	// assumes one clock; a server whose clock runs behind measures staleness that much short,
	// so the send time is recorded that much earlier.
	clockSlack = 50 * time.Millisecond
)

// workload runs strong writers/readers, weak readers and a weak scanner over tables until
// stopped, recording what they saw.
type workload struct {
	tables []table
	hist   *check.History
	seed   uint64

	mu     sync.Mutex
	writes []check.Write    // every put: acknowledged with its version, or of unknown outcome
	reads  []check.WeakRead // every weak read, weak scan rows included
	tally  map[string]int   // outcome counters for the log
	errs   map[string]string

	stop chan struct{}
	wg   sync.WaitGroup
}

func newWorkload(tables []table, seed uint64) *workload {
	return &workload{tables: tables, hist: check.NewHistory(), seed: seed,
		tally: map[string]int{}, errs: map[string]string{}, stop: make(chan struct{})}
}

func (w *workload) count(what string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tally[what]++
	if err != nil {
		w.errs[what] = err.Error()
	}
}

// run starts strong clients (ids 0..strong-1), weak readers and one weak scanner per table,
// each with its own client.Client from newClient.
func (w *workload) run(ctx context.Context, newClient func(opts ...client.Option) *client.Client, strong, weak int) {
	for i := range strong {
		cl := newClient()
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.strongClient(ctx, cl, i) }()
	}
	for i := range weak {
		cl := newClient(client.WithConsistency(client.WeakConsistency), client.WithMaxStaleness(weakBound),
			client.WithReadPreference(client.Follower))
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.weakClient(ctx, cl, 100+i) }()
	}
	for i, tb := range w.tables {
		cl := newClient(client.WithConsistency(client.WeakConsistency), client.WithMaxStaleness(weakBound))
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.scanner(ctx, cl, tb, 200+i) }()
	}
}

// serverIndex is the digit of server name "sN" (1..4), or 0.
func serverIndex(name string) int {
	if len(name) == 2 && name[0] == 's' && name[1] >= '1' && name[1] <= '9' {
		return int(name[1] - '0')
	}
	return 0
}

// halt stops every client and waits for them.
func (w *workload) halt() {
	close(w.stop)
	w.wg.Wait()
}

// pace waits for the next tick or the end of the run; it returns false at the end.
func (w *workload) pace(ctx context.Context, tick <-chan time.Time) bool {
	select {
	case <-w.stop:
		return false
	case <-ctx.Done():
		return false
	case <-tick:
		return true
	}
}

// strongClient runs strong Puts and Gets, one at a time, recording each in the history.
func (w *workload) strongClient(ctx context.Context, cl *client.Client, id int) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)))
	tick := time.NewTicker(opInterval)
	defer tick.Stop()
	for seq := 0; w.pace(ctx, tick.C); seq++ {
		tb := w.tables[rng.IntN(len(w.tables))]
		key := tb.key(rng.IntN(keysPerTable))
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		if rng.IntN(2) == 0 {
			value := fmt.Sprintf("c%d-%d", id, seq)
			op := w.hist.Call(id, check.Input{Kind: check.OpPut, Key: tb.hkey(key), Value: value})
			v, err := cl.Put(cctx, tb.tenant, tb.name, []byte(key), []byte(value))
			switch {
			case err == nil:
				op.Return(check.Output{Note: fmt.Sprintf("v%d", v)})
				w.addWrite(check.Write{Key: tb.hkey(key), Value: value, Version: v})
				w.count("put ok", nil)
			case client.IsOutcomeUnknown(err) || ctx.Err() != nil:
				op.Annotate(err.Error()).Unknown()
				w.addWrite(check.Write{Key: tb.hkey(key), Value: value, Unknown: true})
				w.count("put unknown", err)
			default:
				// The client's contract: any other error proves the write was not applied.
				op.Annotate(err.Error()).Fail()
				w.count("put refused", err)
			}
		} else {
			op := w.hist.Call(id, check.Input{Kind: check.OpGet, Key: tb.hkey(key)})
			res, err := cl.Get(cctx, tb.tenant, tb.name, []byte(key), client.Strong())
			if err != nil {
				op.Annotate(err.Error()).Fail()
				w.count("strong get failed", err)
			} else {
				op.Return(check.Output{Found: res.Found, Value: string(res.Value),
					Note: fmt.Sprintf("%s %s v%d", res.Meta.Server, res.Meta.Role, res.Meta.ReadVersion)})
				w.count("strong get ok", nil)
			}
		}
		cancel()
	}
}

func (w *workload) addWrite(x check.Write) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, x)
}

// weakClient runs weak Gets on followers within weakBound.
func (w *workload) weakClient(ctx context.Context, cl *client.Client, id int) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)))
	tick := time.NewTicker(opInterval)
	defer tick.Stop()
	for seq := 0; w.pace(ctx, tick.C); seq++ {
		tb := w.tables[rng.IntN(len(w.tables))]
		key := tb.key(rng.IntN(keysPerTable))
		sent := time.Now().Add(-clockSlack).UnixMicro()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		res, err := cl.Get(cctx, tb.tenant, tb.name, []byte(key))
		cancel()
		if err != nil {
			w.count("weak get failed", err)
			continue
		}
		w.count("weak get ok", nil)
		w.mu.Lock()
		// Read versions are checked never to go back per client and serving replica: a
		// replica's readable version never goes back (DESIGN.md invariant 5), but the client
		// does not promise monotonic reads across replicas (docs/reads.md), and one that
		// clients reach while it hears nothing (one-way loss) serves older, still bounded,
		// versions than the others.
		w.reads = append(w.reads, check.WeakRead{Client: id*10 + serverIndex(res.Meta.Server), Seq: seq, Partition: tb.id*100 + res.Meta.Partition,
			Key: tb.hkey(key), Found: res.Found, Value: string(res.Value), ReadVersion: res.Meta.ReadVersion,
			StalenessMs: res.Meta.Staleness.Milliseconds(), MaxStalenessMs: weakBound.Milliseconds(),
			SentUnixMicro: sent, ServedBy: res.Meta.Server})
		w.mu.Unlock()
	}
}

// scanner runs weak full-table scans; every row is checked as a weak read at the scan's
// snapshot version.
func (w *workload) scanner(ctx context.Context, cl *client.Client, tb table, id int) {
	tick := time.NewTicker(10 * opInterval)
	defer tick.Stop()
	for seq := 0; w.pace(ctx, tick.C); seq++ {
		sent := time.Now().Add(-clockSlack).UnixMicro()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		res, err := cl.Scan(cctx, tb.tenant, tb.name, nil, nil, 0)
		cancel()
		if err != nil {
			w.count("weak scan failed", err)
			continue
		}
		w.count("weak scan ok", nil)
		w.mu.Lock()
		for _, row := range res.Rows {
			p := tenant.PartitionOf(row.Key, tb.parts)
			var stale int64
			if p < len(res.Partitions) {
				stale = res.Partitions[p].Staleness.Milliseconds()
			}
			// Each scan is its own reader for the went-back check: its snapshot version is the
			// newest every partition's chosen replica made readable, which is lower when the
			// client picks a laggier replica for some partition (docs/reads.md).
			w.reads = append(w.reads, check.WeakRead{Client: (id*1_000_000+seq)*10 + 9, Seq: seq, Partition: tb.id*100 + p,
				Key: tb.hkey(string(row.Key)), Found: true, Value: string(row.Value), ReadVersion: res.SnapshotVersion,
				StalenessMs: stale, MaxStalenessMs: weakBound.Milliseconds(), SentUnixMicro: sent, ServedBy: "scan"})
		}
		w.mu.Unlock()
	}
}

// readBack reads every key that has an acknowledged write strongly, inside the history (so the
// linearizability check covers it), and returns the keys whose final value is none of: the
// acknowledged write with the highest version, or a write of unknown outcome. Either of those
// may be the last; any other value, or no value, means an acknowledged write was lost.
func (w *workload) readBack(ctx context.Context, cl *client.Client) []string {
	w.mu.Lock()
	latest := map[string]check.Write{}
	unknown := map[string]map[string]bool{}
	for _, x := range w.writes {
		if x.Unknown {
			if unknown[x.Key] == nil {
				unknown[x.Key] = map[string]bool{}
			}
			unknown[x.Key][x.Value] = true
			continue
		}
		if x.Version >= latest[x.Key].Version {
			latest[x.Key] = x
		}
	}
	w.mu.Unlock()
	var lost []string
	for _, tb := range w.tables {
		for k := range keysPerTable {
			key := tb.key(k)
			want, ok := latest[tb.hkey(key)]
			if !ok {
				continue
			}
			var res client.Result
			var err error
			// A read is retried: the cluster has healed, but a location may still be moving.
			for attempt := 0; attempt < 20; attempt++ {
				op := w.hist.Call(999, check.Input{Kind: check.OpGet, Key: tb.hkey(key)})
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				res, err = cl.Get(cctx, tb.tenant, tb.name, []byte(key), client.Strong())
				cancel()
				if err == nil {
					op.Return(check.Output{Found: res.Found, Value: string(res.Value), Note: "read back"})
					break
				}
				op.Annotate(err.Error()).Fail()
				if ctx.Err() != nil {
					break
				}
			}
			switch {
			case err != nil:
				lost = append(lost, fmt.Sprintf("%s: read back failed: %v", tb.hkey(key), err))
			case !res.Found:
				lost = append(lost, fmt.Sprintf("%s: not found, last acknowledged %q at v%d", tb.hkey(key), want.Value, want.Version))
			case string(res.Value) != want.Value && !unknown[tb.hkey(key)][string(res.Value)]:
				lost = append(lost, fmt.Sprintf("%s = %q, but %q was acknowledged at v%d and is the latest acknowledged", tb.hkey(key), res.Value, want.Value, want.Version))
			}
		}
	}
	return lost
}

// summary is the clients' tallies, sorted, with the last error of each kind.
func (w *workload) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keys []string
	for k := range w.tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("\n  %s: %d", k, w.tally[k])
		if e := w.errs[k]; e != "" {
			s += " (last: " + e + ")"
		}
	}
	return s
}
