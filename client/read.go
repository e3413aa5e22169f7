package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"obkv/api"
	obtenant "obkv/tenant"
)

// Result is the answer of a Get.
type Result struct {
	Value []byte
	Found bool
	Meta  Meta
}

// Get reads one key. A strong read (the default) is linearizable; a weak one reads a replica's
// readable version, bounded by max_staleness. The read preference picks the replica; on any
// replica error the next candidate is tried, up to the attempt bound, refreshing the location
// on "not leader", NotFound and connection errors.
func (c *Client) Get(ctx context.Context, tenantName, table string, key []byte, opts ...ReadOption) (Result, error) {
	rc, err := c.readConfig(opts)
	if err != nil {
		return Result{}, fmt.Errorf("get %s/%s key %q: %w", tenantName, table, key, err)
	}
	ctx, cancel := withTimeout(ctx, rc.timeout)
	defer cancel()
	loc, err := c.location(ctx, tenantName, table, false)
	if err != nil {
		return Result{}, fmt.Errorf("get key %q: %w", key, err)
	}
	p := obtenant.PartitionOf(key, loc.partitions)
	what := call{op: "get", tenant: tenantName, table: table, key: key, partition: p}
	var res Result
	meta, err := c.readPartition(ctx, rc, loc, p, c.estimate(loc, 1), what,
		func(ctx context.Context, kv api.KVClient, ro *api.ReadOptions) (*api.ReadMeta, error) {
			resp, err := kv.Get(ctx, &api.GetRequest{Tenant: tenantName, Table: table, Partition: uint32(p), Key: key, Options: ro})
			if err != nil {
				return nil, err
			}
			res.Found, res.Value = resp.GetFound(), resp.GetValue()
			if res.Found {
				c.learnRowSize(loc, len(key)+len(res.Value))
			}
			return resp.GetMeta(), nil
		})
	if err != nil {
		return Result{}, err
	}
	res.Meta = meta
	return res, nil
}

// readAttempt sends one read to one replica's server and returns the response's meta.
type readAttempt func(ctx context.Context, kv api.KVClient, ro *api.ReadOptions) (*api.ReadMeta, error)

// maxReadRounds bounds the location refreshes of one read (the attempt bound still applies).
const maxReadRounds = 3

// readPartition runs one read on partition p, trying the preference's candidates in order.
func (c *Client) readPartition(ctx context.Context, rc readConfig, loc *tableLoc, p int, sizeBytes int, what call, do readAttempt) (Meta, error) {
	ro := &api.ReadOptions{Consistency: rc.consistency.String(), SnapshotVersion: rc.snapshot}
	if rc.consistency == WeakConsistency {
		ro.MaxStalenessMs = rc.maxStaleness.Milliseconds()
		if rc.maxStaleness > 0 && ro.MaxStalenessMs == 0 {
			ro.MaxStalenessMs = 1 // a sub-millisecond bound must not become "unbounded"
		}
	} else {
		ro.SnapshotVersion = 0
	}
	tried, notReadable := 0, 0
	var errs []string
	var waits leaderWait
	leaderless := false // the last attempt was refused for want of a serving leader, none named
	waited := 0         // attempts so refused, which the attempt bound does not count
	for round := 0; round < maxReadRounds && tried-waited < c.cfg.maxAttempts; round++ {
		if round > 0 {
			fresh, err := c.location(ctx, loc.tenant, loc.table, true)
			if err != nil {
				errs = append(errs, err.Error())
				break
			}
			if fresh.partitions != loc.partitions {
				return Meta{}, fmt.Errorf("%s: table now has %d partitions, not %d: %w", what, fresh.partitions, loc.partitions, ErrNoReplica)
			}
			loc = fresh
		}
		cands, err := c.candidates(loc, p, rc, sizeBytes)
		if errors.Is(err, ErrNoReplica) && rc.pref == Leader && waits.n < maxLeaderWaits {
			// No leader: an election or a handover is under way (or the servers just started).
			// Wait for it as a write does, looking again each time, instead of failing at once.
			if waits.n == 0 {
				errs = append(errs, err.Error())
			}
			if werr := waits.pause(ctx); werr != nil {
				return Meta{}, fmt.Errorf("%s: %w, after waiting %d times for an election: %w", what, err, waits.n, werr)
			}
			round = 0 // the rounds bound the other refreshes; the next look refreshes the location
			continue
		}
		if errors.Is(err, ErrNoReplica) && round+1 < maxReadRounds {
			// The location may be from before the layout the preference needs (read during an
			// election, so no leader is flagged): look again rather than fail until it expires.
			errs = append(errs, err.Error())
			continue
		}
		if err != nil {
			return Meta{}, fmt.Errorf("%s: %w", what, err)
		}
		refresh, replan := false, false
		for _, r := range cands {
			if tried-waited >= c.cfg.maxAttempts {
				break
			}
			if err := ctx.Err(); err != nil {
				return Meta{}, fmt.Errorf("%s: after %d attempts (%s): %w", what, tried, lastErrs(errs), err)
			}
			kv, err := c.kv(r.addr)
			if err != nil {
				return Meta{}, fmt.Errorf("%s: %w", what, err)
			}
			tried++
			start := c.cfg.clock()
			m, err := do(ctx, kv, ro)
			if err == nil {
				c.learnRole(loc.tenant, loc.table, p, r.server, m.GetServedBy().GetRole())
			}
			if err == nil && round+1 < maxReadRounds && wrongRole(rc.pref, m.GetServedBy().GetRole()) {
				// The cache's roles are out of date (a weak read is served by any replica, so
				// the server does not refuse it): the leader preference means the leader and
				// follower means a follower, so re-plan on a fresh location.
				errs = append(errs, fmt.Sprintf("%s answered as %s", r.server, m.GetServedBy().GetRole()))
				refresh = true
				break
			}
			if err == nil {
				c.observe(r.addr, c.cfg.clock().Sub(start))
				c.learnRead(loc.tenant, loc.table, p, r.server, m, rc.consistency == WeakConsistency)
				return metaOf(p, m, tried), nil
			}
			switch classify(err) {
			case classInvalid:
				return Meta{}, fmt.Errorf("%s: server %s rejected the request: %s: %w", what, r.server, statusText(err), ErrInvalid)
			case classNotReadable:
				notReadable++
				c.refused(loc.tenant, loc.table, p, r.server)
			case classNotLeader, classNotFound:
				// The cache is wrong (a leader or a replica moved): re-plan on a fresh location
				// at once, so the preference picks from the new layout.
				refresh, replan = true, true
				if classify(err) == classNotLeader {
					// A strong read no serving leader confirmed: go to the leader named, or wait
					// for the election (the root service may not know of it yet either).
					leaderless = !c.learnHint(loc, p, leaderHint(err))
				}
			case classUndelivered, classDown:
				c.failed(r.addr)
				refresh = true
			}
			errs = append(errs, fmt.Sprintf("%s (%s %s in %s): %s", r.server, r.typ, role(r), r.zone, statusText(err)))
			if replan {
				break
			}
		}
		if leaderless && waits.n < maxLeaderWaits {
			// As a write does: the wait, not the attempt bound, limits how long a read waits
			// for an election, and the rounds start over.
			waited++
			if err := waits.pause(ctx); err != nil {
				return Meta{}, fmt.Errorf("%s: no serving leader, after waiting %d times for an election (%s): %w: %w", what, waits.n, lastErrs(errs), ErrNoReplica, err)
			}
			leaderless, round = false, 0
			continue
		}
		if !refresh {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return Meta{}, fmt.Errorf("%s: after %d attempts (%s): %w", what, tried, lastErrs(errs), err)
	}
	rule := fmt.Sprintf("%s read, read preference %s", rc.consistency, rc.pref)
	if rc.maxStaleness > 0 && rc.consistency == WeakConsistency {
		rule += fmt.Sprintf(", max_staleness %v", rc.maxStaleness)
	}
	if notReadable > 0 && notReadable == tried {
		return Meta{}, fmt.Errorf("%s: %s: every replica tried (%d) refused as not readable (%s): %w: %w", what, rule, tried, lastErrs(errs), ErrNoReplica, ErrNotReadable)
	}
	return Meta{}, fmt.Errorf("%s: %s: no replica served after %d attempts (%s): %w", what, rule, tried, lastErrs(errs), ErrNoReplica)
}

func role(r candidate) string {
	if r.leader {
		return "leader"
	}
	return "follower"
}

// candidates orders partition p's replicas for one read.
func (c *Client) candidates(loc *tableLoc, p int, rc readConfig, sizeBytes int) ([]candidate, error) {
	in := planInput{
		pref: rc.pref, consistency: rc.consistency, zone: rc.zone, region: rc.region,
		sizeBytes: sizeBytes, threshold: c.cfg.adaptiveThreshold, slowFactor: c.cfg.slowLeaderFactor,
		replicas: make([]candidate, 0, len(loc.parts[p])),
	}
	now := c.cfg.clock()
	c.mu.Lock()
	for _, r := range loc.parts[p] {
		k := replicaKey{loc.tenant, loc.table, p, r.server}
		// A role a server itself answered with recently overrides the (possibly older) role
		// the root service's Locate reported.
		if h, ok := c.roles[k]; ok && now.Sub(h.at) < roleMemory {
			r.leader = h.leader
		}
		cd := candidate{replica: r, healthy: r.alive, fresh: c.freshLocked(k, rc, now)}
		if h := c.health[r.addr]; h != nil {
			cd.healthy = cd.healthy && !c.failedWithin(h, now)
			cd.latency, cd.samples = h.ewma, h.samples
		}
		in.replicas = append(in.replicas, cd)
	}
	c.mu.Unlock()
	if rc.pref == LeaderAndFollower {
		in.rr = c.rr.Add(1) - 1
	}
	return plan(in)
}

// estimate is the expected response size of a read of rows rows (0: unbounded), for
// closest-adaptive.
func (c *Client) estimate(loc *tableLoc, rows int) int {
	if rows <= 0 {
		return math.MaxInt
	}
	c.mu.Lock()
	avg, ok := c.rowBytes[tableKey{loc.tenant, loc.table}]
	c.mu.Unlock()
	if !ok {
		if rows == 1 {
			return 0 // a point read of unknown size: small until learned
		}
		avg = defaultRowBytes
	}
	if float64(rows) > float64(math.MaxInt)/max(avg, 1) {
		return math.MaxInt
	}
	return int(float64(rows) * avg)
}

func (c *Client) learnRowSize(loc *tableLoc, n int) {
	k := tableKey{loc.tenant, loc.table}
	c.mu.Lock()
	if old, ok := c.rowBytes[k]; ok {
		c.rowBytes[k] = ewmaAlpha*float64(n) + (1-ewmaAlpha)*old
	} else {
		c.rowBytes[k] = float64(n)
	}
	c.mu.Unlock()
}

// KeyValue is one row of a scan.
type KeyValue struct {
	Key, Value []byte
}

// ScanResult is the answer of a Scan.
type ScanResult struct {
	// Rows in key order, at most the limit.
	Rows []KeyValue
	// More: rows in [start, end) remain after the last one (continue from its key + "\x00").
	More bool
	// SnapshotVersion is the one version every partition was read at (weak scans), else 0.
	SnapshotVersion uint64
	// Partitions has one Meta per partition (of its last page), in partition order; Tried
	// counts every attempt of every page.
	Partitions []Meta
}

// maxScanPages bounds the pages one partition's scan follows (each page advances the start
// key, so this is only a guard against a server that never stops saying "more").
const maxScanPages = 1 << 20

// Scan reads the keys in [start, end) (end empty: to the end of the table), at most limit rows
// (0: all), in key order, merging every partition's scan.
//
// A weak scan reads every partition at one snapshot version, so the result is one consistent
// cut: the client picks the newest version that every partition has a replica (allowed by the
// preference) known to have made readable, checks it against max_staleness (refreshing the
// location once for newer readable versions), and sends it as snapshot_version. AtVersion
// sets it instead.
//
// A strong scan reads each partition (and each page of it) with its own linearizable read:
// each part is linearizable, but a multi-partition or multi-page strong scan is NOT one
// snapshot — a write committed while it runs may be seen in one partition and not another.
// Use a weak scan with a small max_staleness, or AtVersion, for a consistent cut.
func (c *Client) Scan(ctx context.Context, tenantName, table string, start, end []byte, limit int, opts ...ReadOption) (ScanResult, error) {
	what := call{op: "scan", tenant: tenantName, table: table, start: start, end: end, partition: -1}
	if limit < 0 || limit > math.MaxUint32 {
		return ScanResult{}, fmt.Errorf("%s: limit %d: must be in [0, %d]: %w", what, limit, uint32(math.MaxUint32), ErrInvalid)
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return ScanResult{}, fmt.Errorf("%s: start must be below end: %w", what, ErrInvalid)
	}
	rc, err := c.readConfig(opts)
	if err != nil {
		return ScanResult{}, fmt.Errorf("%s: %w", what, err)
	}
	ctx, cancel := withTimeout(ctx, rc.timeout)
	defer cancel()
	loc, err := c.location(ctx, tenantName, table, false)
	if err != nil {
		return ScanResult{}, fmt.Errorf("scan: %w", err)
	}
	size := c.estimate(loc, limit)
	if rc.consistency == WeakConsistency && rc.snapshot == 0 {
		if loc, rc.snapshot, err = c.pickSnapshot(ctx, loc, rc, size); err != nil {
			return ScanResult{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	type partResult struct {
		rows []KeyValue
		more bool
		meta Meta
		err  error
	}
	results := make([]partResult, loc.partitions)
	var wg sync.WaitGroup
	for p := range loc.partitions {
		wg.Go(func() {
			r := &results[p]
			r.rows, r.more, r.meta, r.err = c.scanPartition(ctx, rc, loc, p, start, end, limit, size, what)
		})
	}
	wg.Wait()
	out := ScanResult{SnapshotVersion: rc.snapshot}
	for _, r := range results {
		if r.err != nil {
			return ScanResult{}, r.err
		}
		out.Rows = append(out.Rows, r.rows...)
		out.More = out.More || r.more
		out.Partitions = append(out.Partitions, r.meta)
	}
	// Keys hash to exactly one partition, so the merge has no duplicates; every partition
	// returned its first limit rows, so the first limit of the merge are the scan's.
	slices.SortFunc(out.Rows, func(a, b KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	if limit > 0 && len(out.Rows) > limit {
		out.Rows, out.More = out.Rows[:limit], true
	}
	return out, nil
}

// scanPartition reads up to limit rows (0: all) of one partition, following pages.
func (c *Client) scanPartition(ctx context.Context, rc readConfig, loc *tableLoc, p int, start, end []byte, limit, size int, what call) ([]KeyValue, bool, Meta, error) {
	var rows []KeyValue
	var meta Meta
	tried := 0
	cur := start
	for range maxScanPages {
		want := 0
		if limit > 0 {
			want = limit - len(rows)
		}
		var resp *api.ScanResponse
		m, err := c.readPartition(ctx, rc, loc, p, size, what.in(p),
			func(ctx context.Context, kv api.KVClient, ro *api.ReadOptions) (*api.ReadMeta, error) {
				r, err := kv.Scan(ctx, &api.ScanRequest{Tenant: loc.tenant, Table: loc.table, Partition: uint32(p), Start: cur, End: end, Limit: uint32(want), Options: ro})
				if err != nil {
					return nil, err
				}
				resp = r
				return r.GetMeta(), nil
			})
		if err != nil {
			return nil, false, Meta{}, err
		}
		tried += m.Tried
		meta = m
		meta.Tried = tried
		for _, kv := range resp.GetRows() {
			rows = append(rows, KeyValue{Key: kv.GetKey(), Value: kv.GetValue()})
			c.learnRowSize(loc, len(kv.GetKey())+len(kv.GetValue()))
		}
		if !resp.GetMore() || (limit > 0 && len(rows) >= limit) {
			return rows, resp.GetMore(), meta, nil
		}
		if len(resp.GetRows()) == 0 {
			return nil, false, Meta{}, fmt.Errorf("%s: server %s said more rows remain but sent none", what.in(p), m.Server)
		}
		last := resp.GetRows()[len(resp.GetRows())-1].GetKey()
		cur = append(slices.Clip(last), 0) // the smallest key above last
	}
	return nil, false, Meta{}, fmt.Errorf("%s: more than %d pages", what.in(p), maxScanPages)
}

// snapshotTarget is how old a snapshot version picked for an unbounded weak scan may be before
// the client refreshes the location for newer readable versions (an old version may already be
// garbage-collected on the servers).
const snapshotTarget = 5 * time.Second

// pickSnapshot chooses the version a weak scan reads every partition at: for each partition,
// the highest readable version seen on a replica the preference allows; the minimum of those
// over the partitions. Every chosen replica has made it readable (readable versions never go
// back), so no extra round trip is needed unless the version misses max_staleness (or is older
// than snapshotTarget when unbounded) or is below this client's last write to the table: then
// one Locate refreshes the readable versions, so a weak scan sees the client's own writes
// whenever the replicas have applied them.
func (c *Client) pickSnapshot(ctx context.Context, loc *tableLoc, rc readConfig, size int) (*tableLoc, uint64, error) {
	bound := rc.maxStaleness
	if bound <= 0 {
		bound = snapshotTarget
	}
	var v uint64
	var worst int
	for attempt := 0; ; attempt++ {
		v, worst = math.MaxUint64, -1
		for p := range loc.partitions {
			best, err := c.bestReadable(loc, p, rc, size)
			if err != nil {
				return nil, 0, err
			}
			if best < v {
				v, worst = best, p
			}
		}
		c.mu.Lock()
		written := c.written[tableKey{loc.tenant, loc.table}]
		c.mu.Unlock()
		if v > 0 && lagAt(c.cfg.clock(), v) <= bound && (v >= written || attempt > 0) {
			return loc, v, nil
		}
		if attempt > 0 {
			break
		}
		fresh, err := c.location(ctx, loc.tenant, loc.table, true)
		if err != nil {
			return nil, 0, err
		}
		loc = fresh
	}
	if v > 0 && rc.maxStaleness <= 0 {
		return loc, v, nil // unbounded: an older cut is still a consistent one
	}
	if v == 0 {
		return nil, 0, fmt.Errorf("weak scan: no readable version is known for partition %d (Locate reported none): %w", worst, ErrNotReadable)
	}
	return nil, 0, fmt.Errorf("weak scan, read preference %s: the newest version readable on every partition is %v old (partition %d lags most), above max_staleness %v: %w",
		rc.pref, lagAt(c.cfg.clock(), v), worst, rc.maxStaleness, ErrNotReadable)
}

// bestReadable is the highest readable version seen on a replica of p that rc allows.
func (c *Client) bestReadable(loc *tableLoc, p int, rc readConfig, size int) (uint64, error) {
	unbounded := rc
	unbounded.maxStaleness, unbounded.snapshot = 0, 0
	cands, err := c.candidates(loc, p, unbounded, size)
	if err != nil {
		return 0, fmt.Errorf("partition %d: %w", p, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var best uint64
	for _, r := range cands {
		if v, ok := c.versions[replicaKey{loc.tenant, loc.table, p, r.server}]; ok && r.healthy && v.rv > best {
			best = v.rv
		}
	}
	return best, nil
}

// wrongRole reports whether a replica that answered in role breaks preference p: leader reads
// must come from the leader, follower reads must not.
func wrongRole(p ReadPreference, role string) bool {
	switch p {
	case Leader:
		return role != "LEADER"
	case Follower:
		return role == "LEADER"
	}
	return false
}

// roleMemory is how long a role learned from a response overrides Locate's.
const roleMemory = 3 * time.Second

type roleHint struct {
	leader bool
	at     time.Time
}

// learnHint records the leader a "not leader: leader is SERVER" answer named, when SERVER holds
// a FULL replica of partition p and did not fail within the cooldown, so that the next plan
// sends the read there. It reports whether it did.
func (c *Client) learnHint(loc *tableLoc, p int, hint string) bool {
	if hint == "" || c.unreachable(loc, p, hint, nil) || !slices.ContainsFunc(loc.parts[p], func(r replica) bool { return r.server == hint && r.typ == typeFull }) {
		return false
	}
	c.learnRole(loc.tenant, loc.table, p, hint, "LEADER")
	return true
}

// learnRole records the role a replica answered with. A replica that answers as leader makes
// the partition's other replicas followers.
func (c *Client) learnRole(tenantName, table string, p int, server, role string) {
	if role == "" {
		return
	}
	now := c.cfg.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roles == nil {
		c.roles = map[replicaKey]roleHint{}
	}
	leader := role == "LEADER"
	if leader {
		if loc := c.tables[tableKey{tenantName, table}]; loc != nil && p < len(loc.parts) {
			for _, r := range loc.parts[p] {
				if r.server != server {
					c.roles[replicaKey{tenantName, table, p, r.server}] = roleHint{leader: false, at: now}
				}
			}
		}
	}
	c.roles[replicaKey{tenantName, table, p, server}] = roleHint{leader: leader, at: now}
}
