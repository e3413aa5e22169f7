package realcluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// ReplicaRow is one row of `obctl show replicas -o json`.
type ReplicaRow struct {
	Tenant       string `json:"tenant"`
	Table        string `json:"table"`
	Partition    int    `json:"partition"`
	Server       string `json:"server"`
	Zone         string `json:"zone"`
	Type         string `json:"type"`
	Role         string `json:"role"`
	AppliedIndex uint64 `json:"applied_index"`
	Lag          uint64 `json:"lag"`
	Established  bool   `json:"established"`
}

// ServerRow is one row of `obctl show servers -o json`.
type ServerRow struct {
	Server string `json:"server"`
	Zone   string `json:"zone"`
	Region string `json:"region"`
	Status string `json:"status"`
}

// Replicas returns `show replicas` of one tenant.
func (c *Cluster) Replicas(ctx context.Context, tenant string) ([]ReplicaRow, error) {
	var rows []ReplicaRow
	err := c.Ctl(ctx, &rows, "show", "replicas", "--tenant", tenant)
	return rows, err
}

// Ready reports whether the root service of the cluster of file lists exactly servers servers,
// every one ACTIVE, and the meta partition has one leader; if not, it says what it saw. Suites
// wait on it (WaitFor) after starting a cluster.
func Ready(ctx context.Context, file string, servers int) (bool, string) {
	var rows []ServerRow
	if err := Ctl(ctx, file, &rows, "show", "servers"); err != nil {
		return false, err.Error()
	}
	active := 0
	for _, s := range rows {
		if s.Status == "ACTIVE" {
			active++
		}
	}
	if active != servers || len(rows) != servers {
		return false, fmt.Sprintf("servers: %+v", rows)
	}
	var replicas []ReplicaRow
	if err := Ctl(ctx, file, &replicas, "show", "replicas", "--tenant", "sys"); err != nil {
		return false, err.Error()
	}
	_, msg := Leaders(replicas, "__all_meta", 1)
	return msg == "", msg
}

// Leaders returns the leader row of each of the parts partitions of table, or, when some
// partition has no leader or more than one, a description of the replicas.
func Leaders(rows []ReplicaRow, table string, parts int) (map[int]ReplicaRow, string) {
	out := map[int]ReplicaRow{}
	count := map[int]int{}
	for _, r := range rows {
		if r.Table != table || r.Role != "LEADER" {
			continue
		}
		out[r.Partition] = r
		count[r.Partition]++
	}
	for p := 0; p < parts; p++ {
		if count[p] != 1 {
			return nil, fmt.Sprintf("partition %d of %s has %d leaders: %s", p, table, count[p], Describe(rows, table))
		}
	}
	return out, ""
}

// Describe lists the replicas of table compactly, with their applied index:
// "p0: s1/z1/F/LEADER@12 s2/z2/F/FOLLOWER@12; p1: ...".
func Describe(rows []ReplicaRow, table string) string {
	by := map[int][]string{}
	var parts []int
	for _, r := range rows {
		if r.Table != table {
			continue
		}
		if _, ok := by[r.Partition]; !ok {
			parts = append(parts, r.Partition)
		}
		ty := r.Type
		if ty != "" {
			ty = ty[:1]
		}
		by[r.Partition] = append(by[r.Partition], fmt.Sprintf("%s/%s/%s/%s@%d", r.Server, r.Zone, ty, r.Role, r.AppliedIndex))
	}
	sort.Ints(parts)
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "p%d: %s; ", p, strings.Join(by[p], " "))
	}
	return strings.TrimSuffix(b.String(), "; ")
}
