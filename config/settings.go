package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Settings are the cluster-wide tunables of the `settings:` section. Every
// field has a default (DefaultSettings), a range and, where fields depend on
// each other, a consistency rule; Validate checks them all. The meaning of
// each field is in settingSpecs below and in docs/configuration.md.
type Settings struct {
	// Tick is the unit of protocol time: the server calls paxos Tick at
	// this interval; LeaseDuration, HeartbeatInterval and
	// ClosedVersionInterval are whole multiples of it.
	Tick time.Duration
	// LeaseDuration is how long a leader's lease lasts (key `lease`).
	// Invariant: a multiple of Tick and at least 4 ticks.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often a leader renews its lease.
	// Invariant: 2*HeartbeatInterval < LeaseDuration - MaxClockDrift - Tick.
	HeartbeatInterval time.Duration
	// MaxClockDrift bounds how far two servers' clocks may drift apart
	// during one lease. Invariant: MaxClockDrift < LeaseDuration - Tick.
	MaxClockDrift time.Duration
	// ElectionLagEntries: a replica this many entries behind may not win.
	ElectionLagEntries int64
	// ClosedVersionInterval is how often leaders publish a closed version.
	ClosedVersionInterval time.Duration
	// MemstoreLimitBytes is the size at which a memstore is frozen and dumped.
	MemstoreLimitBytes int64
	// PermanentOfflineTime is how long a server may be unreachable before
	// its replicas are re-created elsewhere.
	PermanentOfflineTime time.Duration
	// GossipProbeInterval, GossipProbeTimeout and GossipSuspicionMult are
	// memberlist's ProbeInterval, ProbeTimeout and SuspicionMult.
	// Invariant: GossipProbeTimeout < GossipProbeInterval.
	GossipProbeInterval time.Duration
	GossipProbeTimeout  time.Duration
	GossipSuspicionMult int
	// ClogSegmentBytes is the size clog segment files are preallocated to.
	ClogSegmentBytes int64
	// SSTableMemoryBytes is the memory budget of the server's badger
	// database (memtables and caches).
	SSTableMemoryBytes int64
	// CheckpointInterval is how often memstores are dumped and the clog
	// prefix truncated.
	CheckpointInterval time.Duration
	// VersionRetention is how long a key's overwritten versions stay
	// readable; older ones are garbage-collected (the sstable's safe point).
	VersionRetention time.Duration
	// RPCTimeout bounds one server-to-server RPC.
	RPCTimeout time.Duration
	// MemoryLimitBytes is each observer's soft memory limit (Go's
	// runtime/debug.SetMemoryLimit); 0 leaves it to GOMEMLIMIT or to none.
	// Invariant: 0, or above SSTableMemoryBytes + MemoryLimitHeadroom.
	MemoryLimitBytes int64
}

// MemoryLimitHeadroom is what memory_limit must leave above sstable_memory: the Paxos logs,
// memstores, gRPC buffers and the garbage collector's own working room.
const MemoryLimitHeadroom = 256 * MiB

// DefaultSettings returns the settings a file gets for every key it leaves
// out. docs/configuration.md says how each default was chosen.
func DefaultSettings() Settings {
	return Settings{
		Tick:                  10 * time.Millisecond,
		LeaseDuration:         500 * time.Millisecond,
		HeartbeatInterval:     50 * time.Millisecond,
		MaxClockDrift:         50 * time.Millisecond,
		ElectionLagEntries:    10000,
		ClosedVersionInterval: 50 * time.Millisecond,
		MemstoreLimitBytes:    int64(64 * MiB),
		PermanentOfflineTime:  3600 * time.Second,
		GossipProbeInterval:   200 * time.Millisecond,
		GossipProbeTimeout:    100 * time.Millisecond,
		GossipSuspicionMult:   2,
		ClogSegmentBytes:      int64(64 * MiB),
		SSTableMemoryBytes:    int64(512 * MiB),
		CheckpointInterval:    60 * time.Second,
		VersionRetention:      10 * time.Minute,
		RPCTimeout:            2 * time.Second,
	}
}

// LeaseTicks is LeaseDuration in ticks (exact: Validate requires a multiple).
func (s Settings) LeaseTicks() uint64 { return s.ticksCeil(s.LeaseDuration) }

// HeartbeatTicks is HeartbeatInterval in ticks (exact: Validate requires a
// multiple).
func (s Settings) HeartbeatTicks() uint64 { return s.ticksCeil(s.HeartbeatInterval) }

// MaxDriftTicks is how many ticks early a leader ends its lease: MaxClockDrift
// rounded up (a drift bound may only be overestimated), plus one tick. The extra
// tick covers the tick counters themselves: each server counts whole ticks from
// its own start, so a voter's count at a message's arrival can trail the
// leader's count at its sending by up to one tick of real time, and the voter's
// grant (counted from its arrival tick) would otherwise end before the leader's
// lease (counted from its send tick) even with perfect clocks.
func (s Settings) MaxDriftTicks() uint64 {
	if s.Tick <= 0 {
		return 0
	}
	return s.ticksCeil(s.MaxClockDrift) + 1
}

// leaseMargin is MaxDriftTicks as a duration: how much of each lease the
// leader does not use.
func (s Settings) leaseMargin() time.Duration { return time.Duration(s.MaxDriftTicks()) * s.Tick }

// ClosedVersionTicks is ClosedVersionInterval in ticks (exact: Validate
// requires a multiple).
func (s Settings) ClosedVersionTicks() uint64 { return s.ticksCeil(s.ClosedVersionInterval) }

// Ticks converts d to ticks, rounded up; 0 when d or Tick is not positive.
func (s Settings) Ticks(d time.Duration) uint64 { return s.ticksCeil(d) }

func (s Settings) ticksCeil(d time.Duration) uint64 {
	if d <= 0 || s.Tick <= 0 {
		return 0
	}
	return uint64((d + s.Tick - 1) / s.Tick)
}

// Validate checks every setting's range and the rules between them, naming
// the setting, its value and the rule. Errors wrap ErrInvalid.
func (s Settings) Validate() error {
	p := &problems{}
	s.validate(p)
	return p.err()
}

// settingKind is how a setting is written in YAML.
type settingKind int

const (
	kindDuration settingKind = iota // a Go duration string: "10ms", "1h30m"
	kindSize                        // a Size: "64MiB", "1048576"
	kindCount                       // a YAML integer
)

func (k settingKind) String() string {
	return [...]string{"duration", "size", "count"}[k]
}

// settingSpec describes one key of the settings section. Values are handled
// as int64: nanoseconds, bytes or a count.
type settingSpec struct {
	key      string
	kind     settingKind
	min, max int64
	meaning  string
	// field returns a pointer to the Settings field: *time.Duration,
	// *int64 or *int.
	field func(*Settings) any
}

// rangeText says sp's range, as the range check does.
func (sp *settingSpec) rangeText() string {
	return fmt.Sprintf("must be between %s and %s", sp.format(sp.min), sp.format(sp.max))
}

func (sp *settingSpec) get(s *Settings) int64 {
	switch f := sp.field(s).(type) {
	case *time.Duration:
		return int64(*f)
	case *int64:
		return *f
	case *int:
		return int64(*f)
	}
	panic("config: setting " + sp.key + " has a field of an unhandled type")
}

func (sp *settingSpec) set(s *Settings, v int64) {
	switch f := sp.field(s).(type) {
	case *time.Duration:
		*f = time.Duration(v)
	case *int64:
		*f = v
	case *int:
		*f = int(v)
	default:
		panic("config: setting " + sp.key + " has a field of an unhandled type")
	}
}

// format renders v the way the key is written in a file.
func (sp *settingSpec) format(v int64) string {
	switch sp.kind {
	case kindDuration:
		return formatDuration(time.Duration(v))
	case kindSize:
		return Size(v).String()
	}
	return strconv.FormatInt(v, 10)
}

// formatDuration is time.Duration.String without zero trailing units:
// 1h rather than 1h0m0s, 1m30s rather than 1m30s0ms (which String never
// writes anyway), 720h rather than 720h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
	}
	return s
}

const (
	ms  = int64(time.Millisecond)
	sec = int64(time.Second)
)

// settingSpecs lists the keys of the settings section in documentation
// order. The ranges are sanity bounds (a typo such as 500s for 500ms fails
// loudly); the rules between settings are in Settings.validate.
var settingSpecs = []settingSpec{
	{"tick", kindDuration, 1 * ms, 1 * sec,
		"unit of protocol time: the interval at which every replica's Paxos state machine is ticked",
		func(s *Settings) any { return &s.Tick }},
	{"lease", kindDuration, 4 * ms, 60 * sec,
		"how long a leader's lease lasts; a multiple of tick, at least 4 ticks",
		func(s *Settings) any { return &s.LeaseDuration }},
	{"heartbeat_interval", kindDuration, 1 * ms, 10 * sec,
		"how often a leader renews its lease and feeds its followers; a multiple of tick, under (lease - max_clock_drift - tick)/2",
		func(s *Settings) any { return &s.HeartbeatInterval }},
	{"max_clock_drift", kindDuration, 0, 10 * sec,
		"bound on how far two servers' clocks drift apart during one lease; the leader ends its lease this much (plus a tick) early; under lease - tick",
		func(s *Settings) any { return &s.MaxClockDrift }},
	{"election_lag_entries", kindCount, 1, 1 << 40,
		"a replica this many log entries behind the best voter may not win an election",
		func(s *Settings) any { return &s.ElectionLagEntries }},
	{"closed_version_interval", kindDuration, 1 * ms, 10 * sec,
		"how often leaders publish a closed version so weak reads advance on idle partitions; a multiple of tick",
		func(s *Settings) any { return &s.ClosedVersionInterval }},
	{"memstore_limit", kindSize, int64(MiB), int64(64 * GiB),
		"size at which a partition's memstore is frozen and dumped to the sstable",
		func(s *Settings) any { return &s.MemstoreLimitBytes }},
	{"permanent_offline_time", kindDuration, 1 * sec, 30 * 24 * 3600 * sec,
		"how long a server may be unreachable before the root service re-creates its replicas elsewhere",
		func(s *Settings) any { return &s.PermanentOfflineTime }},
	{"gossip_probe_interval", kindDuration, 10 * ms, 60 * sec,
		"memberlist ProbeInterval: how often each server probes one random peer",
		func(s *Settings) any { return &s.GossipProbeInterval }},
	{"gossip_probe_timeout", kindDuration, 1 * ms, 30 * sec,
		"memberlist ProbeTimeout: how long a probe waits for an ack (about the 99th percentile RTT); under gossip_probe_interval",
		func(s *Settings) any { return &s.GossipProbeTimeout }},
	{"gossip_suspicion_mult", kindCount, 1, 20,
		"memberlist SuspicionMult: a suspected server is declared dead after mult * max(1, log10(n)) * gossip_probe_interval",
		func(s *Settings) any { return &s.GossipSuspicionMult }},
	{"clog_segment_size", kindSize, int64(32 * MiB), int64(2 * GiB),
		"size each clog segment file is preallocated to (the format's limit is 2GiB)",
		func(s *Settings) any { return &s.ClogSegmentBytes }},
	{"sstable_memory", kindSize, int64(128 * MiB), int64(TiB),
		"memory budget of the server's sstable: badger's memtables, block cache and index cache, and the row cache",
		func(s *Settings) any { return &s.SSTableMemoryBytes }},
	{"checkpoint_interval", kindDuration, 1 * sec, 24 * 3600 * sec,
		"how often memstores are dumped and the clog prefix before the checkpoint is truncated",
		func(s *Settings) any { return &s.CheckpointInterval }},
	{"version_retention", kindDuration, 1 * sec, 30 * 24 * 3600 * sec,
		"how long overwritten and deleted versions stay readable (reads at a past version: lagging replicas, snapshot scans); older ones are garbage-collected",
		func(s *Settings) any { return &s.VersionRetention }},
	{"rpc_timeout", kindDuration, 10 * ms, 600 * sec,
		"bound on one server-to-server or client-to-server RPC",
		func(s *Settings) any { return &s.RPCTimeout }},
	{"memory_limit", kindSize, 0, int64(4 * TiB),
		"each observer's soft memory limit (Go's GC works harder as the heap nears it; not a hard cap); 0: none, or GOMEMLIMIT's; otherwise at least sstable_memory + 256MiB",
		func(s *Settings) any { return &s.MemoryLimitBytes }},
}

// settingKeys lists the keys of the settings section, in settingSpecs order.
func settingKeys() []string {
	keys := make([]string, len(settingSpecs))
	for i := range settingSpecs {
		keys[i] = settingSpecs[i].key
	}
	return keys
}

// SettingInfo documents one key of the settings section (for CLI help and
// the docs test).
type SettingInfo struct {
	Key     string // YAML key under settings:
	Kind    string // duration, size or count
	Default string // as it would be written in the file
	Min     string // smallest value the range check accepts
	Max     string // largest value the range check accepts
	Meaning string // one line
}

// SettingsInfo describes every key of the settings section, in
// documentation order.
func SettingsInfo() []SettingInfo {
	def := DefaultSettings()
	out := make([]SettingInfo, len(settingSpecs))
	for i := range settingSpecs {
		sp := &settingSpecs[i]
		out[i] = SettingInfo{
			Key: sp.key, Kind: sp.kind.String(), Default: sp.format(sp.get(&def)),
			Min: sp.format(sp.min), Max: sp.format(sp.max), Meaning: sp.meaning,
		}
	}
	return out
}

// validate reports every out-of-range setting, then the rules between
// settings whose inputs are in range (a rule over an out-of-range value would
// only repeat the first error).
func (s Settings) validate(p *problems) {
	bad := map[string]bool{}
	for i := range settingSpecs {
		sp := &settingSpecs[i]
		v := sp.get(&s)
		if v < sp.min || v > sp.max {
			bad[sp.key] = true
			p.at("settings."+sp.key, sp.format(v), "must be between %s and %s", sp.format(sp.min), sp.format(sp.max))
		}
	}
	ok := func(keys ...string) bool {
		for _, k := range keys {
			if bad[k] {
				return false
			}
		}
		return true
	}
	tick := s.Tick
	// Durations the paxos driver counts in ticks must be whole ticks, or the
	// protocol would silently run with a different value than the file says.
	for _, m := range []struct {
		key string
		d   time.Duration
	}{
		{"lease", s.LeaseDuration},
		{"heartbeat_interval", s.HeartbeatInterval},
		{"closed_version_interval", s.ClosedVersionInterval},
	} {
		if ok("tick", m.key) && m.d%tick != 0 {
			bad[m.key] = true
			p.at("settings."+m.key, formatDuration(m.d), "must be a multiple of tick (%s)", formatDuration(tick))
		}
	}
	if ok("tick", "lease") && s.LeaseDuration < 4*tick {
		bad["lease"] = true
		p.at("settings.lease", formatDuration(s.LeaseDuration),
			"must be at least 4 ticks (%s with tick %s) so a lease outlives a few heartbeats", formatDuration(4*tick), formatDuration(tick))
	}
	if ok("tick", "lease", "max_clock_drift") && s.leaseMargin() >= s.LeaseDuration {
		bad["max_clock_drift"] = true
		p.at("settings.max_clock_drift", formatDuration(s.MaxClockDrift),
			"must be at most lease - 2 ticks (%s): the leader ends its lease max_clock_drift (rounded up to ticks) plus one tick early, and must keep a tick of it",
			formatDuration(s.LeaseDuration-2*s.Tick))
	}
	// As paxos.Config.Validate: the leader's usable lease is lease minus the
	// margin (drift rounded up to ticks, plus a tick), and a renewal must fit
	// in it twice so one lost heartbeat does not cost the lease.
	if ok("tick", "lease", "max_clock_drift", "heartbeat_interval") && 2*s.HeartbeatInterval >= s.LeaseDuration-s.leaseMargin() {
		p.at("settings.heartbeat_interval", formatDuration(s.HeartbeatInterval),
			"must be under (lease - max_clock_drift - tick)/2 = %s (max_clock_drift rounded up to ticks) so a lease survives one lost renewal",
			formatDuration((s.LeaseDuration-s.leaseMargin())/2))
	}
	// memberlist probes directly, then indirectly within the same probe
	// interval; a timeout as long as the interval leaves no time for the
	// indirect probes.
	if ok("memory_limit", "sstable_memory") && s.MemoryLimitBytes != 0 && s.MemoryLimitBytes < s.SSTableMemoryBytes+int64(MemoryLimitHeadroom) {
		p.at("settings.memory_limit", Size(s.MemoryLimitBytes).String(),
			"must be 0 (no limit) or at least sstable_memory + 256MiB (%s), room for the Paxos logs, memstores and buffers beside the sstable's budget",
			Size(s.SSTableMemoryBytes+int64(MemoryLimitHeadroom)).String())
	}
	if ok("gossip_probe_interval", "gossip_probe_timeout") && s.GossipProbeTimeout >= s.GossipProbeInterval {
		p.at("settings.gossip_probe_timeout", formatDuration(s.GossipProbeTimeout),
			"must be under gossip_probe_interval (%s), which also holds the indirect probes", formatDuration(s.GossipProbeInterval))
	}
}
