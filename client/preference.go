package client

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ReadPreference says which replicas a read may go to and in which order. Every preference
// first drops the replicas that cannot serve the read at all: LOGONLY replicas (no data) and,
// for strong reads, READONLY replicas (they never learn the commit point in time; they serve
// weak reads only). The leader is the FULL replica Locate flags as leader; "followers" are the
// other FULL replicas and, for weak reads, the READONLY ones.
//
// Within the order a preference gives, two demotions apply, both stable (they keep the
// preference's order inside each group): replicas known to be too stale for the read (their
// last-seen readable version misses max_staleness or the snapshot version) go after the
// others, and replicas on a server that failed within the failure cooldown, or that Locate
// reports not alive, go last. "Locality order" is: same zone as the client, then same region,
// then the rest; ties by server name. docs/reads.md has the same table.
type ReadPreference int

const (
	// Leader: the leader only; no fallback (a read retries only after a location refresh finds
	// the new leader).
	Leader ReadPreference = iota
	// Follower: followers only, in locality order; an error (ErrNoReplica) when the partition
	// has none that can serve the read.
	Follower
	// FollowerPreferred: followers in locality order, then the leader.
	FollowerPreferred
	// LeaderAndFollower: the leader and the FULL followers, rotated round-robin per read so
	// reads spread evenly; then, for weak reads, READONLY replicas in locality order.
	LeaderAndFollower
	// PreferLeader: the leader, then followers in locality order; but followers first and the
	// leader last when the leader's server failed within the failure cooldown or its latency
	// EWMA is above the slow-leader factor times the fastest FULL follower's.
	PreferLeader
	// Closest: every eligible replica in locality order (ties: the leader, then FULL, then
	// READONLY, then by server name).
	Closest
	// ClosestAdaptive: Closest when the read's estimated response size reaches the adaptive
	// threshold (scans: limit times the learned row size, an unlimited scan always; gets: the
	// learned row size); otherwise the leader first, then the others in Closest order.
	ClosestAdaptive
	// ReadonlyFirst: READONLY replicas in locality order, then FULL followers in locality order,
	// then the leader. For strong reads it is FollowerPreferred.
	ReadonlyFirst
	// ReadonlyOnly: READONLY replicas only, in locality order; an error for a strong read
	// (ErrInvalid) and when the partition has none (ErrNoReplica).
	ReadonlyOnly
)

var preferenceNames = [...]string{
	Leader:            "leader",
	Follower:          "follower",
	FollowerPreferred: "follower-preferred",
	LeaderAndFollower: "leader-and-follower",
	PreferLeader:      "prefer-leader",
	Closest:           "closest",
	ClosestAdaptive:   "closest-adaptive",
	ReadonlyFirst:     "readonly-first",
	ReadonlyOnly:      "readonly-only",
}

func (p ReadPreference) valid() bool { return p >= 0 && int(p) < len(preferenceNames) }

// String returns the kebab-case name ParseReadPreference accepts.
func (p ReadPreference) String() string {
	if !p.valid() {
		return fmt.Sprintf("ReadPreference(%d)", int(p))
	}
	return preferenceNames[p]
}

// ParseReadPreference parses a kebab-case name (case-insensitive; "" is leader).
func ParseReadPreference(s string) (ReadPreference, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "" {
		return Leader, nil
	}
	for i, n := range preferenceNames {
		if n == name {
			return ReadPreference(i), nil
		}
	}
	return 0, fmt.Errorf("read preference %q: not one of %s: %w", s, strings.Join(preferenceNames[:], ", "), ErrInvalid)
}

// Replica types as Locate and ServedBy spell them.
const (
	typeFull     = "FULL"
	typeLogonly  = "LOGONLY"
	typeReadonly = "READONLY"
)

// candidate is one replica as the planner sees it for one read.
type candidate struct {
	replica
	fresh   bool    // not known to be too stale for this read
	healthy bool    // alive per Locate and no failure within the cooldown
	latency float64 // latency EWMA of its server, microseconds
	samples int     // how many latencies the EWMA has seen
}

// planInput is everything plan decides from: it is pure so each preference is unit-tested.
type planInput struct {
	pref         ReadPreference
	consistency  Consistency
	zone, region string
	replicas     []candidate
	rr           uint64 // round-robin counter for leader-and-follower
	sizeBytes    int    // estimated response size, for closest-adaptive
	threshold    int    // closest-adaptive threshold, bytes
	slowFactor   float64
}

// plan orders the replicas a read may try, first to last, or says why none may. Every read
// pays for it, so it fills one slice in place (one allocation) instead of building the groups
// below as slices of their own.
func plan(in planInput) ([]candidate, error) {
	// The groups: usable (all that can serve this read), the leader (the first usable FULL
	// replica flagged leader: a stale location can flag two; trust neither more than the
	// other, so a second one joins no group but usable), full (the other FULL replicas) and
	// readonly.
	usable := func(r candidate) bool {
		switch r.typ {
		case typeFull:
			return true
		case typeReadonly:
			return in.consistency != StrongConsistency
		}
		return false // LOGONLY holds no data; a type this client does not know: never guess
	}
	leader := -1
	for i, r := range in.replicas {
		if r.leader && r.typ == typeFull {
			leader = i
			break
		}
	}
	isFull := func(r candidate) bool { return r.typ == typeFull && !r.leader }
	isReadonly := func(r candidate) bool { return r.typ == typeReadonly && usable(r) }
	isFollower := func(r candidate) bool { return isFull(r) || isReadonly(r) }

	out := make([]candidate, 0, len(in.replicas))
	// add appends the replicas pred selects, in locality order when local is set.
	add := func(pred func(candidate) bool, local bool) int {
		from := len(out)
		for _, r := range in.replicas {
			if pred(r) {
				out = append(out, r)
			}
		}
		if local {
			localityOrder(out[from:], in.zone, in.region)
		}
		return len(out) - from
	}
	addLeader := func() {
		if leader >= 0 {
			out = append(out, in.replicas[leader])
		}
	}
	switch in.pref {
	case Leader:
		if leader < 0 {
			return nil, fmt.Errorf("read preference leader: no leader is known: %w", ErrNoReplica)
		}
		addLeader()
	case Follower:
		if add(isFollower, true) == 0 {
			return nil, fmt.Errorf("read preference follower: no follower can serve a %s read: %w", in.consistency, ErrNoReplica)
		}
	case FollowerPreferred:
		add(isFollower, true)
		addLeader()
	case LeaderAndFollower:
		addLeader()
		from := len(out) // the FULL followers by server name
		add(isFull, false)
		slices.SortFunc(out[from:], func(a, b candidate) int { return strings.Compare(a.server, b.server) })
		if n := len(out); n > 0 { // the ring of leader and FULL followers starts at the counter
			k := int(in.rr % uint64(n))
			slices.Reverse(out[:k])
			slices.Reverse(out[k:])
			slices.Reverse(out)
		}
		add(isReadonly, true)
	case PreferLeader:
		if leader >= 0 && !slowOrFailed(in.replicas[leader], in.replicas, in.slowFactor) {
			addLeader()
			add(isFollower, true)
		} else {
			add(isFollower, true)
			addLeader()
		}
	case Closest:
		add(usable, true)
	case ClosestAdaptive:
		if in.sizeBytes >= in.threshold || leader < 0 {
			add(usable, true)
		} else {
			addLeader()
			add(func(r candidate) bool { return usable(r) && r.server != in.replicas[leader].server }, true)
		}
	case ReadonlyFirst:
		add(isReadonly, true)
		add(isFull, true)
		addLeader()
	case ReadonlyOnly:
		if in.consistency == StrongConsistency {
			return nil, fmt.Errorf("read preference readonly-only: a strong read cannot be served by a READONLY replica (READONLY replicas serve weak reads only): %w", ErrInvalid)
		}
		if add(isReadonly, true) == 0 {
			return nil, fmt.Errorf("read preference readonly-only: the partition has no READONLY replica: %w", ErrNoReplica)
		}
	default:
		return nil, fmt.Errorf("read preference %d: not a known preference: %w", int(in.pref), ErrInvalid)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read preference %s: no replica can serve a %s read: %w", in.pref, in.consistency, ErrNoReplica)
	}
	// Stable demotions: fresh and healthy first, then healthy but known stale, then unhealthy.
	slices.SortStableFunc(out, func(a, b candidate) int { return cmp.Compare(demotion(a), demotion(b)) })
	return out, nil
}

func demotion(c candidate) int {
	switch {
	case !c.healthy:
		return 2
	case !c.fresh:
		return 1
	}
	return 0
}

// slowOrFailed: prefer-leader skips a leader whose server failed recently, or whose latency EWMA
// is above factor times the fastest FULL follower's among rs (both with enough samples to
// mean it).
func slowOrFailed(leader candidate, rs []candidate, factor float64) bool {
	if !leader.healthy {
		return true
	}
	if leader.samples < minLatencySamples {
		return false
	}
	best := -1.0
	for _, f := range rs {
		if f.typ == typeFull && !f.leader && f.healthy && f.samples >= minLatencySamples && (best < 0 || f.latency < best) {
			best = f.latency
		}
	}
	return best > 0 && leader.latency > factor*best
}

func localityRank(r candidate, zone, region string) int {
	switch {
	case zone != "" && r.zone == zone:
		return 0
	case region != "" && r.region == region:
		return 1
	}
	return 2
}

func typeRank(r candidate) int {
	switch {
	case r.leader:
		return 0
	case r.typ == typeFull:
		return 1
	}
	return 2
}

// localityOrder sorts rs in place by locality rank, then leader, FULL, READONLY, then server
// name.
func localityOrder(rs []candidate, zone, region string) {
	slices.SortStableFunc(rs, func(a, b candidate) int {
		if c := cmp.Compare(localityRank(a, zone, region), localityRank(b, zone, region)); c != 0 {
			return c
		}
		if c := cmp.Compare(typeRank(a), typeRank(b)); c != 0 {
			return c
		}
		return strings.Compare(a.server, b.server)
	})
}
