package client

import (
	"context"
	"testing"
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
