package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/config"
	"obkv/paxos"
)

// Limits of the peer transport.
const (
	// peerQueueLen bounds the messages waiting for one peer; beyond it messages are dropped
	// (Paxos retransmits).
	peerQueueLen = 16384
	// maxBatchEnvelopes bounds one Batch.
	maxBatchEnvelopes = 1024
	// snapshotChunkBytes is the size of one FetchSnapshot chunk.
	snapshotChunkBytes = 1 << 20
)

// peer is the outgoing side towards one other server: a bounded queue drained by one goroutine
// into one gRPC stream (all partitions share it).
type peer struct {
	srv   config.Server
	queue chan *api.Envelope
	conn  *grpc.ClientConn
}

// everyMinute runs a function at most once a minute per key (a log line about a peer that
// would otherwise repeat with every retry).
type everyMinute struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (e *everyMinute) note(key string, fn func()) {
	e.mu.Lock()
	now := time.Now()
	due := now.Sub(e.last[key]) > time.Minute
	if due {
		if e.last == nil {
			e.last = map[string]time.Time{}
		}
		e.last[key] = now
	}
	e.mu.Unlock()
	if due {
		fn()
	}
}

// settingsKey is the gRPC metadata key of a peer stream that carries the sender's timing
// settings (protocolSettings).
const settingsKey = "obkv-timing-settings"

// serversKey carries the sender's server names, in cluster file order, comma-separated.
const serversKey = "obkv-servers"

// protocolSettings renders the settings every server of a cluster must share: a leader's lease
// is safe only if every voter grants it as long as the leader counts it (both are counted in
// ticks of these lengths), and closed versions are promised on the same clock. A server that
// read another cluster file (a rolling restart after editing one of these) could lead on a
// lease its voters had already let lapse.
func protocolSettings(st config.Settings) string {
	return fmt.Sprintf("tick=%v lease=%v heartbeat_interval=%v max_clock_drift=%v closed_version_interval=%v",
		st.Tick, st.LeaseDuration, st.HeartbeatInterval, st.MaxClockDrift, st.ClosedVersionInterval)
}

// checkPeerSettings refuses a peer stream whose sender runs other timing settings than s, or
// numbers the servers otherwise (a replica ID is a server's position in the cluster file: a
// list that is not a prefix of the other, or the other's of it, maps IDs to other servers). A
// sender that sends neither, an older build, is let through.
func (s *Server) checkPeerSettings(ctx context.Context, from string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	var err error
	if theirs := md.Get(settingsKey); len(theirs) > 0 && theirs[0] != protocolSettings(s.cl.Settings) {
		err = status.Errorf(codes.FailedPrecondition, "settings differ: server %s runs %s; server %s runs %s: every server of a cluster must run the same "+
			"tick, lease, heartbeat_interval, max_clock_drift and closed_version_interval (stop every server to change them); messages from %s are refused",
			from, theirs[0], s.self.Name, protocolSettings(s.cl.Settings), from)
	} else if theirs := md.Get(serversKey); len(theirs) > 0 {
		mine := strings.Join(s.cl.ServerNames(), ",")
		if !strings.HasPrefix(theirs[0]+",", mine+",") && !strings.HasPrefix(mine+",", theirs[0]+",") {
			err = status.Errorf(codes.FailedPrecondition, "server lists differ: server %s's cluster file lists %s; server %s's lists %s: a server's replica id is its position "+
				"in the list, so servers may be appended, never renamed, removed or reordered; messages from %s are refused", from, theirs[0], s.self.Name, mine, from)
		}
	}
	if err != nil {
		s.settingsRefusals.note("of "+from, func() {
			s.log.Error("peer refused: its cluster file differs from this server's", "peer", from, "err", status.Convert(err).Message())
		})
	}
	return err
}

// transport carries the Paxos messages of every partition between servers.
type transport struct {
	s     *Server
	log   *slog.Logger
	peers map[string]*peer // by server name
	ctx   context.Context
	wg    sync.WaitGroup
}

func newTransport(ctx context.Context, s *Server) (*transport, error) {
	t := &transport{s: s, log: s.log, peers: map[string]*peer{}, ctx: ctx}
	for _, srv := range s.cl.Servers {
		if srv.Name == s.self.Name {
			continue
		}
		conn, err := grpc.NewClient(srv.RPCAddr, append(api.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(peerDialer(s.rpcListen())),
		)...)
		if err != nil {
			return nil, fmt.Errorf("peer %s at %s: %w", srv.Name, srv.RPCAddr, err)
		}
		p := &peer{srv: srv, queue: make(chan *api.Envelope, peerQueueLen), conn: conn}
		t.peers[srv.Name] = p
		t.wg.Add(1)
		go t.pump(p)
	}
	return t, nil
}

func (t *transport) close() {
	t.wg.Wait()
	for _, p := range t.peers {
		_ = p.conn.Close()
	}
}

// Send implements replica.Transport for partition's messages.
func (t *transport) send(partition uint64, msgs []paxos.Message) {
	for _, m := range msgs {
		target, ok := t.s.serverByID(m.To)
		if !ok {
			continue
		}
		if target.Name == t.s.self.Name {
			if r := t.s.replica(partition); r != nil {
				m.Entries = append([]paxos.Entry(nil), m.Entries...)
				r.Step(m)
			}
			continue
		}
		p := t.peers[target.Name]
		env := &api.Envelope{Partition: partition, Msg: toWire(m)}
		select {
		case p.queue <- env:
		default:
			t.s.metrics.dropped.Add(1)
		}
	}
}

// pump drains one peer's queue into a stream, reopening it after errors with backoff. The
// backoff starts again after a stream that carried messages, and stays short: opening a stream
// while the connection is down fails at once without touching the network (the connection
// itself reconnects with api.DialOptions' backoff), and every moment the pump sleeps after the
// peer is back loses its lease renewals and votes.
func (t *transport) pump(p *peer) {
	defer t.wg.Done()
	const minBackoff, maxBackoff = 10 * time.Millisecond, 200 * time.Millisecond
	backoff := minBackoff
	for t.ctx.Err() == nil {
		sent, err := t.stream(p)
		if t.ctx.Err() != nil {
			return
		}
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			t.s.settingsRefusals.note("by "+p.srv.Name, func() {
				t.log.Error("a peer refuses this server's messages", "peer", p.srv.Name, "err", st.Message())
			})
		}
		t.log.Debug("peer stream ended", "peer", p.srv.Name, "err", err)
		if sent {
			backoff = minBackoff
		}
		// Drop what queued while the peer was unreachable: it is stale by now.
	drain:
		for {
			select {
			case <-p.queue:
			default:
				break drain
			}
		}
		select {
		case <-time.After(backoff):
		case <-t.ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// stream sends p's queue on one stream until it fails; sent reports whether any batch went.
func (t *transport) stream(p *peer) (sent bool, err error) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, settingsKey, protocolSettings(t.s.cl.Settings),
		serversKey, strings.Join(t.s.cl.ServerNames(), ","))
	st, err := api.NewPeerClient(p.conn).Send(ctx)
	if err != nil {
		return false, err
	}
	batch := &api.Batch{From: t.s.self.Name, Cluster: t.s.cl.Name}
	for {
		var env *api.Envelope
		select {
		case env = <-p.queue:
		case <-t.ctx.Done():
			_, _ = st.CloseAndRecv()
			return sent, t.ctx.Err()
		}
		batch.Envelopes = api.FillBatch(append(batch.Envelopes[:0], env), p.queue, maxBatchEnvelopes)
		if err := st.Send(batch); err != nil {
			if errors.Is(err, io.EOF) { // the peer ended the stream: its status says why
				_, err = st.CloseAndRecv()
			}
			return sent, err
		}
		sent = true
	}
}

// peerService serves the Peer gRPC service.
type peerService struct {
	api.UnimplementedPeerServer
	s *Server
}

func (ps peerService) Send(st grpc.ClientStreamingServer[api.Batch, api.BatchAck]) error {
	s := ps.s
	checked := false
	for {
		b, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st.SendAndClose(&api.BatchAck{})
			}
			return err
		}
		if b.Cluster != s.cl.Name {
			return fmt.Errorf("batch from cluster %q: this server belongs to cluster %q", b.Cluster, s.cl.Name)
		}
		if _, ok := s.cl.Server(b.From); !ok {
			return fmt.Errorf("batch from server %q: not in the cluster file", b.From)
		}
		if !checked { // the stream's metadata and sender do not change
			if err := s.checkPeerSettings(st.Context(), b.From); err != nil {
				return err
			}
			checked = true
		}
		for _, env := range b.Envelopes {
			if env.Msg == nil {
				continue
			}
			if r := s.replica(env.Partition); r != nil {
				r.Step(fromWire(env.Msg))
			}
		}
	}
}

func (ps peerService) FetchSnapshot(req *api.SnapshotRequest, st grpc.ServerStreamingServer[api.SnapshotChunk]) error {
	r := ps.s.replica(req.Partition)
	if r == nil {
		return fmt.Errorf("partition %d: no replica on server %s", req.Partition, ps.s.self.Name)
	}
	w := &chunkWriter{send: func(b []byte) error { return st.Send(&api.SnapshotChunk{Data: b}) }}
	if err := r.ExportSnapshot(st.Context(), w); err != nil {
		return err
	}
	return w.flush()
}

// chunkWriter buffers a byte stream into chunks of snapshotChunkBytes.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snapshotChunkBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == snapshotChunkBytes {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = make([]byte, 0, snapshotChunkBytes)
	return err
}

// FetchSnapshot implements replica.SnapshotSource over the Peer service.
func (t *transport) FetchSnapshot(ctx context.Context, partition uint64, from paxos.ID) (io.ReadCloser, error) {
	srv, ok := t.s.serverByID(from)
	if !ok {
		return nil, fmt.Errorf("snapshot of partition %d: replica %d is on no known server", partition, from)
	}
	p := t.peers[srv.Name]
	if p == nil {
		return nil, fmt.Errorf("snapshot of partition %d: server %s is this server", partition, srv.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := api.NewPeerClient(p.conn).FetchSnapshot(ctx, &api.SnapshotRequest{Partition: partition})
	if err != nil {
		cancel()
		return nil, err
	}
	return &chunkReader{recv: st.Recv, cancel: cancel}, nil
}

type chunkReader struct {
	recv   func() (*api.SnapshotChunk, error)
	cancel context.CancelFunc
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		c, err := r.recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		r.buf = c.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error { r.cancel(); return nil }
