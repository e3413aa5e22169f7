// Package sim is the deterministic cluster simulator that proves the Paxos core (paxos/).
//
// See docs/simulator.md for the full description.
package sim
