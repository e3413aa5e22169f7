// Package faultproxy forwards TCP connections and UDP datagrams to processes on loopback and
// cuts them per direction between named nodes, so that tests can partition real processes on
// one machine without root, network namespaces or containers.
//
// Contract:
//
//   - A Net knows the nodes by source address: AddHost maps an IP to a node. Traffic from any
//     other address belongs to the node named when the Net was made (the test's clients). Every
//     node must therefore send from an address of its own: each server of a test cluster gets its
//     own 127.0.0.0/8 address, listens there and binds its outgoing connections to it.
//   - A proxy stands for one node (to): ListenTCP and ListenUDP accept what other nodes send to
//     that node's public address and forward it to where the node really listens.
//   - Cut(from, to) stops the traffic of that direction on every proxy at once; Heal restores it.
//     UDP datagrams of a cut direction are dropped (and counted). TCP bytes of a cut direction
//     are not forwarded: the proxy stops reading them, so they wait in the sender's socket buffer
//     (and, when a read was under way, in the proxy) and flow once the direction is healed, as
//     TCP's retransmissions deliver them after a partition shorter than their timeout. A cut
//     direction also holds a connection's end-of-stream. The other direction is independent:
//     cutting one way of a TCP connection leaves the other way flowing.
//   - A new TCP connection is accepted and its target dialed whatever the cuts: if the target
//     is down the connection is closed at once (as a refused connection), otherwise the cuts
//     apply to it like to any other.
//   - UDP is forwarded one way only: replies of the target must go to an address the sender
//     gave in the message (memberlist's ping carries its source address), not to the datagram's
//     source, which is the proxy's.
//   - Close stops every proxy of the Net, closes their connections and ends every goroutine.
//
// Every method is safe for concurrent use.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// link is one direction between two nodes.
type link struct{ from, to string }

// Net is a set of proxies and the cuts they obey.
type Net struct {
	other string // the node of every address AddHost did not name

	mu    sync.Mutex
	hosts map[netip.Addr]string
	cut   map[link]bool
	// changed is closed (and replaced) whenever a cut is healed, and at Close: blocked
	// forwarders wait on it.
	changed chan struct{}
	closed  bool
	proxies []io.Closer
	dropped map[link]*atomic.Uint64
}

// New returns a Net with no cuts. other names the node of sources AddHost does not know.
func New(other string) *Net {
	return &Net{other: other, hosts: map[netip.Addr]string{}, cut: map[link]bool{},
		changed: make(chan struct{}), dropped: map[link]*atomic.Uint64{}}
}

// AddHost says that traffic from ip comes from node.
func (n *Net) AddHost(ip netip.Addr, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts[ip.Unmap()] = node
}

// NodeOf returns the node traffic from addr belongs to.
func (n *Net) NodeOf(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if node, ok := n.hosts[ip.Unmap()]; ok {
		return node
	}
	return n.other
}

// Cut stops the traffic from node from to node to.
func (n *Net) Cut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[link{from, to}] = true
}

// Heal restores the traffic from node from to node to.
func (n *Net) Heal(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[link{from, to}] {
		delete(n.cut, link{from, to})
		n.wakeLocked()
	}
}

// HealAll removes every cut.
func (n *Net) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.cut) > 0 {
		n.cut = map[link]bool{}
		n.wakeLocked()
	}
}

func (n *Net) wakeLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Blocked reports whether the traffic from node from to node to is cut.
func (n *Net) Blocked(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[link{from, to}]
}

// Dropped is how many UDP datagrams from node from to node to were dropped so far.
func (n *Net) Dropped(from, to string) uint64 {
	return n.counter(from, to).Load()
}

func (n *Net) counter(from, to string) *atomic.Uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.dropped[link{from, to}]
	if c == nil {
		c = new(atomic.Uint64)
		n.dropped[link{from, to}] = c
	}
	return c
}

// waitOpen blocks while the direction from->to is cut. It returns false once the Net or done
// closes.
func (n *Net) waitOpen(from, to string, done <-chan struct{}) bool {
	for {
		n.mu.Lock()
		closed, cut, ch := n.closed, n.cut[link{from, to}], n.changed
		n.mu.Unlock()
		switch {
		case closed:
			return false
		case !cut:
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

func (n *Net) add(p io.Closer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("faultproxy: the net is closed")
	}
	n.proxies = append(n.proxies, p)
	return nil
}

// Close stops every proxy and waits for their goroutines.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.wakeLocked()
	ps := n.proxies
	n.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// TCPProxy forwards the TCP connections made to one address to a target address.
type TCPProxy struct {
	n      *Net
	node   string
	target string
	lis    net.Listener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// ListenTCP listens on addr for connections to node and forwards each to target.
func (n *Net) ListenTCP(addr, target, node string) (*TCPProxy, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: tcp proxy of %s on %s: %w", node, addr, err)
	}
	p := &TCPProxy{n: n, node: node, target: target, lis: lis, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	if err := n.add(p); err != nil {
		_ = lis.Close()
		return nil, err
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *TCPProxy) Addr() string { return p.lis.Addr().String() }

func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		_ = c.Close()
		return false
	default:
	}
	p.conns[c] = true
	return true
}

func (p *TCPProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or the like: retry shortly, as net/http's Server does.
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		from := p.n.NodeOf(c.RemoteAddr())
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			t, err := net.Dial("tcp", p.target)
			if err != nil {
				return // the target is down: the caller sees its connection closed
			}
			if !p.track(t) {
				return
			}
			defer p.untrack(t)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(t, c, from, p.node) }()
			go func() { defer wg.Done(); p.pipe(c, t, p.node, from) }()
			wg.Wait()
		}()
	}
}

// pipe copies src to dst while the direction from->to is open. At the end of src it closes
// dst's write side; on an error it closes both.
func (p *TCPProxy) pipe(dst, src net.Conn, from, to string) {
	buf := make([]byte, 32<<10)
	for {
		if !p.n.waitOpen(from, to, p.done) {
			return
		}
		k, err := src.Read(buf)
		// A cut that began during the read holds what was read (and the end of the stream).
		if !p.n.waitOpen(from, to, p.done) {
			return
		}
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				_, _ = src.Close(), dst.Close()
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				_ = tc.CloseWrite()
			} else {
				_, _ = src.Close(), dst.Close()
			}
			return
		}
	}
}

// Close stops accepting, closes every connection and waits for the forwarders.
func (p *TCPProxy) Close() error {
	var err error
	p.once.Do(func() {
		p.mu.Lock()
		close(p.done)
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		err = p.lis.Close()
		p.wg.Wait()
	})
	return err
}

// UDPProxy forwards the datagrams sent to one address to a target address.
type UDPProxy struct {
	n    *Net
	node string
	in   *net.UDPConn
	out  *net.UDPConn
	once sync.Once
	wg   sync.WaitGroup
}

// ListenUDP listens on addr for datagrams to node and forwards each to target unless its
// direction is cut.
func (n *Net) ListenUDP(addr, target, node string) (*UDPProxy, error) {
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: udp proxy of %s on %q: %w", node, addr, err)
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: udp proxy of %s to %q: %w", node, target, err)
	}
	in, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: udp proxy of %s on %s: %w", node, addr, err)
	}
	out, err := net.DialUDP("udp", nil, ta)
	if err != nil {
		_ = in.Close()
		return nil, fmt.Errorf("faultproxy: udp proxy of %s to %s: %w", node, target, err)
	}
	p := &UDPProxy{n: n, node: node, in: in, out: out}
	if err := n.add(p); err != nil {
		_, _ = in.Close(), out.Close()
		return nil, err
	}
	p.wg.Add(1)
	go p.forward()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *UDPProxy) Addr() string { return p.in.LocalAddr().String() }

func (p *UDPProxy) forward() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		k, src, err := p.in.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error of an earlier datagram: UDP is lossy anyway
		}
		from := p.n.NodeOf(src)
		if p.n.Blocked(from, p.node) {
			p.n.counter(from, p.node).Add(1)
			continue
		}
		// A down target makes the write fail (ECONNREFUSED): the datagram is lost, as it
		// would be without the proxy.
		_, _ = p.out.Write(buf[:k])
	}
}

// Close stops the proxy and waits for its goroutine.
func (p *UDPProxy) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.in.Close(), p.out.Close())
		p.wg.Wait()
	})
	return err
}
