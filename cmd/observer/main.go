// Command observer runs one server of an obkv cluster:
//
//	observer -c CLUSTER.yaml --server NAME
//
// It hosts the partition replicas placed on this server, talks to the other servers of the
// cluster file, and runs the root service while its meta replica leads. SIGTERM (or SIGINT)
// hands its leaderships to other replicas, then stops; a restart after SIGKILL recovers from the
// data directory's clog and sstable.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"obkv/config"
	"obkv/server"
)

func main() {
	file := flag.String("c", "", "cluster file (YAML) describing every server of the cluster")
	name := flag.String("server", "", "name of the server of the cluster file to run")
	level := flag.String("log-level", "info", "log level: debug, info, warn or error")
	pprofAddr := flag.String("pprof", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	rpcListen := flag.String("rpc-listen", "", "listen for gRPC on this host:port instead of the server's rpc_addr, which peers and clients still dial and which must lead here (a proxy, NAT or port forward); outgoing peer connections are made from this host")
	gossipListen := flag.String("gossip-listen", "", "bind gossip (UDP and TCP) on this host:port instead of gossip_addr, which the server still advertises and which must lead here")
	clockOffset := flag.Duration("clock-offset", 0, "testing: shift the wall clock used for versions and staleness by this much (e.g. 40ms or -40ms); at most settings.max_clock_drift either way; leases do not move")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: observer -c CLUSTER.yaml --server NAME\n\nRuns one server of an obkv cluster.\n\nExample:\n  observer -c examples/cluster.yaml --server s1\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *file == "" || *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "observer: unexpected argument %q: flags after it would be ignored\n", flag.Arg(0))
		os.Exit(2)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "observer: --log-level %q: want debug, info, warn or error\n", *level)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	if *pprofAddr != "" {
		// Profiles only: the default mux holds nothing else. Never exposed beyond loopback.
		ln, err := listenPprof(*pprofAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "observer: --pprof %q: %v\n", *pprofAddr, err)
			os.Exit(2)
		}
		go func() { log.Error("pprof server stopped", "err", http.Serve(ln, nil)) }()
	}
	for _, a := range []struct{ flag, addr string }{{"rpc-listen", *rpcListen}, {"gossip-listen", *gossipListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			fmt.Fprintf(os.Stderr, "observer: --%s %q: want host:port, e.g. 127.0.0.1:2882 (%v)\n", a.flag, a.addr, err)
			os.Exit(2)
		}
	}
	cl, err := config.Load(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "observer: %v\n", err)
		os.Exit(2)
	}
	if lim, msg := memoryLimit(cl.Settings, os.Getenv("GOMEMLIMIT")); lim > 0 {
		debug.SetMemoryLimit(lim)
		log.Info(msg)
	} else if msg != "" {
		log.Info(msg)
	}
	if err := server.ClockOffsetRule(*clockOffset, cl.Settings); err != nil {
		fmt.Fprintf(os.Stderr, "observer: --clock-offset %v: %v\n", *clockOffset, err)
		os.Exit(2)
	}
	s, err := server.NewWithOptions(cl, *name, log, server.Options{
		RPCListen: *rpcListen, GossipListen: *gossipListen, ClockOffset: *clockOffset})
	if err != nil {
		fmt.Fprintf(os.Stderr, "observer: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "observer: %v\n", err)
		os.Exit(1)
	}
}

// memoryLimit is the soft memory limit to set from settings.memory_limit (0: set none) and
// what to log about it. GOMEMLIMIT in the environment, which the Go runtime has applied
// already, wins: it is this one process's.
func memoryLimit(st config.Settings, gomemlimit string) (int64, string) {
	lim := st.MemoryLimitBytes
	switch {
	case lim == 0:
		return 0, ""
	case gomemlimit != "":
		return 0, fmt.Sprintf("settings.memory_limit %s not applied: GOMEMLIMIT=%s in the environment wins", config.Size(lim), gomemlimit)
	default:
		return lim, fmt.Sprintf("soft memory limit %s (settings.memory_limit)", config.Size(lim))
	}
}

// listenPprof listens on addr, which must be a loopback host:port: profiles and goroutine
// dumps show what a process holds.
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("want a loopback host:port, e.g. 127.0.0.1:6060 (%v)", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("host %q is not a loopback address (127.0.0.0/8, ::1 or localhost): profiles show what the process holds", host)
	}
	return net.Listen("tcp", addr)
}
