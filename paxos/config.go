package paxos

import "fmt"

// Config holds one replica's identity and protocol tunables. Every duration is in ticks: the
// driver calls Tick at a fixed interval (the server's `tick` setting, 10 ms by default).
type Config struct {
	// ID of this replica. Must be non-zero.
	ID ID

	// LeaseTicks is how long a voter's grant lasts, counted by the voter from when it receives
	// the request or renewal. A voter grants one lease at a time.
	LeaseTicks uint64
	// MaxDriftTicks bounds how far two replicas' clocks may drift apart during one lease. The
	// leader counts its lease as LeaseTicks-MaxDriftTicks from when it *sent* the request, so
	// its lease ends before any granter's grant does (DESIGN.md invariant 2).
	MaxDriftTicks uint64
	// HeartbeatTicks is how often a leader renews its lease and a replica feeds its cascaded
	// listeners. Must be well below LeaseTicks-MaxDriftTicks.
	HeartbeatTicks uint64
	// CampaignTicks is how long a candidate waits for grants before it gives up and releases them.
	CampaignTicks uint64
	// RankStaggerTicks delays a candidate per step of lower priority after a lease expires, so
	// the highest-priority live replica usually asks first.
	RankStaggerTicks uint64
	// ElectionJitterTicks adds a seeded random delay in [0, ElectionJitterTicks) to each
	// campaign so equal-priority replicas rarely collide.
	ElectionJitterTicks uint64
	// TransferTicks bounds how long a leader waits for a transfer target to catch up before it
	// gives the transfer up and serves again.
	TransferTicks uint64
	// ElectionLagEntries is the log-progress gate: a FULL voter refuses its lease to a candidate
	// whose last index is more than this many entries behind its own (it can do better itself),
	// and a leader hands leadership back only to a replica within this distance.
	ElectionLagEntries uint64

	// MaxMsgEntries and MaxMsgBytes bound the entries of one MsgAccept (batching).
	MaxMsgEntries uint64
	MaxMsgBytes   uint64
	// MaxInflightMsgs and MaxInflightBytes bound the sliding window per peer: sent but not yet
	// acknowledged.
	MaxInflightMsgs  uint64
	MaxInflightBytes uint64
	// MaxUncommittedEntries bounds the entries a leader holds that are not chosen yet; Propose
	// fails with ErrBusy beyond it.
	MaxUncommittedEntries uint64

	// Established: the driver knows this group has run (the root service saw a leader of it).
	// A replica of it that starts with nothing stored is then one that lost its data, never a
	// new group's: it does not take recovery's new-group exit (recovery.go), which a majority
	// that lost its data would take while the replicas holding the group are down, and
	// recovers only through a barrier or an operator (ForceEndRecovery).
	Established bool

	// Seed seeds the election jitter. Replicas of one group should have different seeds.
	Seed uint64

	// Mutation deliberately breaks one safety rule. It exists only so tests can prove that the
	// simulator's checkers catch a broken protocol; it must be MutationNone in production.
	Mutation Mutation
}

// DefaultConfig returns the defaults for replica id: with a 10 ms tick, a 500 ms lease renewed
// every 50 ms, as the failover target (a write gap under 1 s after a leader dies) needs.
func DefaultConfig(id ID) Config {
	return Config{
		ID:                    id,
		LeaseTicks:            50,
		MaxDriftTicks:         5,
		HeartbeatTicks:        5,
		CampaignTicks:         20,
		RankStaggerTicks:      4,
		ElectionJitterTicks:   3,
		TransferTicks:         100,
		ElectionLagEntries:    10000,
		MaxMsgEntries:         512,
		MaxMsgBytes:           1 << 20,
		MaxInflightMsgs:       64,
		MaxInflightBytes:      16 << 20,
		MaxUncommittedEntries: 100000,
		Seed:                  uint64(id),
	}
}

// lapseTicks is how long a leader whose lease ran out keeps its ballot, renewing, before it
// steps down (tickLeader): half a lease. Longer would delay failover where the leader is heard
// but cannot hear (its renewals keep the voters' grants; stepDownIfRefused does not see it);
// the stalls that made leases lapse under load were mostly shorter (docs/performance.md).
func (c *Config) lapseTicks() uint64 { return c.LeaseTicks / 2 }

// Validate rejects zero and contradictory values, naming the field, the value and the rule.
func (c Config) Validate() error {
	type rule struct {
		name string
		v    uint64
	}
	for _, r := range []rule{
		{"ID", uint64(c.ID)}, {"LeaseTicks", c.LeaseTicks}, {"HeartbeatTicks", c.HeartbeatTicks},
		{"CampaignTicks", c.CampaignTicks}, {"TransferTicks", c.TransferTicks},
		{"ElectionLagEntries", c.ElectionLagEntries}, {"MaxMsgEntries", c.MaxMsgEntries},
		{"MaxMsgBytes", c.MaxMsgBytes}, {"MaxInflightMsgs", c.MaxInflightMsgs},
		{"MaxInflightBytes", c.MaxInflightBytes}, {"MaxUncommittedEntries", c.MaxUncommittedEntries},
	} {
		if r.v == 0 {
			return fmt.Errorf("%w: %s is 0: it must be positive", ErrInvalidConfig, r.name)
		}
	}
	if c.MaxDriftTicks >= c.LeaseTicks {
		return fmt.Errorf("%w: MaxDriftTicks %d must be below LeaseTicks %d", ErrInvalidConfig, c.MaxDriftTicks, c.LeaseTicks)
	}
	if 2*c.HeartbeatTicks >= c.LeaseTicks-c.MaxDriftTicks {
		return fmt.Errorf("%w: HeartbeatTicks %d must be below half of LeaseTicks-MaxDriftTicks (%d) so a lease survives one lost renewal",
			ErrInvalidConfig, c.HeartbeatTicks, c.LeaseTicks-c.MaxDriftTicks)
	}
	if c.Mutation >= mutationCount {
		return fmt.Errorf("%w: Mutation %d is unknown", ErrInvalidConfig, c.Mutation)
	}
	return nil
}

// Mutation names a deliberately broken variant of the protocol (tests only).
type Mutation uint8

const (
	// MutationNone is the correct protocol.
	MutationNone Mutation = iota
	// MutationReadOnlyQuorum counts READONLY acknowledgements toward the commit quorum.
	MutationReadOnlyQuorum
	// MutationSkipReconfirm lets a new leader serve at once with its own log, without phase 1
	// over the log suffix.
	MutationSkipReconfirm
	// MutationDoubleLease lets a voter grant a lease while it holds another valid one.
	MutationDoubleLease
	// MutationLogOnlyLeads lets LOGONLY replicas stand for election.
	MutationLogOnlyLeads
	// MutationAckBeforePersist counts the leader's own entries as accepted before they are
	// persisted.
	MutationAckBeforePersist
	// MutationClosedGoesBack makes a new leader ignore the closed-version floor of its majority.
	MutationClosedGoesBack
	// MutationAmnesiaVotes lets a replica that starts with no durable state (one whose data
	// was lost) vote at once instead of recovering first.
	MutationAmnesiaVotes
	mutationCount
)

var mutationNames = [...]string{
	MutationNone:             "none",
	MutationReadOnlyQuorum:   "readonly-quorum",
	MutationSkipReconfirm:    "skip-reconfirm",
	MutationDoubleLease:      "double-lease",
	MutationLogOnlyLeads:     "logonly-leads",
	MutationAckBeforePersist: "ack-before-persist",
	MutationClosedGoesBack:   "closed-goes-back",
	MutationAmnesiaVotes:     "amnesia-votes",
}

func (m Mutation) String() string {
	if m < mutationCount {
		return mutationNames[m]
	}
	return fmt.Sprintf("Mutation(%d)", uint8(m))
}

// Mutations lists every deliberately broken variant (not MutationNone).
func Mutations() []Mutation {
	out := make([]Mutation, 0, mutationCount-1)
	for m := MutationNone + 1; m < mutationCount; m++ {
		out = append(out, m)
	}
	return out
}

// ParseMutation returns the mutation with the given name.
func ParseMutation(name string) (Mutation, error) {
	for m := MutationNone; m < mutationCount; m++ {
		if mutationNames[m] == name {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: mutation %q is unknown (known: %v)", ErrInvalidConfig, name, mutationNames[1:])
}
