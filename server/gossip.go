package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// nodeMeta is what a server tells the others about itself through memberlist.
type nodeMeta struct {
	Zone   string `json:"zone"`
	Region string `json:"region"`
	RPC    string `json:"rpc"`
	// Draining: the server is stopping and hands its leaderships over; it takes none.
	Draining bool `json:"draining,omitempty"`
}

// gossip tracks which servers are alive, with hashicorp/memberlist tuned (from the cluster
// file's settings) to notice a dead server within about a second on a LAN.
type gossip struct {
	s  *Server
	ml *memberlist.Memberlist

	mu   sync.Mutex
	meta []byte // this server's nodeMeta
	// downSince is when each server was last seen leaving; absent while it is alive.
	downSince map[string]time.Time
	alive     map[string]bool
	draining  map[string]bool // servers whose nodeMeta says Draining
}

func newGossip(s *Server) (*gossip, error) {
	g := &gossip{s: s, downSince: map[string]time.Time{}, alive: map[string]bool{}, draining: map[string]bool{}}
	b, _ := json.Marshal(nodeMeta{Zone: s.self.Zone, Region: s.cl.RegionOf(s.self.Zone), RPC: s.self.RPCAddr})
	g.meta = b
	host, portStr, err := net.SplitHostPort(s.self.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip_addr %q: %w", s.self.GossipAddr, err)
	}
	port, _ := strconv.Atoi(portStr)
	bindHost, bindPortStr, err := net.SplitHostPort(s.gossipListen())
	if err != nil {
		return nil, fmt.Errorf("gossip listen address %q: %w", s.gossipListen(), err)
	}
	bindPort, _ := strconv.Atoi(bindPortStr)
	st := s.cl.Settings
	c := memberlist.DefaultLANConfig()
	c.Name = s.self.Name
	c.BindAddr, c.BindPort = bindHost, bindPort
	c.AdvertiseAddr, c.AdvertisePort = host, port
	c.ProbeInterval = st.GossipProbeInterval
	c.ProbeTimeout = st.GossipProbeTimeout
	c.SuspicionMult = st.GossipSuspicionMult
	c.GossipInterval = 100 * time.Millisecond
	c.PushPullInterval = 5 * time.Second
	c.Delegate = g
	c.Events = g
	c.Logger = log.New(io.Discard, "", 0)
	// Start the clock for every peer: a server never seen alive counts as down from now.
	now := time.Now()
	for _, srv := range s.cl.Servers {
		if srv.Name != s.self.Name {
			g.downSince[srv.Name] = now
		}
	}
	g.alive[s.self.Name] = true
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{bindHost}, BindPort: bindPort, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", s.gossipListen(), err)
	}
	c.Transport = &boundTransport{NetTransport: nt, local: sourceIP(s.gossipListen())}
	ml, err := memberlist.Create(c)
	if err != nil {
		_ = nt.Shutdown()
		return nil, fmt.Errorf("gossip on %s: %w", s.self.GossipAddr, err)
	}
	g.ml = ml
	return g, nil
}

// boundTransport is memberlist's network transport with its TCP connections (push/pull state
// exchanges, fallback probes) made from the gossip address's host, like the peer transport's
// (see sourceIP). Its UDP packets already leave from the bound socket.
type boundTransport struct {
	*memberlist.NetTransport
	local net.IP // nil: let the system choose
}

func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if t.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: t.local}
	}
	return d.Dial("tcp", a.Addr)
}

// join keeps contacting the servers of the cluster file that are not live members, every
// rejoinInterval until stop closes: at startup until someone answers, and after a partition long
// enough for memberlist to declare the other side dead (memberlist does not merge two halves
// that both gave up on each other by itself).
func (g *gossip) join(stop <-chan struct{}) {
	for {
		var missing []string
		live := map[string]bool{}
		for _, m := range g.ml.Members() {
			live[m.Name] = true
		}
		for _, srv := range g.s.cl.Servers {
			if srv.Name != g.s.self.Name && !live[srv.Name] {
				missing = append(missing, srv.GossipAddr)
			}
		}
		if len(missing) > 0 {
			_, _ = g.ml.Join(missing)
		}
		select {
		case <-stop:
			return
		case <-time.After(rejoinInterval):
		}
	}
}

// rejoinInterval is how often a server re-contacts servers it does not see as members.
const rejoinInterval = time.Second

func (g *gossip) leave() {
	_ = g.ml.Leave(time.Second)
	_ = g.ml.Shutdown()
}

// Alive reports whether server name is a live member.
func (g *gossip) Alive(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.alive[name]
}

// DownFor is how long server name has been unreachable (0 when alive).
func (g *gossip) DownFor(name string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.alive[name] {
		return 0
	}
	if t, ok := g.downSince[name]; ok {
		return time.Since(t)
	}
	return 0
}

// startDraining tells the other servers that this one is stopping (nodeMeta.Draining), so that
// theirs do not wait for it to take leaderships (see Server.drain).
func (g *gossip) startDraining() {
	b, _ := json.Marshal(nodeMeta{Zone: g.s.self.Zone, Region: g.s.cl.RegionOf(g.s.self.Zone), RPC: g.s.self.RPCAddr, Draining: true})
	g.mu.Lock()
	g.meta = b
	g.mu.Unlock()
	_ = g.ml.UpdateNode(time.Second)
}

// CanLead reports whether server name may take leaderships over: a live member that is not
// draining.
func (g *gossip) CanLead(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.alive[name] && !g.draining[name]
}

// memberlist.Delegate
func (g *gossip) NodeMeta(limit int) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.meta
}
func (g *gossip) NotifyMsg([]byte)                       {}
func (g *gossip) GetBroadcasts(int, int) [][]byte        { return nil }
func (g *gossip) LocalState(join bool) []byte            { return nil }
func (g *gossip) MergeRemoteState(buf []byte, join bool) {}

// memberlist.EventDelegate
func (g *gossip) NotifyJoin(n *memberlist.Node) {
	g.set(n.Name, true)
	g.setDraining(n)
}
func (g *gossip) NotifyLeave(n *memberlist.Node)  { g.set(n.Name, false) }
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.setDraining(n) }

// setDraining records whether n's metadata says it is draining.
func (g *gossip) setDraining(n *memberlist.Node) {
	var m nodeMeta
	if err := json.Unmarshal(n.Meta, &m); err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.Draining {
		g.draining[n.Name] = true
	} else {
		delete(g.draining, n.Name) // restarted
	}
}

func (g *gossip) set(name string, alive bool) {
	if _, ok := g.s.cl.Server(name); !ok {
		return // not of this cluster file
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.alive[name] == alive {
		return
	}
	g.alive[name] = alive
	if alive {
		delete(g.downSince, name)
	} else {
		g.downSince[name] = time.Now()
	}
	g.s.log.Info("membership", "server", name, "alive", alive)
}
