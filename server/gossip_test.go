package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"obkv/config"
	"obkv/paxos"
)

// threeServers is a cluster of servers s1, s2, s3 in zones z1, z2, z3, their data directories in
// a directory of the test's own.
func threeServers(t *testing.T) *config.Cluster {
	t.Helper()
	cl, err := config.Parse([]byte(`
cluster: c
regions: [{name: r1, zones: [z1, z2, z3]}]
servers:
  - {name: s1, zone: z1, rpc_addr: 127.0.0.1:1, gossip_addr: 127.0.0.1:2, data_dir: d1}
  - {name: s2, zone: z2, rpc_addr: 127.0.0.1:3, gossip_addr: 127.0.0.1:4, data_dir: d2}
  - {name: s3, zone: z3, rpc_addr: 127.0.0.1:5, gossip_addr: 127.0.0.1:6, data_dir: d3}
`), "c.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// A draining server announces it in its metadata; the others then do not count it as a server
// that can take a leadership over, so a drain of every server at once does not wait for one.
func TestDrainingServersCannotTakeOver(t *testing.T) {
	cl := threeServers(t)
	s := &Server{cl: cl, self: cl.Servers[0], log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	g := &gossip{s: s, alive: map[string]bool{"s1": true}, downSince: map[string]time.Time{}, draining: map[string]bool{}}
	s.gsp = g
	node := func(name string, draining bool) *memberlist.Node {
		b, _ := json.Marshal(nodeMeta{Zone: "z", Draining: draining})
		return &memberlist.Node{Name: name, Meta: b}
	}
	voters := []paxos.ID{1, 2, 3}
	if s.canHandOver(voters) {
		t.Fatal("s2 and s3 were never seen, yet could take over")
	}
	g.NotifyJoin(node("s2", false))
	g.NotifyJoin(node("s3", false))
	if !s.canHandOver(voters) {
		t.Fatal("live s2 and s3 cannot take over")
	}
	g.NotifyUpdate(node("s2", true))
	if !s.canHandOver(voters) || g.CanLead("s2") {
		t.Fatal("with s2 draining, s3 alone should be able to take over")
	}
	g.NotifyUpdate(node("s3", true))
	if s.canHandOver(voters) {
		t.Fatal("every other server drains, yet one could take over")
	}
	g.NotifyLeave(node("s3", true))
	g.NotifyJoin(node("s3", false)) // restarted
	if !s.canHandOver(voters) || !g.CanLead("s3") {
		t.Fatal("restarted s3 cannot take over")
	}
	if s.canHandOver([]paxos.ID{1}) {
		t.Fatal("a partition with only this voter has nobody to hand over to")
	}
}
