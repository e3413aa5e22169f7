package replica

import (
	"encoding/json"
	"fmt"

	"obkv/paxos"
)

// persistedState is what a replica keeps in its clog state record: the Paxos hard state and the
// snapshot point its log was compacted to (with the membership in force there), so a restart can
// rebuild the Node from the clog alone plus the sstable checkpoint. JSON: small, rare
// (written with hard-state changes), and readable when debugging a data directory.
type persistedState struct {
	Hard paxos.HardState    `json:"hard"`
	Snap paxos.SnapshotMeta `json:"snap"`
	// Type is this replica's type when it was created (decides whether it keeps data).
	Type paxos.ReplicaType `json:"type"`
}

func (s persistedState) encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("replica: encode state: %v", err)) // plain structs always marshal
	}
	return b
}

func decodeState(b []byte) (persistedState, error) {
	var s persistedState
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("replica: state record: %w", err)
	}
	return s, nil
}
