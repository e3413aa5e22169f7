package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"obkv/api"
)

// Limits of the multiplexed stream.
const (
	// streamQueueLen bounds the calls waiting for the sender; callers block beyond it.
	streamQueueLen = 4096
	// streamBatchCalls bounds the calls sent in one StreamRequest.
	streamBatchCalls = 512
	// inlineSendBytes bounds the bytes of unanswered calls under which a caller sends its own
	// call. gRPC's Send blocks when a server stops reading (a paused process) and enough is
	// buffered; below this bound nothing can fill grpc-go's per-stream write quota (64 KiB),
	// and above it callers queue for the sender goroutine, where their deadlines still hold.
	inlineSendBytes = 32 << 10
)

// notSentMsg starts the message of a call the stream never sent: nothing can have been applied,
// so it is safe to retry anywhere (see undelivered).
const notSentMsg = "call not sent"

// errNoStream says the server does not serve KV.Stream (an older server): use unary calls.
var errNoStream = errors.New("server has no KV.Stream")

// muxKV is the KV client of one server. Write and Get travel over one long-lived KV.Stream
// shared by every caller, batched while calls queue up, so a call costs no HTTP/2 stream, no
// headers and no server goroutine of its own (the unary RPC's costs, which dominated CPU
// profiles of the servers and of this client). Scan and Locate, and every call to a server
// without KV.Stream, stay unary. Answers carry the unary method's status, so callers see the
// same errors either way.
type muxKV struct {
	api.KVClient // unary

	mu       sync.Mutex
	st       *muxStream // nil until first use, and after the stream broke
	noStream bool
}

func newMuxKV(conn *grpc.ClientConn) *muxKV {
	return &muxKV{KVClient: api.NewKVClient(conn)}
}

// muxStream is one open KV.Stream with its sender and receiver goroutines.
type muxStream struct {
	m      *muxKV
	cancel context.CancelFunc
	st     grpc.BidiStreamingClient[api.StreamRequest, api.StreamResponse]
	queue  chan *muxCall
	nextID atomic.Uint64

	sendMu   sync.Mutex // held while sending
	req      *api.StreamRequest
	inflight atomic.Int64 // bytes of calls sent and not answered

	mu      sync.Mutex
	pending map[uint64]*muxCall
	err     error         // why the stream ended; set once, before done closes
	done    chan struct{} // closed when the stream ended
}

// States of a muxCall.
const (
	callQueued int32 = iota
	callSent
	callAbandoned
)

type muxCall struct {
	call *api.StreamCall
	// state is callQueued, then callSent (handed to the stream: it may have reached the
	// server) or callAbandoned (its caller gave up first: it is never sent).
	state atomic.Int32
	size  int64 // encoded size, counted in inflight while sent and unanswered
	ans   chan *api.StreamAnswer
}

func (m *muxKV) Write(ctx context.Context, req *api.WriteRequest, opts ...grpc.CallOption) (*api.WriteResponse, error) {
	a, err := m.call(ctx, &api.StreamCall{Call: &api.StreamCall_Write{Write: req}})
	if errors.Is(err, errNoStream) {
		return m.KVClient.Write(ctx, req, opts...)
	}
	if err != nil {
		return nil, err
	}
	return a.GetWrite(), nil
}

func (m *muxKV) Get(ctx context.Context, req *api.GetRequest, opts ...grpc.CallOption) (*api.GetResponse, error) {
	a, err := m.call(ctx, &api.StreamCall{Call: &api.StreamCall_Get{Get: req}})
	if errors.Is(err, errNoStream) {
		return m.KVClient.Get(ctx, req, opts...)
	}
	if err != nil {
		return nil, err
	}
	return a.GetGet(), nil
}

// stream returns the open stream, opening one if there is none.
func (m *muxKV) stream() (*muxStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.noStream {
		return nil, errNoStream
	}
	if m.st != nil {
		return m.st, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := m.KVClient.Stream(ctx)
	if err != nil {
		cancel()
		return nil, err // the connection is down: grpc-go's own error, as a unary call would get
	}
	s := &muxStream{m: m, cancel: cancel, st: st, queue: make(chan *muxCall, streamQueueLen),
		req: &api.StreamRequest{}, pending: map[uint64]*muxCall{}, done: make(chan struct{})}
	m.st = s
	go s.send()
	go s.receive()
	return s, nil
}

// call sends one call and waits for its answer, the caller's context, or the stream's end.
func (m *muxKV) call(ctx context.Context, c *api.StreamCall) (*api.StreamAnswer, error) {
	s, err := m.stream()
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return nil, status.FromContextError(context.DeadlineExceeded).Err()
		}
		c.TimeoutUs = uint64(left.Microseconds()) + 1
	}
	c.Id = s.nextID.Add(1)
	mc := &muxCall{call: c, ans: make(chan *api.StreamAnswer, 1), size: int64(proto.Size(c))}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.endErr(mc)
	}
	s.pending[c.Id] = mc
	s.mu.Unlock()
	if s.inflight.Load() < inlineSendBytes && s.sendMu.TryLock() { // send it from here, with whatever queued
		s.sendLocked(mc)
		s.sendMu.Unlock()
	} else {
		select {
		case s.queue <- mc:
		case <-ctx.Done():
			s.forget(mc)
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return nil, s.endErr(mc)
		}
	}
	select {
	case a := <-mc.ans:
		return answer(a)
	case <-ctx.Done():
		s.forget(mc)
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-s.done:
		select {
		case a := <-mc.ans: // answered just before the end
			return answer(a)
		default:
			return nil, s.endErr(mc)
		}
	}
}

func answer(a *api.StreamAnswer) (*api.StreamAnswer, error) {
	if a.Code != uint32(codes.OK) {
		return nil, status.Error(codes.Code(a.Code), a.Message)
	}
	return a, nil
}

// forget is called when mc's caller stops waiting. A call never sent is dropped (and never will
// be); a sent one stays pending until its answer arrives, so that inflight counts it until then.
func (s *muxStream) forget(mc *muxCall) {
	if mc.state.CompareAndSwap(callQueued, callAbandoned) {
		s.mu.Lock()
		delete(s.pending, mc.call.Id)
		s.mu.Unlock()
	}
}

// claim marks mc sent and counts it in inflight, unless its caller abandoned it.
func (s *muxStream) claim(mc *muxCall) bool {
	if !mc.state.CompareAndSwap(callQueued, callSent) {
		return false
	}
	s.inflight.Add(mc.size)
	return true
}

// endErr is the error of a call the stream ended under: errNoStream if the server has no
// KV.Stream (nothing was served), "not sent" if the call never left, otherwise Unavailable
// after delivery (a write's outcome is then unknown, as with a unary call whose connection
// broke).
func (s *muxStream) endErr(mc *muxCall) error {
	s.forget(mc)
	if status.Code(s.err) == codes.Unimplemented {
		return errNoStream
	}
	if mc.state.Load() != callSent {
		return status.Errorf(codes.Unavailable, "%s: the stream to the server ended first: %v", notSentMsg, statusText(s.err))
	}
	return status.Errorf(codes.Unavailable, "the stream to the server ended after the call was sent: %v", statusText(s.err))
}

// end records why the stream ended, wakes every caller and lets the next call open a new one.
func (s *muxStream) end(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if err == nil {
		err = status.Error(codes.Unavailable, "stream closed")
	}
	s.err = err
	close(s.done)
	s.mu.Unlock()
	s.cancel()
	s.m.mu.Lock()
	if s.m.st == s {
		s.m.st = nil
	}
	if status.Code(err) == codes.Unimplemented {
		s.m.noStream = true
	}
	s.m.mu.Unlock()
}

// send sends queued calls until the stream ends. A caller sends its own call when no Send is
// under way and little is unanswered (one goroutine hand-off less on its path; see
// inlineSendBytes); other calls queue here.
func (s *muxStream) send() {
	for {
		select {
		case mc := <-s.queue:
			s.sendMu.Lock()
			s.sendLocked(mc)
			s.sendMu.Unlock()
		case <-s.done:
			return
		}
	}
}

// sendLocked sends first and every queued call in one StreamRequest.
func (s *muxStream) sendLocked(first *muxCall) {
	select {
	case <-s.done:
		return // the caller learns from done
	default:
	}
	s.req.Calls = s.req.Calls[:0]
	var size int64
	if s.claim(first) {
		s.req.Calls = append(s.req.Calls, first.call)
		size += first.size
	}
more:
	for len(s.req.Calls) < streamBatchCalls && size < api.BatchBytes {
		select {
		case mc := <-s.queue:
			if s.claim(mc) {
				s.req.Calls = append(s.req.Calls, mc.call)
				size += mc.size
			}
		default:
			break more
		}
	}
	if len(s.req.Calls) == 0 {
		return
	}
	err := s.st.Send(s.req)
	clear(s.req.Calls)
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: the stream ended; receive learns why
		s.end(err)
	}
}

// receive hands answers to their callers until the stream ends.
func (s *muxStream) receive() {
	for {
		resp, err := s.st.Recv()
		if err != nil {
			s.end(err)
			return
		}
		s.mu.Lock()
		for _, a := range resp.Answers {
			if mc := s.pending[a.Id]; mc != nil {
				delete(s.pending, a.Id)
				s.inflight.Add(-mc.size)
				mc.ans <- a
			}
		}
		s.mu.Unlock()
	}
}

// close ends the stream, if one is open (Client.Close).
func (m *muxKV) close() {
	m.mu.Lock()
	s := m.st
	m.mu.Unlock()
	if s != nil {
		s.end(status.Error(codes.Canceled, "client closed"))
	}
}
