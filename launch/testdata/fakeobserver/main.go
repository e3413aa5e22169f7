// Command fakeobserver stands in for observer in launch's tests. It takes the
// same flags (-c FILE --server NAME), loads the cluster file with package
// config, listens on the server's rpc_addr (accepting and closing
// connections) and exits 0 on SIGTERM. Environment variables make chosen
// servers misbehave (each a comma-separated list of server names):
//
//	FAKEOBSERVER_CRASH        exit 3 at startup, after a line on stderr
//	FAKEOBSERVER_IGNORE_TERM  ignore SIGTERM (only SIGKILL stops it)
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"obkv/config"
)

func main() {
	file := flag.String("c", "", "cluster file")
	name := flag.String("server", "", "server name")
	flag.Parse()
	cl, err := config.Load(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeobserver: %v\n", err)
		os.Exit(2)
	}
	srv, ok := cl.Server(*name)
	if !ok {
		fmt.Fprintf(os.Stderr, "fakeobserver: no server %q\n", *name)
		os.Exit(2)
	}
	in := func(env string) bool { return slices.Contains(strings.Split(os.Getenv(env), ","), *name) }
	if in("FAKEOBSERVER_CRASH") {
		fmt.Fprintf(os.Stderr, "fakeobserver %s: simulated crash at startup\n", *name)
		os.Exit(3)
	}
	sigs := make(chan os.Signal, 1)
	if in("FAKEOBSERVER_IGNORE_TERM") {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	ln, err := net.Listen("tcp", srv.RPCAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeobserver %s: %v\n", *name, err)
		os.Exit(1)
	}
	fmt.Printf("fakeobserver %s: listening on %s\n", *name, srv.RPCAddr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	<-sigs // never fires when SIGTERM is ignored: only SIGKILL ends it
	fmt.Printf("fakeobserver %s: SIGTERM, exiting\n", *name)
	ln.Close()
}
