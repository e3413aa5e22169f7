package api

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Limits of KV.Stream on the serving side.
const (
	// MaxStreamCalls bounds the calls of one stream being served at once; the stream's reader
	// waits beyond it (and HTTP/2 flow control holds the client back).
	MaxStreamCalls = 4096
	// maxStreamAnswers bounds the answers sent in one StreamResponse.
	maxStreamAnswers = 512
	// maxCallTimeout caps a call's timeout_us.
	maxCallTimeout = time.Hour
)

// Message sizes of obkv's gRPC connections, on both ends.
const (
	// MaxMessageBytes bounds one gRPC message. It holds the largest single call, answer or
	// peer message: a write batch of 16 MiB of keys and values (replica.MaxBatchBytes).
	MaxMessageBytes = 64 << 20
	// BatchBytes is where a message batching calls, answers or peer messages stops taking
	// more: batches stay far below MaxMessageBytes however large their items.
	BatchBytes = 4 << 20
)

// HTTP/2 flow-control windows of obkv's gRPC connections, on both ends. Fixed windows turn off
// grpc-go's bandwidth-delay estimation, which sends a PING after data arrives and answers the
// other side's: on loopback and LANs that was a tenth of a client's allocations and a syscall
// pair per exchange, for no gain (the windows below exceed any bandwidth-delay product of a
// LAN). They bound the unread data buffered per stream and per connection.
const (
	StreamWindow = 4 << 20
	ConnWindow   = 16 << 20
)

// ServerOptions are the gRPC server options obkv's servers use (windows, message sizes).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(StreamWindow), grpc.InitialConnWindowSize(ConnWindow)}
}

// Reconnection of obkv's gRPC connections. grpc-go's defaults (1 s growing by 1.6x to 120 s,
// 20 s per attempt) suit a client of a far service. Between the servers of a cluster they
// left a restarted server unreachable from a peer for seconds after it was back (the attempts
// of the ~10 s it was down had grown 4-7 s apart), so its lease renewals and votes were lost:
// failovers took 3-30 s instead of 0.6. A server answers again within ReconnectMaxDelay of
// its return; an attempt towards a black-holed address gives up after ConnectTimeout.
const (
	ReconnectBaseDelay = 50 * time.Millisecond
	ReconnectMaxDelay  = time.Second
	ConnectTimeout     = 2 * time.Second
)

// DialOptions are the gRPC dial options obkv's clients and servers use (windows, message sizes,
// reconnection).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(StreamWindow), grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: ReconnectBaseDelay, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
			MinConnectTimeout: ConnectTimeout,
		})}
}

// ServeStream serves KV.Stream with kv's unary Write and Get: each call runs through run (which
// must start it on some goroutine: a pool, or a fresh one), with the call's timeout_us as its
// deadline; its answer carries the unary method's status and goes back batched with whatever
// other answers are ready, in any order. It returns when the client ends the stream (nil,
// once every call it sent is answered) or the stream fails.
func ServeStream(st grpc.BidiStreamingServer[StreamRequest, StreamResponse], kv KVServer, run func(func())) error {
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	as := &answerSender{st: st, out: make(chan *StreamAnswer, maxStreamAnswers), resp: &StreamResponse{}}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		as.run(ctx)
	}()
	// A call holds its slot until its answer is sent or queued: a client that sends faster
	// than it reads answers holds up its own stream (at most MaxStreamCalls calls and their
	// answers), not the server's memory.
	slots := make(chan struct{}, MaxStreamCalls)
	// finished: the client ended the stream; every call is answered before the handler
	// returns, and nothing is sent after it returns.
	finished := false
	defer func() {
		if finished {
			// Wait for every call to answer (all slots back), unless the stream dies first.
			for range MaxStreamCalls {
				select {
				case slots <- struct{}{}:
				case <-st.Context().Done():
				}
			}
		}
		cancel()
		<-sent
		as.mu.Lock()
		if finished {
			for len(as.out) > 0 && !as.closed {
				as.sendLocked(<-as.out)
			}
		}
		as.closed = true
		as.mu.Unlock()
	}()
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			finished = true
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range req.Calls {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			run(func() {
				as.answer(ctx, serveCall(ctx, kv, c))
				<-slots
			})
		}
	}
}

// answerSender sends a stream's answers, batched. The goroutine that produced an answer sends
// it itself when no Send is under way (one goroutine hand-off less on every call's path);
// otherwise it queues the answer for run, which sends it with whatever else queued.
type answerSender struct {
	st  grpc.BidiStreamingServer[StreamRequest, StreamResponse]
	out chan *StreamAnswer

	mu     sync.Mutex // held while sending
	resp   *StreamResponse
	closed bool // the handler returned or a Send failed: no more Sends
}

func (as *answerSender) answer(ctx context.Context, a *StreamAnswer) {
	if as.mu.TryLock() {
		as.sendLocked(a)
		as.mu.Unlock()
		return
	}
	select {
	case as.out <- a:
	case <-ctx.Done():
	}
}

// run sends queued answers until ctx ends.
func (as *answerSender) run(ctx context.Context) {
	for {
		select {
		case a := <-as.out:
			as.mu.Lock()
			as.sendLocked(a)
			as.mu.Unlock()
		case <-ctx.Done():
			return
		}
	}
}

// sendLocked sends first and every queued answer in one StreamResponse. A failed Send ends the
// stream for the client; later answers are dropped.
func (as *answerSender) sendLocked(first *StreamAnswer) {
	if as.closed {
		return
	}
	as.resp.Answers = FillBatch(append(as.resp.Answers[:0], first), as.out, maxStreamAnswers)
	if err := as.st.Send(as.resp); err != nil {
		as.closed = true
	}
	clear(as.resp.Answers)
}

// FillBatch appends to batch (holding at least one message) what queue holds ready, until
// batch has max messages or BatchBytes of them: one message of a batch may be as large as
// MaxMessageBytes allows, a batch never much larger.
func FillBatch[M proto.Message](batch []M, queue <-chan M, max int) []M {
	size := 0
	for _, m := range batch {
		size += proto.Size(m)
	}
	for len(batch) < max && size < BatchBytes {
		select {
		case m := <-queue:
			batch = append(batch, m)
			size += proto.Size(m)
		default:
			return batch
		}
	}
	return batch
}

// serveCall serves one call of a stream with its unary method.
func serveCall(ctx context.Context, kv KVServer, c *StreamCall) *StreamAnswer {
	if c.TimeoutUs > 0 {
		l := withLazyDeadline(ctx, time.Duration(min(c.TimeoutUs, uint64(maxCallTimeout/time.Microsecond)))*time.Microsecond)
		defer l.release()
		ctx = l
	}
	a := &StreamAnswer{Id: c.Id}
	var err error
	switch x := c.Call.(type) {
	case *StreamCall_Write:
		var r *WriteResponse
		if r, err = kv.Write(ctx, x.Write); err == nil {
			a.Answer = &StreamAnswer_Write{Write: r}
		}
	case *StreamCall_Get:
		var r *GetResponse
		if r, err = kv.Get(ctx, x.Get); err == nil {
			a.Answer = &StreamAnswer_Get{Get: r}
		}
	default:
		err = status.Errorf(codes.InvalidArgument, "stream call %d: neither a write nor a get", c.Id)
	}
	if err != nil {
		s := status.Convert(err)
		a.Code, a.Message = uint32(s.Code()), s.Message()
	}
	return a
}
