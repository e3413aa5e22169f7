// Command obctl administers an obkv cluster: it starts and stops the servers of a cluster file
// on this machine, declares resource units, pools, tenants and tables, and shows where replicas
// and leaders are. Run `obctl --help` for the commands.
package main

import (
	"errors"
	"fmt"
	"os"

	"obkv/launch"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		msg := oneLine(err)
		if errors.Is(err, launch.ErrExited) {
			msg = err.Error() // a server's log lines read best one per line
		}
		fmt.Fprintln(os.Stderr, "obctl: "+msg)
		os.Exit(1)
	}
}
