package server

import (
	"context"
	"errors"
	"fmt"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/paxos"
	"obkv/replica"
	"obkv/rootservice"
	"obkv/sstable"
	"obkv/tenant"
)

// Limits of the data API.
const (
	// maxScanRows bounds one Scan response.
	maxScanRows = 10000
	// maxMaxStaleness bounds max_staleness_ms (a day): larger is a mistake, not a policy.
	maxMaxStaleness = 24 * 3600 * 1000
)

// kvService serves the KV gRPC service: reads and writes on this server's replicas.
type kvService struct {
	api.UnimplementedKVServer
	s *Server
}

func notReadable(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, "replica not readable: "+format, args...)
}

// route finds this server's replica of the request's partition after checking the table and
// the partition index.
func (k kvService) route(tenantName, table string, partition uint32) (*replica.Replica, rootservice.TableRef, error) {
	s := k.s
	if err := checkNames(tenantName, table); err != nil {
		return nil, rootservice.TableRef{}, err
	}
	s.mu.RLock()
	ref, ok := s.tables[tenant.TableKey(tenantName, table)]
	s.mu.RUnlock()
	if !ok {
		return nil, ref, status.Errorf(codes.NotFound, "table %s.%s is unknown to server %s (it does not exist, or is not created yet)", quoteName(tenantName), quoteName(table), s.self.Name)
	}
	if int(partition) >= ref.Partitions {
		return nil, ref, status.Errorf(codes.InvalidArgument, "partition %d of %s.%s: the table has partitions 0..%d", partition, tenantName, table, ref.Partitions-1)
	}
	r := s.replica(rootservice.PartitionID(ref.ID, int(partition)))
	if r == nil {
		return nil, ref, status.Errorf(codes.NotFound, "partition %d of %s.%s has no replica on server %s", partition, tenantName, table, s.self.Name)
	}
	return r, ref, nil
}

func (k kvService) servedBy(r *replica.Replica) *api.ServedBy {
	st := r.Status()
	role := "FOLLOWER"
	if st.Serving {
		role = "LEADER"
	}
	return &api.ServedBy{Server: k.s.self.Name, Zone: k.s.self.Zone, Type: st.Type.String(), Role: role}
}

func (k kvService) leaderHint(r *replica.Replica) string {
	// A leader whose lease lapsed still names itself: no use to a client that it just refused.
	if st := r.Status(); st.Leader != 0 && st.Leader != st.ID {
		if srv, ok := k.s.serverByID(st.Leader); ok {
			return " (leader is " + srv.Name + ")"
		}
	}
	return ""
}

func (k kvService) Write(ctx context.Context, req *api.WriteRequest) (*api.WriteResponse, error) {
	r, ref, err := k.route(req.Tenant, req.Table, req.Partition)
	if err != nil {
		return nil, err
	}
	// Count, kinds and key sizes first: they bound what the partition check hashes and quotes.
	if n := len(req.Ops); n == 0 || n > replica.MaxOpsPerBatch {
		return nil, status.Errorf(codes.InvalidArgument, "ops: %d operations: want 1..%d", n, replica.MaxOpsPerBatch)
	}
	b := replica.Batch{Ops: make([]replica.Op, len(req.Ops))}
	for i, op := range req.Ops {
		if op.Kind != uint32(replica.OpPut) && op.Kind != uint32(replica.OpDelete) {
			return nil, status.Errorf(codes.InvalidArgument, "operation %d: kind %d: want 1 (put) or 2 (delete)", i, op.Kind)
		}
		if len(op.Key) == 0 || len(op.Key) > replica.MaxKeyBytes {
			return nil, status.Errorf(codes.InvalidArgument, "operation %d: key of %d bytes: want 1..%d", i, len(op.Key), replica.MaxKeyBytes)
		}
		if p := tenant.PartitionOf(op.Key, ref.Partitions); p != int(req.Partition) {
			return nil, status.Errorf(codes.InvalidArgument, "operation %d: key %s belongs to partition %d, not %d: a batch stays within one partition",
				i, quoteKey(op.Key), p, req.Partition)
		}
		b.Ops[i] = replica.Op{Kind: replica.OpKind(op.Kind), Key: op.Key, Value: op.Value}
	}
	if err := b.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	v, err := r.Write(ctx, b)
	switch {
	case err == nil:
		return &api.WriteResponse{Version: v, ServedBy: k.servedBy(r)}, nil
	case errors.Is(err, replica.ErrNotLeader):
		return nil, status.Errorf(codes.FailedPrecondition, "not leader: server %s does not lead partition %d of %s.%s%s", k.s.self.Name, req.Partition, req.Tenant, req.Table, k.leaderHint(r))
	case errors.Is(err, replica.ErrNotChosen):
		return nil, status.Errorf(codes.Aborted, "write not applied: %v", err)
	case errors.Is(err, replica.ErrOutcomeUnknown):
		return nil, status.Errorf(codes.Unknown, "write outcome unknown: %v", err)
	case errors.Is(err, replica.ErrBadBatch):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, replica.ErrThrottled):
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	return nil, status.Errorf(codes.Unknown, "write outcome unknown: %v", err)
}

// readAt checks the read options against this replica and returns the version to read at and
// the read metadata.
func (k kvService) readAt(ctx context.Context, r *replica.Replica, o *api.ReadOptions) (uint64, *api.ReadMeta, error) {
	if o == nil {
		o = &api.ReadOptions{}
	}
	st := r.Status()
	meta := &api.ReadMeta{ServedBy: k.servedBy(r), ReadableVersion: st.ReadableVersion}
	if st.Type == paxos.LogOnly || r.Type() == paxos.LogOnly {
		return 0, nil, notReadable("server %s holds a LOGONLY replica, which keeps no data", k.s.self.Name)
	}
	if o.MaxStalenessMs < 0 || o.MaxStalenessMs > maxMaxStaleness {
		return 0, nil, status.Errorf(codes.InvalidArgument, "max_staleness_ms %d: must be between 0 and %d", o.MaxStalenessMs, maxMaxStaleness)
	}
	switch o.Consistency {
	case "", "strong":
		if o.SnapshotVersion != 0 {
			return 0, nil, status.Errorf(codes.InvalidArgument, "snapshot_version %d: only weak reads take a snapshot version", o.SnapshotVersion)
		}
		if st.Type == paxos.ReadOnly {
			return 0, nil, notReadable("server %s holds a READONLY replica, which serves only weak reads", k.s.self.Name)
		}
		if err := r.ReadIndex(ctx); err != nil {
			if errors.Is(err, replica.ErrNotLeader) {
				// No serving leader now (an election, a handover, a lapsed lease, servers just
				// started): "not leader", as a write is told, so that the client waits for the
				// election or goes to the leader named, rather than fail the read.
				return 0, nil, status.Errorf(codes.FailedPrecondition, "not leader: no serving leader confirmed a read index for server %s (%v)%s",
					k.s.self.Name, err, k.leaderHint(r))
			}
			if ctx.Err() != nil { // DeadlineExceeded or Canceled, not a server fault
				return 0, nil, status.Errorf(status.FromContextError(ctx.Err()).Code(), "strong read: no read index confirmed on server %s before the call ended: %v", k.s.self.Name, ctx.Err())
			}
			return 0, nil, status.Errorf(codes.Unavailable, "read index: %v", err)
		}
		meta.ReadVersion = r.MaxVersion()
		return math.MaxUint64, meta, nil
	case "weak":
		v := st.ReadableVersion
		if v == 0 {
			return 0, nil, notReadable("server %s has no readable version yet", k.s.self.Name)
		}
		if o.SnapshotVersion != 0 {
			if o.SnapshotVersion > v {
				return 0, nil, notReadable("snapshot version %d is above server %s's readable version %d", o.SnapshotVersion, k.s.self.Name, v)
			}
			v = o.SnapshotVersion
		}
		stale := k.s.now().UnixMicro() - int64(v)
		meta.ReadVersion = v
		meta.StalenessMs = max(stale/1000, 0)
		if o.SnapshotVersion != 0 && o.MaxStalenessMs > 0 && meta.StalenessMs > o.MaxStalenessMs {
			// The request's own version is too old, whatever this replica has. "Not readable"
			// still: a weak scan's version ages past its bound while its pages are read.
			return 0, nil, notReadable("snapshot version %d is %d ms old, over max_staleness %d ms (a read at a snapshot version is as stale as the version)",
				o.SnapshotVersion, meta.StalenessMs, o.MaxStalenessMs)
		}
		if o.MaxStalenessMs > 0 && meta.StalenessMs > o.MaxStalenessMs {
			return 0, nil, notReadable("server %s is %d ms stale, over max_staleness %d ms", k.s.self.Name, meta.StalenessMs, o.MaxStalenessMs)
		}
		return v, meta, nil
	}
	return 0, nil, status.Errorf(codes.InvalidArgument, "consistency %q: want strong or weak", o.Consistency)
}

func readError(err error) error {
	if errors.Is(err, sstable.ErrVersionTooOld) {
		return notReadable("%v", err)
	}
	if errors.Is(err, replica.ErrNoData) || errors.Is(err, sstable.ErrImporting) {
		return notReadable("%v", err)
	}
	return status.Errorf(codes.Internal, "read: %v", err)
}

func (k kvService) Get(ctx context.Context, req *api.GetRequest) (*api.GetResponse, error) {
	if len(req.Key) == 0 || len(req.Key) > replica.MaxKeyBytes {
		return nil, status.Errorf(codes.InvalidArgument, "key of %d bytes: want 1..%d", len(req.Key), replica.MaxKeyBytes)
	}
	r, ref, err := k.route(req.Tenant, req.Table, req.Partition)
	if err != nil {
		return nil, err
	}
	if p := tenant.PartitionOf(req.Key, ref.Partitions); p != int(req.Partition) {
		return nil, status.Errorf(codes.InvalidArgument, "key %s belongs to partition %d, not %d", quoteKey(req.Key), p, req.Partition)
	}
	v, meta, err := k.readAt(ctx, r, req.Options)
	if err != nil {
		return nil, err
	}
	val, found, err := r.Get(req.Key, v)
	if err != nil {
		return nil, readError(err)
	}
	return &api.GetResponse{Found: found, Value: val, Meta: meta}, nil
}

func (k kvService) Scan(ctx context.Context, req *api.ScanRequest) (*api.ScanResponse, error) {
	r, _, err := k.route(req.Tenant, req.Table, req.Partition)
	if err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > maxScanRows {
		limit = maxScanRows
	}
	v, meta, err := k.readAt(ctx, r, req.Options)
	if err != nil {
		return nil, err
	}
	resp := &api.ScanResponse{Meta: meta}
	size := 0
	err = r.Scan(ctx, req.Start, req.End, v, func(key, val []byte) bool {
		// A page ends at limit rows or at api.BatchBytes of them: rows of large values would
		// otherwise make a response over the message limit, which no client could page past.
		if len(resp.Rows) == limit || size >= api.BatchBytes {
			resp.More = true
			return false
		}
		size += len(key) + len(val)
		resp.Rows = append(resp.Rows, &api.KeyValue{Key: append([]byte(nil), key...), Value: append([]byte(nil), val...)})
		return true
	})
	if err != nil {
		return nil, readError(err)
	}
	return resp, nil
}

func (k kvService) Locate(ctx context.Context, req *api.LocateRequest) (*api.LocateResponse, error) {
	s := k.s
	if err := checkNames(req.Tenant, req.Table); err != nil {
		return nil, err
	}
	rs := s.rootService()
	if rs == nil {
		name, err := s.findRootService(ctx)
		if err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return api.NewKVClient(s.tr.peers[name].conn).Locate(ctx, req)
	}
	ref, locs, err := rs.Locate(ctx, req.Tenant, req.Table)
	if err != nil {
		if errors.Is(err, tenant.ErrNotFound) {
			return nil, status.Error(codes.NotFound, err.Error())
		}
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp := &api.LocateResponse{TableId: ref.ID, Partitions: uint32(ref.Partitions)}
	for _, l := range locs {
		pl := &api.PartitionLocation{Index: uint32(l.Index), Id: l.ID}
		for _, r := range l.Replicas {
			pl.Replicas = append(pl.Replicas, &api.ReplicaLocation{Server: r.Server, Zone: r.Zone, Region: r.Region, RpcAddr: r.RPCAddr,
				Type: r.Type.String(), Leader: r.Leader, Alive: r.Alive, ReadableVersion: r.Readable})
		}
		resp.Locations = append(resp.Locations, pl)
	}
	return resp, nil
}

// checkNames refuses a request's tenant or table name that is empty or longer than any name
// (InvalidArgument naming the field), before it is looked up or echoed.
func checkNames(tenantName, table string) error {
	for _, n := range []struct{ field, name string }{{"tenant", tenantName}, {"table", table}} {
		switch {
		case n.name == "":
			return status.Errorf(codes.InvalidArgument, "%s: empty: a request names its %s", n.field, n.field)
		case len(n.name) > tenant.MaxNameLen:
			return status.Errorf(codes.InvalidArgument, "%s %s: a name of %d bytes, over the limit of %d", n.field, quoteKey([]byte(n.name)), len(n.name), tenant.MaxNameLen)
		}
	}
	return nil
}

// quoteKey renders a key for an error message, cut to 64 bytes: errors must not echo what a
// client sent whole (a 16 MiB key made an error too large for the client's connection).
func quoteKey(key []byte) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q...(%d bytes)", key[:max], len(key))
	}
	return fmt.Sprintf("%q", key)
}

// quoteName renders a tenant or table name as it is when it is a plain name, quoted otherwise.
func quoteName(name string) string {
	for _, c := range name {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return quoteKey([]byte(name))
		}
	}
	return name
}
