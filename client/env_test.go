package client

import (
	"context"
	"testing"
	"time"

	"obkv/client/internal/fakekv"
)

const (
	tn = "t"
	tb = "kv"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// env is a fake cluster of five servers in two regions:
//
//	r1: z1 s1 FULL (leader), z2 s2 FULL
//	r2: z3 s3 FULL, z4 s4 READONLY, z5 s5 LOGONLY
//
// plus s6 in z3 with no replica, a spare for moves.
type env struct {
	t  testing.TB
	c  *fakekv.Cluster
	s  map[string]*fakekv.Server
	cl *Client
}

var layout = []fakekv.Replica{
	{Server: "s1", Type: "FULL", Leader: true},
	{Server: "s2", Type: "FULL"},
	{Server: "s3", Type: "FULL"},
	{Server: "s4", Type: "READONLY"},
	{Server: "s5", Type: "LOGONLY"},
}

func newEnv(t testing.TB, partitions int, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, c: fakekv.NewCluster(epoch), s: map[string]*fakekv.Server{}}
	t.Cleanup(e.c.Close)
	for _, s := range [][3]string{{"s1", "z1", "r1"}, {"s2", "z2", "r1"}, {"s3", "z3", "r2"}, {"s4", "z4", "r2"}, {"s5", "z5", "r2"}, {"s6", "z3", "r2"}} {
		srv, err := e.c.AddServer(s[0], s[1], s[2])
		if err != nil {
			t.Fatal(err)
		}
		e.s[s[0]] = srv
	}
	e.c.CreateTable(tn, tb, partitions, layout)
	e.cl = e.client(opts...)
	return e
}

func (e *env) client(opts ...Option) *Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := New(ctx, []string{e.s["s1"].Addr(), e.s["s2"].Addr()}, append([]Option{WithClock(e.c.Now), WithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func (e *env) put(key, value string) uint64 {
	e.t.Helper()
	v, err := e.cl.Put(context.Background(), tn, tb, []byte(key), []byte(value))
	if err != nil {
		e.t.Fatalf("put %q: %v", key, err)
	}
	return v
}

func (e *env) get(key string, opts ...ReadOption) Result {
	e.t.Helper()
	r, err := e.cl.Get(context.Background(), tn, tb, []byte(key), opts...)
	if err != nil {
		e.t.Fatalf("get %q: %v", key, err)
	}
	return r
}

func (e *env) calls(server, method string) int { return e.s[server].Calls(method) }
