// Package fakekv is an in-process fake of obkv's KV service for the client's tests and
// examples: several gRPC servers on 127.0.0.1 that pretend to host partition replicas with a
// role, a type, a zone and a readable version, and that can answer "not leader", "replica not
// readable", NotFound, or be down, exactly as the contract in client/doc.go describes.
//
// The fake keeps one multi-version copy of each partition's data; a replica's view of it is
// the data at its readable version. Time is a manual clock (Now, Advance) so tests never
// sleep: versions are its microseconds, as the real hybrid clock's are.
package fakekv

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"obkv/api"
	"obkv/tenant"
)

// Replica is one replica of a partition as a test lays it out.
type Replica struct {
	Server string
	Type   string // FULL, LOGONLY or READONLY
	Leader bool
	// ReadableVersion pins the replica's readable version; 0 means caught up (the clock).
	ReadableVersion uint64
}

type cell struct {
	version uint64
	value   []byte
	deleted bool
}

type partition struct {
	replicas []Replica
	data     map[string][]cell // key -> versions, ascending
}

// Cluster is a set of fake servers sharing one clock and one catalog.
type Cluster struct {
	// ScanPageMax is the server maximum rows of one Scan page (limit 0 or above it).
	ScanPageMax int

	mu      sync.Mutex
	now     time.Time
	last    uint64
	servers map[string]*Server
	tables  map[[2]string][]*partition
}

// NewCluster returns an empty cluster whose clock reads start.
func NewCluster(start time.Time) *Cluster {
	return &Cluster{ScanPageMax: 1000, now: start, servers: map[string]*Server{}, tables: map[[2]string][]*partition{}}
}

// Now is the cluster's clock; pass it to client.WithClock.
func (c *Cluster) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Cluster) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Server is one fake observer.
type Server struct {
	Name, Zone, Region string
	c                  *Cluster
	addr               string
	gs                 *grpc.Server
	down               bool
	delay              time.Duration
	inject             map[string][]injected
	calls              map[string]int
	noStream           bool
	maxStreamRequest   int // bytes of the largest StreamRequest received
}

type injected struct {
	err   error
	apply bool
	stop  bool // take the server down after applying, before answering
}

// AddServer starts a server listening on 127.0.0.1 (a free port).
func (c *Cluster) AddServer(name, zone, region string) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, Zone: zone, Region: region, c: c, addr: lis.Addr().String(), inject: map[string][]injected{}, calls: map[string]int{}}
	c.mu.Lock()
	c.servers[name] = s
	c.mu.Unlock()
	s.serve(lis)
	return s, nil
}

func (s *Server) serve(lis net.Listener) {
	gs := grpc.NewServer(api.ServerOptions()...)
	api.RegisterKVServer(gs, &kvService{s: s})
	s.c.mu.Lock()
	s.gs, s.down = gs, false
	s.c.mu.Unlock()
	go func() { _ = gs.Serve(lis) }()
}

// Addr is the server's rpc address.
func (s *Server) Addr() string { return s.addr }

// Stop takes the server down: its port refuses connections and Locate reports it not alive.
func (s *Server) Stop() {
	s.c.mu.Lock()
	gs := s.gs
	s.down = true
	s.c.mu.Unlock()
	gs.Stop()
}

// Restart brings a stopped server back on the same address.
func (s *Server) Restart() error {
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.serve(lis)
	return nil
}

// Fail makes the next call of method ("Write", "Get", "Scan", "Locate") return err without
// doing anything; calls queue up.
func (s *Server) Fail(method string, err error) {
	s.c.mu.Lock()
	s.inject[method] = append(s.inject[method], injected{err: err})
	s.c.mu.Unlock()
}

// FailAfterApply makes the next Write apply its batch and then return err (an ambiguous
// outcome, as a leader that loses its connection after committing).
func (s *Server) FailAfterApply(err error) {
	s.c.mu.Lock()
	s.inject["Write"] = append(s.inject["Write"], injected{err: err, apply: true})
	s.c.mu.Unlock()
}

// StopAfterApply makes the next Write apply its batch and then take the server down before it
// answers (a leader that dies after committing: the client cannot know the outcome).
func (s *Server) StopAfterApply() {
	s.c.mu.Lock()
	s.inject["Write"] = append(s.inject["Write"], injected{apply: true, stop: true})
	s.c.mu.Unlock()
}

// DisableStream makes KV.Stream answer Unimplemented, as a server from before it existed.
func (s *Server) DisableStream() {
	s.c.mu.Lock()
	s.noStream = true
	s.c.mu.Unlock()
}

// SetDelay makes every call advance the cluster's clock by d, so a client on the cluster's clock
// measures d of latency without anything sleeping.
func (s *Server) SetDelay(d time.Duration) {
	s.c.mu.Lock()
	s.delay = d
	s.c.mu.Unlock()
}

// Calls is how many calls of method the server has received ("Stream": streams opened; the
// calls they carry count under their own methods).
func (s *Server) Calls(method string) int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.calls[method]
}

// MaxStreamRequestBytes is the encoded size of the largest StreamRequest the server received.
func (s *Server) MaxStreamRequestBytes() int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.maxStreamRequest
}

// Close stops every server.
func (c *Cluster) Close() {
	c.mu.Lock()
	var gss []*grpc.Server
	for _, s := range c.servers {
		gss = append(gss, s.gs)
	}
	c.mu.Unlock()
	for _, gs := range gss {
		gs.Stop()
	}
}

// CreateTable creates tenant/table with n partitions, each with a copy of replicas.
func (c *Cluster) CreateTable(tenantName, table string, n int, replicas []Replica) {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := make([]*partition, n)
	for i := range parts {
		parts[i] = &partition{replicas: slices.Clone(replicas), data: map[string][]cell{}}
	}
	c.tables[[2]string{tenantName, table}] = parts
}

// SetLeader makes server the leader of partition p (every partition when p < 0).
func (c *Cluster) SetLeader(tenantName, table string, p int, server string) {
	c.each(tenantName, table, p, func(r *Replica) { r.Leader = r.Server == server })
}

// SetReplicas replaces partition p's replicas (a replica moved, a type changed).
func (c *Cluster) SetReplicas(tenantName, table string, p int, replicas []Replica) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables[[2]string{tenantName, table}][p].replicas = slices.Clone(replicas)
}

// SetReadable pins server's readable version of partition p (every partition when p < 0);
// 0 makes it caught up.
func (c *Cluster) SetReadable(tenantName, table string, p int, server string, v uint64) {
	c.each(tenantName, table, p, func(r *Replica) {
		if r.Server == server {
			r.ReadableVersion = v
		}
	})
}

func (c *Cluster) each(tenantName, table string, p int, f func(*Replica)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, part := range c.tables[[2]string{tenantName, table}] {
		if p < 0 || p == i {
			for j := range part.replicas {
				f(&part.replicas[j])
			}
		}
	}
}

// Version is the clock in microseconds: what a caught-up replica can read.
func (c *Cluster) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headLocked()
}

func (c *Cluster) headLocked() uint64 { return max(uint64(c.now.UnixMicro()), c.last) }

type kvService struct {
	api.UnimplementedKVServer
	s *Server
}

// enter counts the call, applies the delay and pops an injected failure. Caller holds c.mu.
func (s *Server) enterLocked(method string) (injected, bool) {
	s.calls[method]++
	s.c.now = s.c.now.Add(s.delay)
	q := s.inject[method]
	if len(q) == 0 {
		return injected{}, false
	}
	s.inject[method] = q[1:]
	return q[0], true
}

// replicaLocked finds the table's partition p and this server's replica of it.
func (s *Server) replicaLocked(tenantName, table string, p uint32) (*partition, *Replica, error) {
	parts, ok := s.c.tables[[2]string{tenantName, table}]
	if !ok {
		return nil, nil, status.Errorf(codes.NotFound, "table %s/%s not found", tenantName, table)
	}
	if int(p) >= len(parts) {
		return nil, nil, status.Errorf(codes.NotFound, "table %s/%s has no partition %d", tenantName, table, p)
	}
	part := parts[p]
	for i := range part.replicas {
		if part.replicas[i].Server == s.Name {
			return part, &part.replicas[i], nil
		}
	}
	return nil, nil, status.Errorf(codes.NotFound, "partition %d of %s/%s has no replica on server %s", p, tenantName, table, s.Name)
}

func (s *Server) readableLocked(r *Replica) uint64 {
	if r.ReadableVersion != 0 {
		return r.ReadableVersion
	}
	return s.c.headLocked()
}

// readAtLocked checks a read against the replica and returns the version to read at.
func (s *Server) readAtLocked(part *partition, r *Replica, o *api.ReadOptions) (uint64, *api.ReadMeta, error) {
	role := "FOLLOWER"
	if r.Leader {
		role = "LEADER"
	}
	rv := s.readableLocked(r)
	meta := &api.ReadMeta{ServedBy: &api.ServedBy{Server: s.Name, Zone: s.Zone, Type: r.Type, Role: role}, ReadableVersion: rv}
	if r.Type == "LOGONLY" {
		return 0, nil, status.Error(codes.FailedPrecondition, "replica not readable: a LOGONLY replica has no data")
	}
	nowUS := uint64(s.c.now.UnixMicro())
	switch o.GetConsistency() {
	case "", "strong":
		if r.Type == "READONLY" {
			return 0, nil, status.Error(codes.FailedPrecondition, "replica not readable: READONLY replicas serve weak reads only")
		}
		hasLeader := slices.ContainsFunc(part.replicas, func(x Replica) bool { return x.Leader })
		if !hasLeader {
			// As server/kv.go answers a strong read that no serving leader confirmed.
			return 0, nil, status.Errorf(codes.FailedPrecondition, "not leader: no serving leader confirmed a read index for server %s (knows no leader)", s.Name)
		}
		meta.ReadVersion = s.c.headLocked()
		return meta.ReadVersion, meta, nil
	case "weak":
		at := rv
		if sv := o.GetSnapshotVersion(); sv > 0 {
			if sv > rv {
				return 0, nil, status.Errorf(codes.FailedPrecondition, "replica not readable: readable version %d is below snapshot version %d", rv, sv)
			}
			at = sv
		}
		if ms := o.GetMaxStalenessMs(); ms > 0 && nowUS > rv && nowUS-rv > uint64(ms)*1000 {
			return 0, nil, status.Errorf(codes.FailedPrecondition, "replica not readable: readable version is %dms old, above max_staleness %dms", (nowUS-rv)/1000, ms)
		}
		meta.ReadVersion = at
		if nowUS > at {
			meta.StalenessMs = int64((nowUS - at) / 1000)
		}
		return at, meta, nil
	}
	return 0, nil, status.Errorf(codes.InvalidArgument, "consistency %q: not strong or weak", o.GetConsistency())
}

func visible(cells []cell, at uint64) ([]byte, bool) {
	for i := len(cells) - 1; i >= 0; i-- {
		if cells[i].version <= at {
			return cells[i].value, !cells[i].deleted
		}
	}
	return nil, false
}

func (k *kvService) Get(ctx context.Context, req *api.GetRequest) (*api.GetResponse, error) {
	s := k.s
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if inj, ok := s.enterLocked("Get"); ok {
		return nil, inj.err
	}
	part, r, err := s.replicaLocked(req.GetTenant(), req.GetTable(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	at, meta, err := s.readAtLocked(part, r, req.GetOptions())
	if err != nil {
		return nil, err
	}
	v, found := visible(part.data[string(req.GetKey())], at)
	return &api.GetResponse{Found: found, Value: v, Meta: meta}, nil
}

func (k *kvService) Scan(ctx context.Context, req *api.ScanRequest) (*api.ScanResponse, error) {
	s := k.s
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if inj, ok := s.enterLocked("Scan"); ok {
		return nil, inj.err
	}
	part, r, err := s.replicaLocked(req.GetTenant(), req.GetTable(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	at, meta, err := s.readAtLocked(part, r, req.GetOptions())
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(part.data))
	for key := range part.data {
		if key >= string(req.GetStart()) && (len(req.GetEnd()) == 0 || key < string(req.GetEnd())) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	limit := int(req.GetLimit())
	if limit == 0 || limit > s.c.ScanPageMax {
		limit = s.c.ScanPageMax
	}
	resp := &api.ScanResponse{Meta: meta}
	for _, key := range keys {
		v, ok := visible(part.data[key], at)
		if !ok {
			continue
		}
		if len(resp.Rows) == limit {
			resp.More = true
			break
		}
		resp.Rows = append(resp.Rows, &api.KeyValue{Key: []byte(key), Value: v})
	}
	return resp, nil
}

func (k *kvService) Write(ctx context.Context, req *api.WriteRequest) (*api.WriteResponse, error) {
	s := k.s
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	inj, injected := s.enterLocked("Write")
	if injected && !inj.apply {
		return nil, inj.err
	}
	part, r, err := s.replicaLocked(req.GetTenant(), req.GetTable(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	if !r.Leader {
		for _, x := range part.replicas {
			if x.Leader {
				return nil, status.Errorf(codes.FailedPrecondition, "not leader: leader is %s", x.Server)
			}
		}
		return nil, status.Error(codes.FailedPrecondition, "not leader: no leader known")
	}
	n := len(s.c.tables[[2]string{req.GetTenant(), req.GetTable()}])
	for _, op := range req.GetOps() {
		if tenant.PartitionOf(op.GetKey(), n) != int(req.GetPartition()) {
			return nil, status.Errorf(codes.InvalidArgument, "key %q is not in partition %d", op.GetKey(), req.GetPartition())
		}
	}
	v := max(uint64(s.c.now.UnixMicro()), s.c.last+1)
	s.c.last = v
	for _, op := range req.GetOps() {
		key := string(op.GetKey())
		part.data[key] = append(part.data[key], cell{version: v, value: op.GetValue(), deleted: op.GetKind() == 2})
	}
	if injected && inj.stop {
		s.down = true
		s.gs.Stop() // closes every connection; does not wait for handlers
		return nil, status.Error(codes.Unavailable, "server stopped")
	}
	if injected {
		return nil, inj.err
	}
	return &api.WriteResponse{Version: v, ServedBy: &api.ServedBy{Server: s.Name, Zone: s.Zone, Type: r.Type, Role: "LEADER"}}, nil
}

// Stream serves Write and Get over one stream, as the observer does (api.ServeStream), or
// answers Unimplemented after DisableStream.
func (k *kvService) Stream(st grpc.BidiStreamingServer[api.StreamRequest, api.StreamResponse]) error {
	k.s.c.mu.Lock()
	k.s.calls["Stream"]++
	off := k.s.noStream
	k.s.c.mu.Unlock()
	if off {
		return status.Error(codes.Unimplemented, "unknown method Stream for service obkv.KV")
	}
	return api.ServeStream(measuredStream{st, k.s}, k, func(f func()) { go f() })
}

// measuredStream notes the size of every StreamRequest received.
type measuredStream struct {
	grpc.BidiStreamingServer[api.StreamRequest, api.StreamResponse]
	s *Server
}

func (m measuredStream) Recv() (*api.StreamRequest, error) {
	req, err := m.BidiStreamingServer.Recv()
	if err == nil {
		n := proto.Size(req)
		m.s.c.mu.Lock()
		m.s.maxStreamRequest = max(m.s.maxStreamRequest, n)
		m.s.c.mu.Unlock()
	}
	return req, err
}

func (k *kvService) Locate(ctx context.Context, req *api.LocateRequest) (*api.LocateResponse, error) {
	s := k.s
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if inj, ok := s.enterLocked("Locate"); ok {
		return nil, inj.err
	}
	parts, ok := s.c.tables[[2]string{req.GetTenant(), req.GetTable()}]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "table %s/%s not found", req.GetTenant(), req.GetTable())
	}
	resp := &api.LocateResponse{Partitions: uint32(len(parts))}
	for i, part := range parts {
		pl := &api.PartitionLocation{Index: uint32(i), Id: uint64(i + 1)}
		for j := range part.replicas {
			r := &part.replicas[j]
			srv := s.c.servers[r.Server]
			if srv == nil {
				continue
			}
			pl.Replicas = append(pl.Replicas, &api.ReplicaLocation{
				Server: r.Server, Zone: srv.Zone, Region: srv.Region, RpcAddr: srv.addr, Type: r.Type,
				Leader: r.Leader, Alive: !srv.down, ReadableVersion: srv.readableLocked(r),
			})
		}
		resp.Locations = append(resp.Locations, pl)
	}
	return resp, nil
}

// String describes the server for test messages.
func (s *Server) String() string {
	return fmt.Sprintf("%s(%s/%s %s)", s.Name, s.Region, s.Zone, s.addr)
}
