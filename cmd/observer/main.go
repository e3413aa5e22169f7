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
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"obkv/config"
	"obkv/server"
)

func main() {
	file := flag.String("c", "", "cluster file (YAML) describing every server of the cluster")
	name := flag.String("server", "", "name of the server of the cluster file to run")
	level := flag.String("log-level", "info", "log level: debug, info, warn or error")
	pprofAddr := flag.String("pprof", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: observer -c CLUSTER.yaml --server NAME\n\nRuns one server of an obkv cluster.\n\nExample:\n  observer -c examples/cluster.yaml --server s1\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *file == "" || *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "observer: --log-level %q: want debug, info, warn or error\n", *level)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	if *pprofAddr != "" {
		// Profiles only: the default mux holds nothing else. Never expose it beyond loopback.
		go func() { log.Error("pprof server stopped", "err", http.ListenAndServe(*pprofAddr, nil)) }()
	}
	cl, err := config.Load(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "observer: %v\n", err)
		os.Exit(2)
	}
	s, err := server.New(cl, *name, log)
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
