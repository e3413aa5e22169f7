package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/config"
)

// TestPeerWithAnotherClusterFileIsRefused: a server refuses the peer stream of a server that
// runs other timing settings, or numbers the servers otherwise, naming both, and takes a
// stream of the same (or of a sender that sends none). One server with lease 20s among two of
// 500ms once ran, and led, without a word: a leader counting a longer lease than its voters
// grant may serve stale strong reads.
func TestPeerWithAnotherClusterFileIsRefused(t *testing.T) {
	cl := &config.Cluster{Name: "c", Settings: config.DefaultSettings(),
		Servers: []config.Server{{Name: "s1"}, {Name: "s2"}}}
	s := &Server{cl: cl, self: cl.Servers[0], log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	api.RegisterPeerServer(g, peerService{s: s})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	// send opens a peer stream as s2 with settings (none: no metadata), sends one batch and
	// ends the stream, returning the server's status.
	send := func(settings *config.Settings, servers ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if settings != nil {
			ctx = metadata.AppendToOutgoingContext(ctx, settingsKey, protocolSettings(*settings))
		}
		if servers != nil {
			ctx = metadata.AppendToOutgoingContext(ctx, serversKey, strings.Join(servers, ","))
		}
		st, err := api.NewPeerClient(conn).Send(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&api.Batch{From: "s2", Cluster: "c"}); err != nil && err != io.EOF {
			return err
		}
		_, err = st.CloseAndRecv()
		return err
	}
	same := config.DefaultSettings()
	if err := send(&same); err != nil {
		t.Fatalf("a peer of the same settings: %v; want it taken", err)
	}
	if err := send(nil); err != nil {
		t.Fatalf("a peer that sends no settings: %v; want it taken", err)
	}
	other := config.DefaultSettings()
	other.LeaseDuration = 20 * time.Second
	err = send(&other)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "lease=20s") || !strings.Contains(err.Error(), "lease=500ms") {
		t.Fatalf("a peer with lease 20s: %v; want FailedPrecondition naming both leases", err)
	}

	// Server lists: one may extend the other (a server appended, the file not yet everywhere);
	// any other difference maps replica ids to other servers.
	for _, ok := range [][]string{{"s1", "s2"}, {"s1", "s2", "s3"}} {
		if err := send(&same, ok...); err != nil {
			t.Errorf("a peer listing %v (this server: s1,s2): %v; want it taken", ok, err)
		}
	}
	for _, bad := range [][]string{{"s2", "s1"}, {"s0", "s1", "s2"}, {"s1", "s22"}} {
		err := send(&same, bad...)
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "server lists differ") {
			t.Errorf("a peer listing %v (this server: s1,s2): %v; want FailedPrecondition: server lists differ", bad, err)
		}
	}
}
