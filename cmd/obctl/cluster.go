package main

import (
	"github.com/spf13/cobra"
)

func clusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Start, stop and inspect the servers of a cluster file on this machine"}
	return c
}
