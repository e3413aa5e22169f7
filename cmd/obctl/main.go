// Command obctl administers an obkv cluster: it starts and stops the servers of a cluster file
// on this machine, declares resource units, pools, tenants and tables, and shows where replicas
// and leaders are. Run `obctl --help` for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "obctl: "+oneLine(err))
		os.Exit(1)
	}
}
