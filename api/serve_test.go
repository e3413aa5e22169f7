package api

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// fakeStream is the server end of a KV.Stream without a network: the test feeds requests into
// in (closing it is the client's CloseSend) and reads answers from out (not reading is a
// client whose flow-control window is full).
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
	in  chan *StreamRequest
	out chan *StreamResponse
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Recv() (*StreamRequest, error) {
	select {
	case r, ok := <-f.in:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
}

func (f *fakeStream) Send(r *StreamResponse) error {
	// The handler reuses r after Send returns: hand over a copy.
	c := &StreamResponse{Answers: append([]*StreamAnswer(nil), r.Answers...)}
	select {
	case f.out <- c:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

// fakeKV answers Gets at once, closing over when it served more than bound of them, and
// Writes once release is closed.
type fakeKV struct {
	UnimplementedKVServer
	gets, writes atomic.Int64
	bound        int64
	over         chan struct{}
	release      chan struct{}
}

func (k *fakeKV) Get(context.Context, *GetRequest) (*GetResponse, error) {
	if n := k.gets.Add(1); k.over != nil && n == k.bound+1 {
		close(k.over)
	}
	return &GetResponse{}, nil
}

func (k *fakeKV) Write(ctx context.Context, _ *WriteRequest) (*WriteResponse, error) {
	k.writes.Add(1)
	select {
	case <-k.release:
		return &WriteResponse{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func serveFake(t *testing.T, kv KVServer) (*fakeStream, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st := &fakeStream{ctx: ctx, in: make(chan *StreamRequest), out: make(chan *StreamResponse)}
	done := make(chan error, 1)
	go func() { done <- ServeStream(st, kv, func(f func()) { go f() }) }()
	return st, done
}

func getCall(id uint64) *StreamRequest {
	return &StreamRequest{Calls: []*StreamCall{{Id: id, Call: &StreamCall_Get{Get: &GetRequest{}}}}}
}

// TestServeStreamBoundsUnreadAnswers: a client that sends calls and reads no answers is held
// at MaxStreamCalls calls in the server (each with its answer), not served on: the server's
// memory must not grow with what one client sends (a client that sent 300,000 calls without
// reading once left 220,000 goroutines and 1.2 GB in a server). Once it reads, every call is
// answered.
func TestServeStreamBoundsUnreadAnswers(t *testing.T) {
	// Served at most: a slot's worth of calls (one of them in the Send the client does not
	// read, with a batch of other answers), a queue of answers, and the one the sender took
	// from it.
	const bound = MaxStreamCalls + 2*maxStreamAnswers
	over := make(chan struct{})
	kv := &fakeKV{over: over, bound: bound}
	st, done := serveFake(t, kv)
	const total = 3 * MaxStreamCalls
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for id := range uint64(total) {
			select {
			case st.in <- getCall(id):
			case <-st.ctx.Done():
				return
			}
		}
		close(st.in)
	}()
	select {
	case <-over:
		t.Fatalf("more than %d calls served for a client that reads no answer", bound)
	case <-fed:
		t.Fatalf("the server took all %d calls of a client that reads no answer", total)
	case <-time.After(500 * time.Millisecond):
	}
	// Reading now lets the rest through.
	seen := map[uint64]bool{}
	for len(seen) < total {
		select {
		case r := <-st.out:
			for _, a := range r.Answers {
				seen[a.Id] = true
			}
		case err := <-done:
			t.Fatalf("ServeStream returned %v with %d of %d calls answered", err, len(seen), total)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeStream = %v after the client's end; want nil", err)
	}
}

// TestServeStreamAnswersEveryCallAfterCloseSend: a client that half-closes the stream still
// gets the answer of every call it sent. The handler used to return at the client's end and
// cancel what ran: writes were applied (or not) and their callers never learned which.
func TestServeStreamAnswersEveryCallAfterCloseSend(t *testing.T) {
	kv := &fakeKV{release: make(chan struct{})}
	st, done := serveFake(t, kv)
	const n = 20
	for id := range uint64(n) {
		st.in <- &StreamRequest{Calls: []*StreamCall{{Id: id, Call: &StreamCall_Write{Write: &WriteRequest{}}}}}
	}
	close(st.in) // CloseSend
	close(kv.release)
	answered := 0
	for {
		select {
		case r := <-st.out:
			for _, a := range r.Answers {
				if a.Code != 0 {
					t.Errorf("call %d answered with code %d %q; want success", a.Id, a.Code, a.Message)
				}
				answered++
			}
		case err := <-done:
			if err != nil {
				t.Fatalf("ServeStream = %v; want nil", err)
			}
			if answered != n {
				t.Fatalf("%d of %d calls answered before the stream ended (%d writes ran)", answered, n, kv.writes.Load())
			}
			return
		}
	}
}
