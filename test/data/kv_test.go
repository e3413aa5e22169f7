//go:build unix

package data

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/tenant"
	"obkv/test/internal/realcluster"
)

// rpcTimeout bounds one data RPC of the raw-API tests: long enough for a write under a leader
// change, short enough that a dead server costs a client little of the run.
const rpcTimeout = 2 * time.Second

// kvConns are gRPC connections to every server of a test cluster, for tests that must choose
// the exact replica a request goes to (the client library chooses by preference).
type kvConns struct {
	c     *testCluster
	kv    map[string]api.KVClient // by server name
	names []string
}

// dialKV connects to every server (lazily: a down server fails its calls, not the dial) and
// closes the connections at cleanup.
func (c *testCluster) dialKV() *kvConns {
	c.t.Helper()
	k := &kvConns{c: c, kv: map[string]api.KVClient{}}
	for _, s := range c.Servers {
		conn, err := grpc.NewClient(s.RPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			c.t.Fatalf("dial %s at %s: %v", s.Name, s.RPCAddr, err)
		}
		c.t.Cleanup(func() { _ = conn.Close() })
		k.kv[s.Name] = api.NewKVClient(conn)
		k.names = append(k.names, s.Name)
	}
	return k
}

// locate asks the servers in order for the table's locations; the first answer wins.
func (k *kvConns) locate(ctx context.Context, tenantName, table string) (*api.LocateResponse, error) {
	var errs []string
	for _, n := range k.names {
		cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		resp, err := k.kv[n].Locate(cctx, &api.LocateRequest{Tenant: tenantName, Table: table})
		cancel()
		if err == nil {
			return resp, nil
		}
		errs = append(errs, n+": "+err.Error())
	}
	return nil, fmt.Errorf("locate %s.%s: %s", tenantName, table, strings.Join(errs, "; "))
}

// routes is a shared, refreshable view of where a table's leaders are.
type routes struct {
	k             *kvConns
	tenant, table string

	mu      sync.Mutex
	leader  map[uint32]string   // partition -> leader server
	servers map[uint32][]string // partition -> servers with a FULL replica
	parts   int
	at      time.Time
}

func newRoutes(ctx context.Context, t *testing.T, k *kvConns, tenantName, table string) *routes {
	t.Helper()
	r := &routes{k: k, tenant: tenantName, table: table}
	if err := r.refresh(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// refresh reloads the locations unless they were loaded after since (so that many clients
// that saw the same stale leader refresh once).
func (r *routes) refresh(ctx context.Context, since time.Time) error {
	r.mu.Lock()
	if r.at.After(since) && !since.IsZero() {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	resp, err := r.k.locate(ctx, r.tenant, r.table)
	if err != nil {
		return err
	}
	leader, servers := map[uint32]string{}, map[uint32][]string{}
	for _, l := range resp.Locations {
		for _, rep := range l.Replicas {
			if rep.Type != "FULL" {
				continue
			}
			servers[l.Index] = append(servers[l.Index], rep.Server)
			if rep.Leader && rep.Alive {
				leader[l.Index] = rep.Server
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leader, r.servers, r.parts, r.at = leader, servers, int(resp.Partitions), time.Now()
	return nil
}

// route returns the partition of key, its leader as last located ("" if none), a FULL
// follower of it, and when the locations were loaded.
func (r *routes) route(key string) (uint32, string, string, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := uint32(tenant.PartitionOf([]byte(key), r.parts))
	leader, follower := r.leader[p], ""
	for _, s := range r.servers[p] {
		if s != leader {
			follower = s
			break
		}
	}
	return p, leader, follower, r.at
}

func (r *routes) partitionOf(key string) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return uint32(tenant.PartitionOf([]byte(key), r.parts))
}

// refused reports whether a write error proves the write was not applied: the server refused
// it before proposing it (not leader), it was proposed and not chosen (aborted), or it never
// left this process (gRPC could not connect: the server is down). Every other error, a
// connection lost mid-call included, leaves the outcome unknown.
func refused(err error) bool {
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.Aborted, codes.InvalidArgument, codes.NotFound:
		return true
	case codes.Unavailable:
		return strings.Contains(err.Error(), "while dialing")
	}
	return false
}

// waitLeaders waits until each of the parts partitions of tenant.table has one leader, on a
// server ok accepts, and returns them by partition.
func (c *testCluster) waitLeaders(ctx context.Context, tenantName, table string, parts int, what string, ok func(realcluster.ReplicaRow) bool) map[int]realcluster.ReplicaRow {
	c.t.Helper()
	var got map[int]realcluster.ReplicaRow
	c.WaitFor(ctx, fmt.Sprintf("the leaders of %s.%s %s", tenantName, table, what), func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, tenantName)
		if err != nil {
			return false, err.Error()
		}
		ls, msg := realcluster.Leaders(rows, table, parts)
		if msg != "" {
			return false, msg
		}
		for _, r := range ls {
			if !ok(r) {
				return false, realcluster.Describe(rows, table)
			}
		}
		got = ls
		return true, ""
	})
	return got
}

// inZones accepts a leader in one of zones.
func inZones(zones ...string) func(realcluster.ReplicaRow) bool {
	return func(r realcluster.ReplicaRow) bool { return slices.Contains(zones, r.Zone) }
}

// percentile returns the p-th percentile (0..100, nearest rank) of xs, which it sorts.
func percentile[T int64 | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	i := int(p/100*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
