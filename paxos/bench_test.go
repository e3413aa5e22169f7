package paxos

import (
	"fmt"
	"testing"
)

// benchGroup is a minimal in-memory driver for benchmarks: persistence is free (the Node keeps
// its own log), messages go straight to their target, and buffers are reused.
type benchGroup struct {
	nodes []*Node
	queue []Message
	next  []Message
}

func newBenchGroup(tb testing.TB, voters int) *benchGroup {
	var conf Membership
	for i := 1; i <= voters; i++ {
		conf.Members = append(conf.Members, Member{ID: ID(i), Type: Full})
	}
	g := &benchGroup{}
	for i := 1; i <= voters; i++ {
		cfg := DefaultConfig(ID(i))
		cfg.MaxUncommittedEntries = 1 << 30
		cfg.MaxInflightMsgs = 1 << 20
		cfg.MaxInflightBytes = 1 << 40
		n, err := New(cfg, Boot{Snapshot: SnapshotMeta{Membership: conf}})
		if err != nil {
			tb.Fatal(err)
		}
		n.SetPriority(Priority{Healthy: true, ZoneRank: uint32(i - 1)})
		g.nodes = append(g.nodes, n)
	}
	for i := 0; i < 1000 && !g.nodes[0].Serving(); i++ {
		for _, n := range g.nodes {
			n.Tick()
		}
		g.settle()
	}
	if !g.nodes[0].Serving() {
		tb.Fatal("no leader")
	}
	return g
}

// settle handles Readys and delivers messages until the group is quiet.
func (g *benchGroup) settle() {
	for {
		for _, n := range g.nodes {
			for n.HasReady() {
				rd := n.Ready()
				g.queue = append(g.queue, rd.Messages...)
				n.Advance(rd)
			}
		}
		if len(g.queue) == 0 {
			return
		}
		g.queue, g.next = g.next[:0], g.queue
		for _, m := range g.next {
			_ = g.nodes[m.To-1].Step(m)
		}
	}
}

// BenchmarkCommit measures entries chosen per second through a 3-voter group in memory, with
// proposals of batch entries each (batch=1: no batching). One op is one chosen entry.
func BenchmarkCommit(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			g := newBenchGroup(b, 3)
			leader := g.nodes[0]
			data := make([]byte, 256)
			ps := make([]Proposal, batch)
			version := leader.Status().MinVersion
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range ps {
					version++
					ps[i] = Proposal{Version: version, Data: data}
				}
				if _, err := leader.Propose(ps...); err != nil {
					b.Fatal(err)
				}
				g.settle()
				if done%(1<<14) == 0 {
					// Compact now and then, as a driver does after checkpoints, so the log
					// stays bounded.
					for _, n := range g.nodes {
						_ = n.Compact(n.log.applied)
					}
				}
			}
			b.StopTimer()
			if c := leader.Status().Commit; c < uint64(b.N) {
				b.Fatalf("only %d of %d entries chosen", c, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// TestCommitAllocs asserts the steady-state hot path (propose a batch, persist, send, accept,
// choose, apply) allocates less than one object per entry across a 3-voter group.
func TestCommitAllocs(t *testing.T) {
	g := newBenchGroup(t, 3)
	leader := g.nodes[0]
	const batch = 64
	ps := make([]Proposal, batch)
	data := make([]byte, 256)
	version := leader.Status().MinVersion
	round := func() {
		for i := range ps {
			version++
			ps[i] = Proposal{Version: version, Data: data}
		}
		if _, err := leader.Propose(ps...); err != nil {
			t.Fatal(err)
		}
		g.settle()
	}
	for i := 0; i < 50; i++ {
		round() // warm the buffers up
	}
	if allocs := testing.AllocsPerRun(200, round); allocs >= batch {
		t.Fatalf("%.1f allocations per batch of %d entries, want under one per entry", allocs, batch)
	} else {
		t.Logf("%.2f allocations per batch of %d entries", allocs, batch)
	}
}
