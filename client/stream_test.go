package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
)

// Every Write and Get of a client shares one stream per server, and each caller gets its own
// answer however the calls interleave.
func TestStreamCarriesConcurrentCalls(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				key, val := fmt.Sprintf("k%d-%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				if _, err := e.cl.Put(ctx, tn, tb, []byte(key), []byte(val)); err != nil {
					errs <- err
					return
				}
				r, err := e.cl.Get(ctx, tn, tb, []byte(key))
				if err != nil {
					errs <- err
					return
				}
				if string(r.Value) != val {
					errs <- fmt.Errorf("get %s = %q; want %q", key, r.Value, val)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.calls("s1", "Write"); n != 32*20 {
		t.Errorf("s1 served %d writes; want %d", n, 32*20)
	}
	if n := e.calls("s1", "Stream"); n != 1 {
		t.Errorf("s1 saw %d streams; want 1 shared by every call", n)
	}
	e.cl.mu.Lock()
	kv := e.cl.kvs[e.s["s1"].Addr()]
	e.cl.mu.Unlock()
	kv.mu.Lock()
	st := kv.st
	kv.mu.Unlock()
	if st == nil {
		t.Fatal("no open stream to s1")
	}
	if n := st.inflight.Load(); n != 0 {
		t.Errorf("%d bytes counted unanswered after every call was answered", n)
	}
}

// A server without KV.Stream (an older one) is served by unary calls, and nothing is lost on
// the way: the refused stream carried nothing.
func TestStreamFallsBackToUnary(t *testing.T) {
	e := newEnv(t, 1)
	e.s["s1"].DisableStream()
	v := e.put("k", "v1")
	if r := e.get("k"); string(r.Value) != "v1" || r.Meta.ReadVersion < v {
		t.Errorf("get = %q at %d; want v1 at >= %d", r.Value, r.Meta.ReadVersion, v)
	}
	if e.calls("s1", "Write") != 1 {
		t.Errorf("s1 writes = %d; want 1 (the refused stream must not count as a write)", e.calls("s1", "Write"))
	}
	e.put("k", "v2")
	if n := e.calls("s1", "Stream"); n != 1 {
		t.Errorf("s1 saw %d stream attempts; want 1 (the client remembers)", n)
	}
}

// A stream that ends after a write was sent leaves its outcome unknown, and the client does not
// retry it (it was applied here).
func TestStreamEndAfterSendIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t, 1)
	e.put("k", "v1")
	e.s["s1"].StopAfterApply()
	_, err := e.cl.Put(context.Background(), tn, tb, []byte("k"), []byte("v2"))
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("put = %v; want ErrOutcomeUnknown", err)
	}
	if n := e.calls("s2", "Write") + e.calls("s3", "Write"); n != 0 {
		t.Errorf("the ambiguous write was retried on other servers (%d writes)", n)
	}
	if r := e.get("k", Prefer(Follower)); string(r.Value) != "v2" {
		t.Errorf("the fake applied it, so a read sees v2; got %q", r.Value)
	}
}

// When the cached leader's server dies while the location cannot be refreshed (the root service
// fails over too), a write asks another FULL replica, follows the leader it names, and succeeds.
func TestWriteFindsNewLeaderWithoutLocate(t *testing.T) {
	e := newEnv(t, 1)
	e.put("k", "v1")
	for _, s := range e.s {
		for range 100 {
			s.Fail("Locate", status.Error(codes.Unavailable, "root service failing over"))
		}
	}
	e.s["s1"].Stop()
	// A write sent while the connection was still up would be ambiguous (rightly); wait until
	// the client saw its stream to s1 end.
	kv, err := e.cl.kv(e.s["s1"].Addr())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := kv.(*muxKV)
		m.mu.Lock()
		open := m.st != nil
		m.mu.Unlock()
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream to the stopped s1 did not end")
		}
		runtime.Gosched()
	}
	e.c.SetLeader(tn, tb, -1, "s3") // s2 answers "not leader: leader is s3"
	if _, err := e.cl.Put(context.Background(), tn, tb, []byte("k"), []byte("v2")); err != nil {
		t.Fatalf("put with the leader dead and no location: %v", err)
	}
	if e.calls("s3", "Write") != 1 {
		t.Errorf("s3 (the new leader) served %d writes; want 1", e.calls("s3", "Write"))
	}
}

// Calls queued while the stream is busy go out together, but a request stops taking more at
// api.BatchBytes: sixteen concurrent 1 MiB writes do not make one 16 MiB message.
func TestStreamBatchStopsAtBatchBytes(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 1<<20)
	limit := api.BatchBytes + len(value) + 1024
	// Bursts until one request reached the cap (the calls queued behind a busy stream held more
	// than api.BatchBytes): without that the bound below would hold vacuously.
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					if _, err := e.cl.Put(ctx, tn, tb, []byte(fmt.Sprintf("k%d-%d-%d", round, w, i)), value); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := e.s["s1"].MaxStreamRequestBytes()
		if got > limit {
			t.Fatalf("largest stream request %d bytes, want at most %d (api.BatchBytes and one call)", got, limit)
		}
		if got >= api.BatchBytes {
			return
		}
		if round == 9 {
			t.Fatalf("after %d bursts of 16 writers the largest stream request was %d bytes: the calls never queued past api.BatchBytes (%d), so the cap was not exercised", round+1, got, api.BatchBytes)
		}
	}
}
