package rootservice

import (
	"encoding/json"
	"fmt"
	"slices"

	"obkv/paxos"
	"obkv/tenant"
)

// MetaPartition is the partition id of the meta partition. Data partitions get
// tableID<<16 | index+1, so they never collide with it.
const MetaPartition uint64 = 1

// metaKey is the key of the meta partition that holds the whole Meta document.
var metaKey = []byte("meta")

// Meta is the cluster metadata the root service keeps in the meta partition: the tenant
// catalog, where units and partition replicas are placed, and the leader designations.
type Meta struct {
	Catalog tenant.Catalog          `json:"catalog"`
	Units   []tenant.UnitAssignment `json:"unit_assignments,omitempty"`
	// Partitions of every table, sorted by ID.
	Partitions []Partition `json:"partitions,omitempty"`
	Jobs       []Job       `json:"jobs,omitempty"`
}

// Partition is one partition of a table and where its replicas are.
type Partition struct {
	ID       uint64                    `json:"id"`
	Tenant   string                    `json:"tenant"`
	Table    string                    `json:"table"`
	Index    int                       `json:"index"`
	Replicas []tenant.ReplicaPlacement `json:"replicas"`
	// Pinned names the server an operator switched leadership to (switch-leader); "" lets the
	// primary_zone policy decide.
	Pinned string `json:"pinned,omitempty"`
	// Established: the root service has seen a leader of this group serve. A replica created
	// for it from then on starts, if fresh, as one that lost its data (paxos.Config.Established):
	// it never takes recovery's new-group exit, which a majority that lost its data would
	// take while the replicas holding the group are down.
	Established bool `json:"established,omitempty"`
}

// Job is a long-running change (a locality or primary_zone change) whose progress can be
// watched with `obctl show jobs`.
type Job struct {
	ID       uint64 `json:"id"`
	Kind     string `json:"kind"`
	Tenant   string `json:"tenant"`
	Detail   string `json:"detail"`
	State    string `json:"state"` // running, done, failed
	Progress string `json:"progress"`
	// Steps of a locality change, run one at a time over every partition of the tenant;
	// Step is the index of the one running, Started whether its placement change was made.
	Steps   []tenant.LocalityStep `json:"steps,omitempty"`
	Step    int                   `json:"step,omitempty"`
	Started bool                  `json:"started,omitempty"`
}

// PartitionID returns the id of partition index of table tableID.
func PartitionID(tableID uint64, index int) uint64 { return tableID<<16 | uint64(index+1) }

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("rootservice: meta document: %w", err)
	}
	return m, nil
}

func (m Meta) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("rootservice: encode meta: %v", err))
	}
	return b
}

func (m *Meta) clone() Meta {
	var out Meta
	_ = json.Unmarshal(m.encode(), &out)
	return out
}

func (m *Meta) partition(id uint64) *Partition {
	i, ok := slices.BinarySearchFunc(m.Partitions, id, func(p Partition, id uint64) int {
		switch {
		case p.ID < id:
			return -1
		case p.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return &m.Partitions[i]
}

// Assignment is one replica a server should host, with the group's membership and the election
// priority it should carry.
type Assignment struct {
	Partition uint64            `json:"partition"`
	Type      paxos.ReplicaType `json:"type"`
	Members   []paxos.Member    `json:"members"`
	Priority  paxos.Priority    `json:"priority"`
	// Join: the group already runs without this replica: start it with no membership; it
	// learns the group from the leader (snapshot, then log) once the leader adds it.
	Join bool `json:"join,omitempty"`
	// Change, on the leader's assignment, is the next membership change to propose.
	Change *paxos.ConfChange `json:"change,omitempty"`
	// Established: the group has run (Partition.Established); a fresh replica of it is
	// created with paxos.Config.Established.
	Established bool `json:"established,omitempty"`
	// KeepOnly: the placement no longer wants this replica, but its group may still count it:
	// a server hosting it keeps it; a server that does not never creates it. Created from a
	// leader report that is out of date (the group removed it meanwhile), it would be an empty
	// voter under a membership it left: a voter that forgot what it accepted and promised.
	KeepOnly bool `json:"keep_only,omitempty"`
}

// ReplicaReport is one replica as its server sees it.
type ReplicaReport struct {
	Partition uint64            `json:"partition"`
	Type      paxos.ReplicaType `json:"type"`
	Role      string            `json:"role"`
	Serving   bool              `json:"serving"`
	Leader    uint64            `json:"leader"`
	Applied   uint64            `json:"applied"`
	Commit    uint64            `json:"commit"`
	Last      uint64            `json:"last"`
	Readable  uint64            `json:"readable_version"`
	// Ballot is the replica's ballot: of the replicas reporting themselves serving (an old
	// leader's last report can still be recent), the highest ballot leads.
	Ballot paxos.Ballot `json:"ballot"`
	// Recovering: it started without durable state and does not vote yet
	// (paxos/recovery.go); the group's membership stays as it is meanwhile.
	Recovering bool `json:"recovering,omitempty"`
	// Members is the group's membership as this replica sees it (from leaders).
	Members []paxos.Member `json:"members,omitempty"`
}

// Report is what a server tells the root service every few hundred milliseconds.
type Report struct {
	Server   string          `json:"server"`
	Replicas []ReplicaReport `json:"replicas"`
}

// ReportReply lists the replicas the server should host, and every table (so the server can
// check which partition a key belongs to).
type ReportReply struct {
	Assignments []Assignment `json:"assignments"`
	Tables      []TableRef   `json:"tables,omitempty"`
}

// TableRef is what a server needs to route a key: the table's id and partition count.
type TableRef struct {
	Tenant     string `json:"tenant"`
	Name       string `json:"name"`
	ID         uint64 `json:"id"`
	Partitions int    `json:"partitions"`
}

// Location is where one partition's replicas are, for clients.
type Location struct {
	Index    int               `json:"index"`
	ID       uint64            `json:"id"`
	Replicas []ReplicaLocation `json:"replicas"`
}

// ReplicaLocation is one replica of a Location.
type ReplicaLocation struct {
	Server   string            `json:"server"`
	Zone     string            `json:"zone"`
	Region   string            `json:"region"`
	RPCAddr  string            `json:"rpc_addr"`
	Type     paxos.ReplicaType `json:"type"`
	Leader   bool              `json:"leader"`
	Alive    bool              `json:"alive"`
	Readable uint64            `json:"readable_version"`
}

// ruleError is an error whose message is exactly the rule broken (no sentinel prefix), like the
// tenant package's, while errors.Is still matches its sentinel.
type ruleError struct {
	sentinel error
	msg      string
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.sentinel }

func ruleErrorf(sentinel error, format string, args ...any) error {
	return &ruleError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}
