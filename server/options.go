package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"obkv/config"
)

// Options are settings of one observer process that are not in the cluster file.
type Options struct {
	// RPCListen is where the gRPC services listen ("" = the cluster file's rpc_addr). Peers
	// and clients still dial rpc_addr, which must then lead here (a proxy, NAT, a port
	// forward).
	RPCListen string
	// GossipListen is where memberlist binds, UDP and TCP ("" = gossip_addr). The server
	// still advertises gossip_addr, which must then lead here.
	GossipListen string
	// ClockOffset is added to the wall clock this server stamps versions with (the hybrid
	// logical clock), publishes closed versions at and measures weak-read staleness against.
	// It exists to test a skewed clock; its absolute value may not exceed
	// settings.max_clock_drift. Leases count ticks of the monotonic clock and do not move.
	ClockOffset time.Duration
}

// ClockOffsetRule returns why offset is not allowed under st, or nil.
func ClockOffsetRule(offset time.Duration, st config.Settings) error {
	if offset > st.MaxClockDrift || offset < -st.MaxClockDrift {
		return fmt.Errorf("must be within ±%v (settings.max_clock_drift)", st.MaxClockDrift)
	}
	return nil
}

// validate checks o against the cluster's settings.
func (o Options) validate(st config.Settings) error {
	for _, a := range []struct{ what, addr string }{{"rpc listen address", o.RPCListen}, {"gossip listen address", o.GossipListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: want host:port (%v)", a.what, a.addr, err)
		}
	}
	if err := ClockOffsetRule(o.ClockOffset, st); err != nil {
		return fmt.Errorf("clock offset %v: %w", o.ClockOffset, err)
	}
	return nil
}

// rpcListen is the address the gRPC services listen on.
func (s *Server) rpcListen() string {
	if s.opts.RPCListen != "" {
		return s.opts.RPCListen
	}
	return s.self.RPCAddr
}

// gossipListen is the address memberlist binds.
func (s *Server) gossipListen() string {
	if s.opts.GossipListen != "" {
		return s.opts.GossipListen
	}
	return s.self.GossipAddr
}

// now is this server's wall clock for versions and staleness (see Options.ClockOffset).
func (s *Server) now() time.Time { return time.Now().Add(s.opts.ClockOffset) }

// sourceIP is the address outgoing connections to peers are made from: the host this server
// listens on when that is one IP address (nil otherwise, to let the system choose). Peers then
// see the server's own address, on a multi-homed host too, and a fault-injecting proxy in tests
// (test/internal/faultproxy) tells servers apart by it.
func sourceIP(listen string) net.IP {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return ip
}

// peerDialer dials peers over TCP from sourceIP(listen).
func peerDialer(listen string) func(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	if ip := sourceIP(listen); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
}
