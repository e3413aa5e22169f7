package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/paxos"
	"obkv/rootservice"
)

// UnsafeRecoverOp is the admin operation that forces one recovering replica out of recovery
// (obctl unsafe-recover). Unlike the others it is not the root service's: the server hosting
// the replica carries it out, since the group that stalled may be the meta partition itself.
const UnsafeRecoverOp = "unsafe-recover"

// unsafeRecoverArgs names the replica: a partition of a table (sys.__all_meta is the meta
// partition) and the server hosting it.
type unsafeRecoverArgs struct {
	Tenant    string `json:"tenant"`
	Table     string `json:"table"`
	Partition int    `json:"partition"`
	Server    string `json:"server"`
}

// unsafeRecover carries out UnsafeRecoverOp: on the named server, or forwarded to it.
func (s *Server) unsafeRecover(ctx context.Context, raw []byte) ([]byte, error) {
	var a unsafeRecoverArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "unsafe-recover: bad arguments: %v", err)
	}
	if a.Server == "" {
		return nil, status.Error(codes.InvalidArgument, "unsafe-recover: server: name the server hosting the replica")
	}
	if a.Server != s.self.Name {
		p, ok := s.tr.peers[a.Server]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "unsafe-recover: server %q is not in cluster %s", a.Server, s.cl.Name)
		}
		resp, err := api.NewAdminClient(p.conn).Execute(ctx, &api.AdminRequest{Op: UnsafeRecoverOp, ArgsJson: raw})
		if err != nil {
			return nil, err
		}
		return resp.ResultJson, nil
	}
	id, err := s.partitionID(ctx, a)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s.%s partition %d on %s", a.Tenant, a.Table, a.Partition, s.self.Name)
	r := s.replica(id)
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "unsafe-recover %s: the server holds no replica of it", name)
	}
	if err := r.ForceEndRecovery(ctx); err != nil {
		code := codes.FailedPrecondition
		if !errors.Is(err, paxos.ErrNotRecovering) && !errors.Is(err, paxos.ErrRecoveryLive) {
			code = codes.Unavailable
		}
		if errors.Is(err, paxos.ErrNotRecovering) {
			err = fmt.Errorf("%w (it is %s): nothing to do", err, r.Status().Role)
		}
		return nil, status.Errorf(code, "unsafe-recover %s: %v", name, err)
	}
	s.log.Warn("replica forced out of recovery by an operator (obctl unsafe-recover): writes that only replicas which lost their data held are gone",
		"tenant", a.Tenant, "table", a.Table, "partition", a.Partition, "id", id)
	// It leaves recovery at its next tick once every lease it granted before has run out
	// (paxos.Node.ForceEndRecovery): at most CampaignTicks+LeaseTicks after it started.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for r.Status().Recovering {
		select {
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "unsafe-recover %s: forced, but still recovering when the call ended: check obctl show replicas", name)
		case <-tick.C:
		}
	}
	st := r.Status()
	return json.Marshal(map[string]any{"tenant": a.Tenant, "table": a.Table, "partition": a.Partition, "server": s.self.Name,
		"role": st.Role.String(), "commit": st.Commit, "recovering": false})
}

// partitionID resolves a table's partition to its group's ID: the meta partition at once,
// any other through the root service.
func (s *Server) partitionID(ctx context.Context, a unsafeRecoverArgs) (uint64, error) {
	if a.Tenant == rootservice.SysTenant && a.Table == rootservice.MetaTable {
		if a.Partition != 0 {
			return 0, status.Errorf(codes.InvalidArgument, "unsafe-recover: partition %d of %s.%s: it has partition 0 only", a.Partition, a.Tenant, a.Table)
		}
		return rootservice.MetaPartition, nil
	}
	loc, err := kvService{s: s}.Locate(ctx, &api.LocateRequest{Tenant: a.Tenant, Table: a.Table})
	if status.Code(err) == codes.Unavailable {
		return 0, status.Errorf(codes.Unavailable, "unsafe-recover: locate %s.%s: %s (if the meta partition stalled too, recover %s.%s first)",
			a.Tenant, a.Table, status.Convert(err).Message(), rootservice.SysTenant, rootservice.MetaTable)
	}
	if err != nil {
		return 0, err
	}
	if a.Partition < 0 || a.Partition >= int(loc.Partitions) {
		return 0, status.Errorf(codes.InvalidArgument, "unsafe-recover: partition %d of %s.%s: the table has partitions 0..%d", a.Partition, a.Tenant, a.Table, loc.Partitions-1)
	}
	return rootservice.PartitionID(loc.TableId, a.Partition), nil
}
