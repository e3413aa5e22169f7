// Package sim is the deterministic cluster simulator that proves the Paxos core (paxos/).
//
// One run is one Paxos group of paxos.Node replicas driven in one goroutine from one seed: a
// math/rand/v2 PCG seeded from it makes every choice (topology, fault rates, message delays,
// crashes, client operations), and a global step counter is simulated time. The same seed
// replays the same run exactly (TestDeterministic).
//
// # Driver
//
// Each step: faults (crashes, restarts, partitions), then every live replica ticks at its own
// clock rate (drift), then due messages are delivered, snapshot fetches retried, client
// operations issued, checkpoints taken. After every call into a Node the driver checks the
// invariants, then handles its Ready in the order paxos.Ready demands: write and sync the hard
// state and entries to the replica's simulated disk, send the messages, apply the committed
// entries to the replica's MVCC state machine, answer read states, then Advance. A crash may
// hit between the write and the sync (a "torn" write: a prefix of the record stream survives,
// each surviving entry replacing the stored one at its index). A restart boots from the disk
// only: hard state, checkpoint (snapshot meta and state machine), entries after it. On half the
// seeds some writes are slow: the Ready stays handed out for several steps while the driver
// goes on ticking and stepping the node and sends what Node.TakeEarly gives, as the server's
// pollers do through a slow write.
//
// # Invariants (DESIGN.md), checked after every call into a Node and every step
//
//   - 1: a value chosen at an index never changes: every replica applies the same value
//     (compared by value, not ballot) at each index (Checker.Applied).
//   - 2: at most one replica is Serving at any instant (Checker.Serving).
//   - 3: LOGONLY and READONLY replicas never have role Leader (Checker.Role); whenever a
//     leader's commit index moves, a majority of the voters of its membership durably hold the
//     value at every newly committed index (Checker.Commit): this catches READONLY replicas
//     counted in a quorum and entries acknowledged before they are persisted.
//   - 4: each replica applies indexes in order without gaps; its applied index goes back only
//     to its durable checkpoint on restart (Checker.Applied, Checker.Started).
//   - 5: closed versions never go back on a live replica, no chosen entry after a published
//     closed version's index carries a version at or below it, chosen versions ascend
//     (Checker.Closed, Checker.Applied); every weak read at a replica's readable version returns
//     exactly the latest chosen write at or below that version (Checker.WeakReads); the strong
//     history (puts and ReadIndex/lease reads) is linearizable (porcupine).
//
// Each checker has a test that feeds it a known-bad case (check_test.go), and
// TestMutationsAreCaught runs every deliberately broken protocol (paxos.Mutations) until the
// simulator catches it.
//
// # Phases
//
// A safety phase of Options.SafetySteps steps with faults, then every fault is healed (reliable
// network, every replica restarted) and the liveness phase must, within Options.LivenessSteps,
// see the highest-priority live FULL replica serve, commit a new write and every live member
// apply it.
//
// See docs/simulator.md for the fault model, the numbers and the bugs the simulator found.
package sim
