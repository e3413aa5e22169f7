package server

import (
	"obkv/api"
	"obkv/paxos"
)

// Conversions between paxos messages and their protobuf form. Bytes from the network are
// untrusted: conversion only maps fields; paxos.Node.Step validates what it receives.

func toBallot(b paxos.Ballot) *api.Ballot {
	if b.IsZero() {
		return nil
	}
	return &api.Ballot{Round: b.Round, Node: uint64(b.Node)}
}

func fromBallot(b *api.Ballot) paxos.Ballot {
	if b == nil {
		return paxos.Ballot{}
	}
	return paxos.Ballot{Round: b.Round, Node: paxos.ID(b.Node)}
}

func toMeta(m *paxos.SnapshotMeta) *api.SnapshotMeta {
	if m == nil {
		return nil
	}
	out := &api.SnapshotMeta{Index: m.Index, Ballot: toBallot(m.Ballot), Version: m.Version,
		ClosedVersion: m.Closed.Version, ClosedIndex: m.Closed.Index}
	for _, x := range m.Membership.Members {
		out.Members = append(out.Members, &api.Member{Id: uint64(x.ID), Type: uint32(x.Type), Upstream: uint64(x.Upstream)})
	}
	return out
}

func fromMeta(m *api.SnapshotMeta) *paxos.SnapshotMeta {
	if m == nil {
		return nil
	}
	out := &paxos.SnapshotMeta{Index: m.Index, Ballot: fromBallot(m.Ballot), Version: m.Version,
		Closed: paxos.Closed{Version: m.ClosedVersion, Index: m.ClosedIndex}}
	for _, x := range m.Members {
		out.Membership.Members = append(out.Membership.Members, paxos.Member{ID: paxos.ID(x.Id), Type: paxos.ReplicaType(x.Type), Upstream: paxos.ID(x.Upstream)})
	}
	return out
}

func toWire(m paxos.Message) *api.PaxosMessage {
	// A message's ballots are mostly one ballot, its entries' too: each distinct one is
	// allocated once, and the entries in one slice (a leader's accepts allocated an api.Ballot
	// and an api.Entry per entry, some 20 objects per write).
	var last paxos.Ballot
	var lastWire *api.Ballot
	ballot := func(b paxos.Ballot) *api.Ballot {
		if b != last || lastWire == nil {
			last, lastWire = b, toBallot(b)
		}
		return lastWire
	}
	w := &api.PaxosMessage{
		Type: uint32(m.Type), From: uint64(m.From), To: uint64(m.To), Ballot: ballot(m.Ballot),
		Index: m.Index, LogBallot: ballot(m.LogBallot), Commit: m.Commit, First: m.First, Hint: m.Hint,
		Tick: m.Tick, Reject: m.Reject, Promised: ballot(m.Promised), Transfer: m.Transfer,
		ClosedFloor: m.ClosedFloor, ClosedVersion: m.Closed.Version, ClosedIndex: m.Closed.Index,
		Snapshot: toMeta(m.Snapshot), RequestId: m.RequestID, WantSnapshot: m.WantSnapshot,
	}
	if m.Priority != (paxos.Priority{}) {
		w.Priority = &api.Priority{Healthy: m.Priority.Healthy, Designated: m.Priority.Designated, ZoneRank: m.Priority.ZoneRank}
	}
	if len(m.Entries) > 0 {
		w.Entries = make([]*api.Entry, len(m.Entries))
		es := make([]api.Entry, len(m.Entries))
		for i, e := range m.Entries {
			es[i] = api.Entry{Index: e.Index, Ballot: ballot(e.Ballot), Type: uint32(e.Type), Version: e.Version, Data: e.Data}
			w.Entries[i] = &es[i]
		}
	}
	return w
}

func fromWire(w *api.PaxosMessage) paxos.Message {
	m := paxos.Message{
		Type: paxos.MessageType(w.Type), From: paxos.ID(w.From), To: paxos.ID(w.To), Ballot: fromBallot(w.Ballot),
		Index: w.Index, LogBallot: fromBallot(w.LogBallot), Commit: w.Commit, First: w.First, Hint: w.Hint,
		Tick: w.Tick, Reject: w.Reject, Promised: fromBallot(w.Promised), Transfer: w.Transfer,
		ClosedFloor: w.ClosedFloor, Closed: paxos.Closed{Version: w.ClosedVersion, Index: w.ClosedIndex},
		Snapshot: fromMeta(w.Snapshot), RequestID: w.RequestId, WantSnapshot: w.WantSnapshot,
	}
	if w.Type > 255 {
		m.Type = 0 // refused by Step as unknown
	}
	if p := w.Priority; p != nil {
		m.Priority = paxos.Priority{Healthy: p.Healthy, Designated: p.Designated, ZoneRank: p.ZoneRank}
	}
	if len(w.Entries) > 0 {
		m.Entries = make([]paxos.Entry, len(w.Entries))
		for i, e := range w.Entries {
			m.Entries[i] = paxos.Entry{Index: e.Index, Ballot: fromBallot(e.Ballot), Type: paxos.EntryType(e.Type), Version: e.Version, Data: e.Data}
		}
	}
	return m
}
