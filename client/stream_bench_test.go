package client

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGet measures one caller's Get against an in-process fake server, over the
// multiplexed stream and as unary RPCs: the client and transport cost of a call without any
// storage or consensus behind it (go test -bench Get -run XXX ./client/).
func BenchmarkGet(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"stream", nil}, {"unary", []Option{WithUnaryCalls()}}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnv(b, 1, mode.opts...)
			e.put("k", "v")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.cl.Get(ctx, tn, tb, []byte("k")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCandidates measures the client's choice of replicas for one read (the routing
// cache's lookups and the preference's ordering), which every read pays before it is sent:
// go test -bench Candidates -run XXX ./client/.
func BenchmarkCandidates(b *testing.B) {
	for _, pref := range []ReadPreference{Leader, LeaderAndFollower, Closest} {
		b.Run(pref.String(), func(b *testing.B) {
			e := newEnv(b, 1)
			e.put("k", "v")
			e.get("k", Weak()) // learn a readable version
			loc, err := e.cl.location(context.Background(), tn, tb, false)
			if err != nil {
				b.Fatal(err)
			}
			rc, err := e.cl.readConfig([]ReadOption{MaxStaleness(time.Second), Prefer(pref)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.cl.candidates(loc, 0, rc, 100); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
