package api

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestReconnectSoonAfterAServerReturns: a connection whose server was gone for seconds (a
// restart) reaches it again within about ReconnectMaxDelay of its return. With grpc-go's
// default backoff the attempts are 4-7 s apart by then and the first call succeeds 2-5 s
// after the return.
func TestReconnectSoonAfterAServerReturns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the server is down

	conn, err := grpc.NewClient(addr, append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := NewKVClient(conn)
	// call reports whether a call reached a server (this one implements nothing).
	call := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := kv.Get(ctx, &GetRequest{})
		return status.Code(err) == codes.Unimplemented
	}
	// Calls keep failing while the server is down, and the attempts to connect back off.
	down := time.Now()
	for time.Since(down) < 6*time.Second {
		if call() {
			t.Fatal("a call succeeded with no server")
		}
		time.Sleep(50 * time.Millisecond)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port %s was taken meanwhile: %v", addr, err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	RegisterKVServer(srv, UnimplementedKVServer{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	back := time.Now()
	limit := ReconnectMaxDelay + ReconnectMaxDelay/2 // the delay plus its jitter and slack
	for !call() {
		if time.Since(back) > 10*time.Second {
			t.Fatal("no call reached the server 10 s after it returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(back); took > limit {
		t.Fatalf("the first call reached the server %v after it returned, want within %v", took, limit)
	}
}
