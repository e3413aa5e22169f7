package realcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// FreePorts returns n distinct loopback ports on which both TCP and UDP were free (memberlist
// binds both on the gossip port). Every listener is held until all n are chosen, so no port is
// handed out twice. Ports are drawn from the 12,000 below the kernel's ephemeral range (or
// 20000..32000 when it is unknown): an ephemeral port freed here could be taken by any outgoing
// connection (the observers dial each other while the later ones start, and again around
// restarts) before its observer binds it. 28811-28824, 38811-38824 and 48811-48824 are skipped:
// other engineers' local clusters use them. The draw is random, not seeded: it only has to
// avoid ports in use at this moment.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	lo, hi := portRange()
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 50*n {
			t.Fatalf("could not find %d free loopback ports (tcp and udp) in %d..%d", n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if seen[port] || reserved(port) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		closers = append(closers, func() { _ = l.Close() })
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		closers = append(closers, func() { _ = u.Close() })
		seen[port] = true
		ports = append(ports, port)
	}
	return ports
}

// portRange is the range FreePorts draws from.
func portRange() (lo, hi int) {
	lo, hi = 20000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var low int
		if _, err := fmt.Sscan(string(b), &low); err == nil && low > 13024 {
			lo, hi = low-12000, low
		}
	}
	return lo, hi
}

// reserved reports whether port is one of those local clusters use.
func reserved(port int) bool {
	m := port % 10000
	return port >= 20000 && port < 50000 && m >= 8811 && m <= 8824
}
