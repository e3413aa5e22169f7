package faultproxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// quiet is how long a test watches a cut direction to see that nothing crosses it.
const quiet = 300 * time.Millisecond

// wait bounds every read that must succeed.
const wait = 5 * time.Second

// readExactly reads len(want) bytes from c within d and compares them with want.
func readExactly(t *testing.T, c net.Conn, want string, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %q: %v", want, err)
	}
	if string(buf) != want {
		t.Fatalf("read %q, want %q", buf, want)
	}
}

// readNothing checks that nothing arrives on c for quiet.
func readNothing(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(quiet))
	buf := make([]byte, 16)
	k, err := c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: read %q, %v; want nothing (a timeout)", what, buf[:k], err)
	}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// tcpPair starts a target listener and a proxy for node "b" in front of it, and returns a
// connection from node "a" (127.0.0.1) through the proxy and the target's side of it.
func tcpPair(t *testing.T, n *Net) (dial func() (client, server net.Conn)) {
	t.Helper()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	p, err := n.ListenTCP("127.0.0.1:0", target.Addr().String(), "b")
	if err != nil {
		t.Fatal(err)
	}
	return func() (net.Conn, net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		select {
		case s := <-accepted:
			t.Cleanup(func() { _ = s.Close() })
			return c, s
		case <-time.After(wait):
			t.Fatal("the proxy did not connect to the target")
			return nil, nil
		}
	}
}

func TestTCPCutAndHeal(t *testing.T) {
	n := New("client")
	n.AddHost(netip.MustParseAddr("127.0.0.1"), "a")
	t.Cleanup(func() { _ = n.Close() })
	dial := tcpPair(t, n)
	c, s := dial()

	write(t, c, "hello")
	readExactly(t, s, "hello", wait)
	write(t, s, "hi")
	readExactly(t, c, "hi", wait)

	// a->b cut: held; b->a still flows.
	n.Cut("a", "b")
	write(t, c, "held")
	readNothing(t, s, "a->b cut")
	write(t, s, "back")
	readExactly(t, c, "back", wait)
	// A connection made during the cut obeys it too.
	c2, s2 := dial()
	write(t, c2, "new")
	readNothing(t, s2, "a->b cut, new connection")
	n.Heal("a", "b")
	readExactly(t, s, "held", wait)
	readExactly(t, s2, "new", wait)

	// b->a cut: the end of the stream is held too.
	n.Cut("b", "a")
	write(t, s, "down")
	_ = s.(*net.TCPConn).CloseWrite()
	readNothing(t, c, "b->a cut")
	write(t, c, "up")
	readExactly(t, s, "up", wait)
	n.HealAll()
	readExactly(t, c, "down", wait)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if k, err := c.Read(make([]byte, 1)); k != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the target's close: read %d bytes, %v; want EOF", k, err)
	}
	if n.Blocked("a", "b") || n.Blocked("b", "a") {
		t.Fatal("Blocked after HealAll")
	}
}

// TestTCPNodes checks that sources are told apart by address: a cut of one node does not touch
// another's connections.
func TestTCPNodes(t *testing.T) {
	other := netip.MustParseAddr("127.0.0.2")
	if l, err := net.Listen("tcp", other.String()+":0"); err != nil {
		t.Skipf("no second loopback address here (%v)", err)
	} else {
		_ = l.Close()
	}
	n := New("client")
	n.AddHost(other, "a")
	t.Cleanup(func() { _ = n.Close() })
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Close() })
	p, err := n.ListenTCP("127.0.0.1:0", target.Addr().String(), "b")
	if err != nil {
		t.Fatal(err)
	}
	connect := func(local net.Addr) (net.Conn, net.Conn) {
		d := net.Dialer{LocalAddr: local, Timeout: wait}
		c, err := d.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = target.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
		s, err := target.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return c, s
	}
	ca, sa := connect(&net.TCPAddr{IP: other.AsSlice()})
	cc, sc := connect(nil) // 127.0.0.1: the "client" node
	if got := n.NodeOf(ca.LocalAddr()); got != "a" {
		t.Fatalf("NodeOf(%v) = %q, want a", ca.LocalAddr(), got)
	}
	if got := n.NodeOf(cc.LocalAddr()); got != "client" {
		t.Fatalf("NodeOf(%v) = %q, want client", cc.LocalAddr(), got)
	}
	n.Cut("a", "b")
	write(t, ca, "x")
	write(t, cc, "y")
	readExactly(t, sc, "y", wait)
	readNothing(t, sa, "a->b cut")
	n.Heal("a", "b")
	readExactly(t, sa, "x", wait)
}

func TestTCPTargetDown(t *testing.T) {
	n := New("client")
	t.Cleanup(func() { _ = n.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	p, err := n.ListenTCP("127.0.0.1:0", addr, "b")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection to a down target stayed open")
	}
}

func TestCloseEndsConnections(t *testing.T) {
	n := New("client")
	n.AddHost(netip.MustParseAddr("127.0.0.1"), "a")
	dial := tcpPair(t, n)
	c, _ := dial()
	n.Cut("a", "b") // a forwarder blocked on a cut must end too
	write(t, c, "x")
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read after Close: %v, want the connection closed", err)
	}
	if _, err := n.ListenTCP("127.0.0.1:0", "127.0.0.1:1", "b"); err == nil {
		t.Fatal("ListenTCP on a closed Net succeeded")
	}
}

func TestUDPCutAndHeal(t *testing.T) {
	n := New("client")
	n.AddHost(netip.MustParseAddr("127.0.0.1"), "a")
	t.Cleanup(func() { _ = n.Close() })
	target, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Close() })
	p, err := n.ListenUDP("127.0.0.1:0", target.LocalAddr().String(), "b")
	if err != nil {
		t.Fatal(err)
	}
	snd, err := net.Dial("udp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })

	write(t, snd, "ping")
	readExactly(t, target, "ping", wait)
	n.Cut("a", "b")
	write(t, snd, "lost")
	readNothing(t, target, "a->b cut")
	if d := n.Dropped("a", "b"); d != 1 {
		t.Fatalf("Dropped(a, b) = %d, want 1", d)
	}
	n.Cut("b", "a") // the other direction does not concern datagrams to b
	n.Heal("a", "b")
	write(t, snd, "again")
	readExactly(t, target, "again", wait)
	if d := n.Dropped("b", "a"); d != 0 {
		t.Fatalf("Dropped(b, a) = %d, want 0", d)
	}
}
