package client

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
)

// Consistency is the consistency level of a read.
type Consistency int

const (
	// StrongConsistency reads are linearizable: served by the leader under its lease or by a
	// FULL follower through ReadIndex.
	StrongConsistency Consistency = iota
	// WeakConsistency reads are served by any FULL or READONLY replica at its readable
	// version, bounded by max_staleness when it is set.
	WeakConsistency
)

// String returns "strong" or "weak", the wire names.
func (c Consistency) String() string {
	if c == WeakConsistency {
		return "weak"
	}
	return "strong"
}

// Defaults. A zero value in an option means "use the default"; negative values are rejected.
const (
	DefaultTimeout           = 10 * time.Second
	DefaultMaxAttempts       = 8
	DefaultLocationTTL       = 30 * time.Second
	DefaultFailureCooldown   = 5 * time.Second
	DefaultSlowLeaderFactor  = 3.0
	DefaultAdaptiveThreshold = 4096 // bytes, as TiDB's tidb_adaptive_closest_read_threshold
	// defaultRowBytes estimates a row's size for closest-adaptive before any is learned.
	defaultRowBytes = 256
	// minLatencySamples: prefer-leader compares latencies only with this many samples each.
	minLatencySamples = 5
)

type config struct {
	zone, region      string
	pref              ReadPreference
	consistency       Consistency
	maxStaleness      time.Duration
	timeout           time.Duration
	dialOpts          []grpc.DialOption
	adaptiveThreshold int
	maxAttempts       int
	locationTTL       time.Duration
	failureCooldown   time.Duration
	slowLeaderFactor  float64
	clock             func() time.Time
	unary             bool
}

func defaultConfig() config {
	return config{
		pref:              Leader,
		timeout:           DefaultTimeout,
		adaptiveThreshold: DefaultAdaptiveThreshold,
		maxAttempts:       DefaultMaxAttempts,
		locationTTL:       DefaultLocationTTL,
		failureCooldown:   DefaultFailureCooldown,
		slowLeaderFactor:  DefaultSlowLeaderFactor,
		clock:             time.Now,
	}
}

// Validate rejects contradictory or out-of-range settings.
func (c *config) Validate() error {
	switch {
	case !c.pref.valid():
		return fmt.Errorf("read preference %d: not a known preference: %w", int(c.pref), ErrInvalid)
	case c.consistency != StrongConsistency && c.consistency != WeakConsistency:
		return fmt.Errorf("consistency %d: not StrongConsistency (0) or WeakConsistency (1): %w", int(c.consistency), ErrInvalid)
	case c.maxStaleness < 0:
		return fmt.Errorf("max_staleness %v: must not be negative: %w", c.maxStaleness, ErrInvalid)
	case c.timeout < 0:
		return fmt.Errorf("timeout %v: must not be negative: %w", c.timeout, ErrInvalid)
	case c.adaptiveThreshold < 0:
		return fmt.Errorf("adaptive threshold %d bytes: must not be negative: %w", c.adaptiveThreshold, ErrInvalid)
	case c.maxAttempts < 1:
		return fmt.Errorf("max attempts %d: must be at least 1: %w", c.maxAttempts, ErrInvalid)
	case c.locationTTL <= 0:
		return fmt.Errorf("location ttl %v: must be positive: %w", c.locationTTL, ErrInvalid)
	case c.failureCooldown < 0:
		return fmt.Errorf("failure cooldown %v: must not be negative: %w", c.failureCooldown, ErrInvalid)
	case c.slowLeaderFactor < 1:
		return fmt.Errorf("slow leader factor %v: must be at least 1: %w", c.slowLeaderFactor, ErrInvalid)
	case c.clock == nil:
		return fmt.Errorf("clock: must not be nil: %w", ErrInvalid)
	}
	return nil
}

// Option configures a Client.
type Option func(*config)

// WithZone sets the client's own zone (for closest and closest-adaptive).
func WithZone(zone string) Option { return func(c *config) { c.zone = zone } }

// WithRegion sets the client's own region (for closest and closest-adaptive).
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithReadPreference sets the default read preference (Leader when unset).
func WithReadPreference(p ReadPreference) Option { return func(c *config) { c.pref = p } }

// WithConsistency sets the default consistency of reads (StrongConsistency when unset).
func WithConsistency(level Consistency) Option { return func(c *config) { c.consistency = level } }

// WithMaxStaleness sets the default bound of weak reads (0: unbounded). It does not make reads
// weak by itself; see WithConsistency and the per-call MaxStaleness.
func WithMaxStaleness(d time.Duration) Option { return func(c *config) { c.maxStaleness = d } }

// WithTimeout sets the default deadline of each call (DefaultTimeout when unset); a shorter
// deadline on the call's context wins.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d != 0 {
			c.timeout = d
		}
	}
}

// WithDialOptions adds gRPC dial options; without any, connections are insecure (plaintext).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOpts = append(c.dialOpts, opts...) }
}

// WithAdaptiveThreshold sets the estimated response size, in bytes, from which closest-adaptive
// reads the closest replica instead of the leader (DefaultAdaptiveThreshold when unset).
func WithAdaptiveThreshold(bytes int) Option {
	return func(c *config) { c.adaptiveThreshold = bytes }
}

// WithMaxAttempts bounds the replicas one call tries, across location refreshes
// (DefaultMaxAttempts when unset).
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithLocationTTL sets how long a table's cached location is used before it is fetched again
// on its next use (DefaultLocationTTL when unset). Errors refresh it sooner.
func WithLocationTTL(d time.Duration) Option { return func(c *config) { c.locationTTL = d } }

// WithFailureCooldown sets how long a server that failed a call is demoted behind healthy ones
// (DefaultFailureCooldown when unset; prefer-leader skips such a leader).
func WithFailureCooldown(d time.Duration) Option { return func(c *config) { c.failureCooldown = d } }

// WithSlowLeaderFactor sets how many times slower than the fastest FULL follower (latency EWMA)
// a leader must be for prefer-leader to skip it (DefaultSlowLeaderFactor when unset).
func WithSlowLeaderFactor(f float64) Option { return func(c *config) { c.slowLeaderFactor = f } }

// WithClock injects the clock used for latencies, cooldowns, cache ages and staleness estimates
// (tests pass a fake cluster's clock). It must return wall time: versions are microseconds of
// it since the Unix epoch.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithUnaryCalls sends every Write and Get as its own unary RPC instead of multiplexing them
// over one KV.Stream per server (the default, which costs the servers and the client far less
// CPU per call). For comparisons and for proxies that cannot carry bidirectional streams.
func WithUnaryCalls() Option { return func(c *config) { c.unary = true } }

// readConfig is one read's effective settings.
type readConfig struct {
	consistency  Consistency
	pref         ReadPreference
	maxStaleness time.Duration
	snapshot     uint64
	zone, region string
	timeout      time.Duration
}

// ReadOption overrides a client default for one Get or Scan.
type ReadOption func(*readConfig)

// Weak makes the read weak (bounded by max_staleness when set).
func Weak() ReadOption { return func(r *readConfig) { r.consistency = WeakConsistency } }

// Strong makes the read strong (linearizable), overriding a weak default.
func Strong() ReadOption { return func(r *readConfig) { r.consistency = StrongConsistency } }

// MaxStaleness makes the read weak and bounds its staleness by d, as CockroachDB's
// with_max_staleness.
func MaxStaleness(d time.Duration) ReadOption {
	return func(r *readConfig) { r.consistency, r.maxStaleness = WeakConsistency, d }
}

// AtVersion makes the read weak and reads exactly at version v (microseconds since the epoch,
// the versions Put returns); a replica whose readable version is below v refuses it.
func AtVersion(v uint64) ReadOption {
	return func(r *readConfig) { r.consistency, r.snapshot = WeakConsistency, v }
}

// Prefer overrides the read preference for one read. (It is not spelled ReadPreference: that
// is the type's name, and Go forbids a function of the same name in the package.)
func Prefer(p ReadPreference) ReadOption { return func(r *readConfig) { r.pref = p } }

// Zone overrides the client's zone for one read (closest, closest-adaptive).
func Zone(zone string) ReadOption { return func(r *readConfig) { r.zone = zone } }

// Region overrides the client's region for one read.
func Region(region string) ReadOption { return func(r *readConfig) { r.region = region } }

// Timeout overrides the default per-call timeout for one read; 0 leaves only the context's
// deadline.
func Timeout(d time.Duration) ReadOption { return func(r *readConfig) { r.timeout = d } }

func (c *Client) readConfig(opts []ReadOption) (readConfig, error) {
	rc := readConfig{
		consistency:  c.cfg.consistency,
		pref:         c.cfg.pref,
		maxStaleness: c.cfg.maxStaleness,
		zone:         c.cfg.zone,
		region:       c.cfg.region,
		timeout:      c.cfg.timeout,
	}
	for _, o := range opts {
		o(&rc)
	}
	switch {
	case !rc.pref.valid():
		return rc, fmt.Errorf("read preference %d: not a known preference: %w", int(rc.pref), ErrInvalid)
	case rc.maxStaleness < 0:
		return rc, fmt.Errorf("max_staleness %v: must not be negative: %w", rc.maxStaleness, ErrInvalid)
	case rc.timeout < 0:
		return rc, fmt.Errorf("timeout %v: must not be negative: %w", rc.timeout, ErrInvalid)
	case rc.consistency == StrongConsistency && rc.pref == ReadonlyOnly:
		return rc, fmt.Errorf("read preference readonly-only: a strong read cannot be served by a READONLY replica (READONLY replicas serve weak reads only): %w", ErrInvalid)
	}
	return rc, nil
}
