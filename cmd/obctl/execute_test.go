package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/config"
)

// fakeAdmin answers Health, Execute with the next of its scripted errors (then success), and
// Show with the JSON rows of rows[what] (none when missing).
type fakeAdmin struct {
	api.UnimplementedAdminServer
	mu      sync.Mutex
	answers []error
	calls   int
	rows    map[string]string
	// cluster and server are what Health answers.
	cluster, server string
}

func (f *fakeAdmin) Show(_ context.Context, r *api.ShowRequest) (*api.ShowResponse, error) {
	rows, ok := f.rows[r.What]
	if !ok {
		rows = "[]"
	}
	return &api.ShowResponse{RowsJson: []byte(rows)}, nil
}

func (f *fakeAdmin) Health(context.Context, *api.HealthRequest) (*api.HealthResponse, error) {
	return &api.HealthResponse{Cluster: f.cluster, Server: f.server}, nil
}

func (f *fakeAdmin) Execute(context.Context, *api.AdminRequest) (*api.AdminResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.answers) == 0 {
		return &api.AdminResponse{ResultJson: []byte(`{}`)}, nil
	}
	err := f.answers[0]
	f.answers = f.answers[1:]
	return nil, err
}

func serveFake(t *testing.T, f *fakeAdmin) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.RegisterAdminServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	old := g
	g.addr, g.file, g.timeout = lis.Addr().String(), "", 10*time.Second
	t.Cleanup(func() { g = old })
}

// A create whose first attempt got no answer and whose retry finds the object says that it was
// probably this command that created it; one that was never sent before reports plainly.
func TestExecuteRetryAfterUnknownOutcome(t *testing.T) {
	exists := status.Error(codes.AlreadyExists, `tenant "t1" already exists`)
	f := &fakeAdmin{answers: []error{status.Error(codes.Unknown, "write outcome unknown: context deadline exceeded"), exists}}
	serveFake(t, f)
	_, err := execute("create-tenant", map[string]any{"name": "t1"})
	if err == nil || !strings.Contains(err.Error(), "probably this command") {
		t.Fatalf("create after an unknown outcome: %v, want it to say it probably created it", err)
	}
	if f.calls != 2 {
		t.Fatalf("%d Execute calls, want 2", f.calls)
	}

	f2 := &fakeAdmin{answers: []error{status.Error(codes.Unavailable, "not leader: root service is not available"), exists}}
	serveFake(t, f2)
	_, err = execute("create-tenant", map[string]any{"name": "t1"})
	if err == nil || strings.Contains(err.Error(), "probably") || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create after a refused attempt: %v, want a plain 'already exists'", err)
	}
}

// A request's own error is answered at once, whatever words its message repeats from the
// request: only the code decides a retry (a tenant named "Unavailable" made obctl retry its
// "does not exist" until --timeout).
func TestExecuteDoesNotRetryARequestsOwnError(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.NotFound, `tenant "Unavailable" does not exist`),
		status.Error(codes.InvalidArgument, `locality "not leader": replica "not leader" is not TYPE@ZONE`),
	} {
		f := &fakeAdmin{answers: []error{err}}
		serveFake(t, f)
		start := time.Now()
		_, got := execute("drop-tenant", map[string]any{"name": "Unavailable"})
		if got == nil || oneLine(got) != status.Convert(err).Message() || f.calls != 1 {
			t.Errorf("execute answered %v: %v after %d calls in %v; want that error after 1 call", err, got, f.calls, time.Since(start))
		}
	}
}

// cluster up, status and the failover bench count a server as answering only when it answers as
// that server of that cluster: another cluster's server on the address is not it.
func TestHealthProbeChecksWhoAnswers(t *testing.T) {
	serveFake(t, &fakeAdmin{cluster: "other", server: "s1"})
	srv := config.Server{Name: "s1", RPCAddr: g.addr}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := healthProbe("demo")(ctx, srv)
	if want := "answers as server s1 of cluster other, not as s1 of demo"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("probe of another cluster's server: %v; want an error containing %q", err, want)
	}
	if err := healthProbe("other")(ctx, srv); err != nil {
		t.Errorf("probe of the cluster's own server: %v", err)
	}
}
