package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
)

// replica is one replica of one partition as Locate reported it.
type replica struct {
	server, zone, region, addr, typ string
	leader, alive                   bool
}

// tableLoc is the cached location of one table. It is never mutated once stored: a refresh
// stores a new one.
type tableLoc struct {
	tenant, table string
	partitions    int
	parts         [][]replica // [partition] -> replicas
	fetchedAt     time.Time
}

type tableKey struct{ tenant, table string }

// replicaKey names one replica: the server that hosts it and its partition.
type replicaKey struct {
	tenant, table string
	partition     int
	server        string
}

// versionInfo is what the client last learned of a replica's readable version.
type versionInfo struct {
	// rv is the highest readable version seen. Closed versions never go back (DESIGN.md,
	// invariant 5), so a replica can always serve a snapshot read at rv or below.
	rv uint64
	// lag is how far rv was behind the clock when it was seen; the client assumes a replica
	// keeps its lag, as MongoDB estimates a secondary's staleness. Invariant: lag >= 0.
	lag time.Duration
	// refusedAt: when the replica last answered "replica not readable"; for refusalMemory after
	// that it counts as too stale for a bounded read, unless a newer readable version is seen.
	// It expires on its own because a demoted replica is no longer read from, so nothing else
	// would tell the client it recovered until the next Locate.
	refusedAt time.Time
}

// refusalMemory is how long a refusal demotes a replica.
const refusalMemory = time.Second

func (v versionInfo) refused(now time.Time) bool {
	return !v.refusedAt.IsZero() && now.Sub(v.refusedAt) < refusalMemory
}

// location returns the table's location from the cache, fetching it when absent, older than
// the TTL, or when force is set.
func (c *Client) location(ctx context.Context, tenantName, table string, force bool) (*tableLoc, error) {
	key := tableKey{tenantName, table}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("locate %s/%s: %w", tenantName, table, ErrClosed)
	}
	loc := c.tables[key]
	c.mu.Unlock()
	if loc != nil && !force && c.cfg.clock().Sub(loc.fetchedAt) < c.cfg.locationTTL {
		return loc, nil
	}
	if loc != nil {
		// A caller with a cached location goes on with it if the refresh fails (write.go).
		return c.locate(ctx, tenantName, table)
	}
	return c.locateWaiting(ctx, tenantName, table)
}

// rootWait bounds how long a locate with nothing cached waits for a root service that is
// failing over (every server answers "the root service is not available"): an election of
// the meta partition takes about a lease, 500 ms by default.
const rootWait = 3 * time.Second

// locateWaiting is locate for a table the client knows nothing of: the call cannot go on
// without an answer. While the meta partition changes leader (right after a cluster starts,
// its leadership moves to the preferred zone), every server answers Unavailable "the root
// service is not available ...": the first write of a new client failed at once, though its
// deadline had seconds left. It retries such passes (50 ms doubling to 400 ms) for up to
// rootWait or until ctx ends; any other failure, or servers that do not answer at all, end it
// at once.
func (c *Client) locateWaiting(ctx context.Context, tenantName, table string) (*tableLoc, error) {
	start := time.Now()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 400*time.Millisecond) {
		loc, err := c.locate(ctx, tenantName, table)
		if err == nil || !errors.Is(err, errRootUnavailable) || time.Since(start)+wait > rootWait {
			return loc, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// errRootUnavailable marks a locate pass in which some server answered that the root service
// is not available (and none answered the location).
var errRootUnavailable = errors.New("the root service is failing over")

// rootUnavailable reports whether err is a server's answer that the cluster's root service is
// not available (server/kv.go Locate).
func rootUnavailable(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.Contains(st.Message(), "root service is not available")
}

// locate asks the servers, in order (the last one that answered first, then the seeds, then
// every server the cache knows), where the table is.
func (c *Client) locate(ctx context.Context, tenantName, table string) (*tableLoc, error) {
	var errs []string
	rootDown := false // a server said the root service is not available
	for _, addr := range c.locateOrder() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("locate %s/%s: %w", tenantName, table, err)
		}
		kv, err := c.kv(addr)
		if err != nil {
			return nil, fmt.Errorf("locate %s/%s: %w", tenantName, table, err)
		}
		start := c.cfg.clock()
		resp, err := kv.Locate(ctx, &api.LocateRequest{Tenant: tenantName, Table: table})
		if err != nil {
			switch classify(err) {
			case classNotFound:
				return nil, fmt.Errorf("locate %s/%s: server at %s: %s: %w", tenantName, table, addr, statusText(err), ErrNotFound)
			case classInvalid:
				return nil, fmt.Errorf("locate %s/%s: server at %s: %s: %w", tenantName, table, addr, statusText(err), ErrInvalid)
			case classUndelivered, classDown:
				if rootUnavailable(err) {
					rootDown = true // the server is up: do not demote it
				} else {
					c.failed(addr)
				}
			}
			errs = append(errs, addr+": "+statusText(err))
			continue
		}
		c.observe(addr, c.cfg.clock().Sub(start))
		loc, err := c.storeLocation(tenantName, table, resp, addr)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return loc, nil
	}
	sentinel := ErrNoReplica
	if rootDown {
		sentinel = errors.Join(ErrNoReplica, errRootUnavailable)
	}
	return nil, fmt.Errorf("locate %s/%s: no server answered (%s): %w", tenantName, table, strings.Join(errs, "; "), sentinel)
}

func (c *Client) locateOrder() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out, down []string
	add := func(a string) {
		if a == "" || seen[a] {
			return
		}
		seen[a] = true
		if c.recentlyFailedLocked(a) {
			down = append(down, a)
		} else {
			out = append(out, a)
		}
	}
	add(c.lastLocate)
	for _, a := range c.seeds {
		add(a)
	}
	for _, loc := range c.tables {
		for _, rs := range loc.parts {
			for _, r := range rs {
				add(r.addr)
			}
		}
	}
	return append(out, down...)
}

// storeLocation validates a Locate answer, caches it and learns its readable versions.
func (c *Client) storeLocation(tenantName, table string, resp *api.LocateResponse, from string) (*tableLoc, error) {
	n := int(resp.GetPartitions())
	if n <= 0 {
		return nil, fmt.Errorf("server at %s: locate %s/%s: partition count %d is not positive", from, tenantName, table, n)
	}
	now := c.cfg.clock()
	loc := &tableLoc{tenant: tenantName, table: table, partitions: n, parts: make([][]replica, n), fetchedAt: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pl := range resp.GetLocations() {
		p := int(pl.GetIndex())
		if p < 0 || p >= n {
			return nil, fmt.Errorf("server at %s: locate %s/%s: partition index %d is not below the partition count %d", from, tenantName, table, p, n)
		}
		for _, r := range pl.GetReplicas() {
			loc.parts[p] = append(loc.parts[p], replica{
				server: r.GetServer(), zone: r.GetZone(), region: r.GetRegion(), addr: r.GetRpcAddr(),
				typ: strings.ToUpper(r.GetType()), leader: r.GetLeader(), alive: r.GetAlive(),
			})
			if rv := r.GetReadableVersion(); rv > 0 {
				c.learnLocked(replicaKey{tenantName, table, p, r.GetServer()}, rv, lagAt(now, rv))
			}
		}
	}
	c.tables[tableKey{tenantName, table}] = loc
	c.lastLocate = from
	return loc, nil
}

// lagAt is how far version v is behind the clock reading now (0 when ahead: clocks differ).
func lagAt(now time.Time, v uint64) time.Duration {
	d := time.Duration(now.UnixMicro()-int64(v)) * time.Microsecond
	return max(d, 0)
}

// learnLocked records a readable version seen for a replica. Caller holds c.mu.
func (c *Client) learnLocked(k replicaKey, rv uint64, lag time.Duration) {
	old, ok := c.versions[k]
	if ok && rv < old.rv {
		return // an older observation (a cached Locate answer, a reordered response)
	}
	if ok && rv == old.rv && old.refused(c.cfg.clock()) {
		return // nothing new since the replica refused
	}
	c.versions[k] = versionInfo{rv: rv, lag: max(lag, 0)}
}

// learnRead records the meta of a read response.
func (c *Client) learnRead(tenantName, table string, p int, server string, m *api.ReadMeta, weak bool) {
	rv := m.GetReadableVersion()
	if rv == 0 {
		return
	}
	var lag time.Duration
	if weak {
		// The server's own clock measured staleness_ms at read_version; the replica's lag is
		// that minus how far its readable version is above the read version. No clock skew.
		lag = time.Duration(m.GetStalenessMs())*time.Millisecond -
			time.Duration(int64(rv)-int64(m.GetReadVersion()))*time.Microsecond
	} else {
		lag = lagAt(c.cfg.clock(), rv)
	}
	c.mu.Lock()
	c.learnLocked(replicaKey{tenantName, table, p, server}, rv, lag)
	c.mu.Unlock()
}

// refused marks a replica that answered "replica not readable".
func (c *Client) refused(tenantName, table string, p int, server string) {
	c.mu.Lock()
	k := replicaKey{tenantName, table, p, server}
	v := c.versions[k]
	v.refusedAt = c.cfg.clock()
	c.versions[k] = v
	c.mu.Unlock()
}

// freshLocked reports whether a replica is not known to be too stale for a read. Caller holds
// c.mu.
func (c *Client) freshLocked(k replicaKey, rc readConfig, now time.Time) bool {
	if rc.consistency == StrongConsistency {
		return true
	}
	v, ok := c.versions[k]
	if !ok {
		return true // unknown: try it in preference order
	}
	refused := v.refused(now)
	if rc.snapshot > 0 && v.rv < rc.snapshot && (refused || now.Add(-v.lag).UnixMicro() < int64(rc.snapshot)) {
		return false
	}
	if rc.maxStaleness > 0 && (refused || v.lag > rc.maxStaleness) {
		return false
	}
	return true
}
