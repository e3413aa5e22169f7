package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"obkv/api"
	"obkv/config"
	"obkv/launch"
)

var observerPath string

func clusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Start, stop and inspect the servers of a cluster file on this machine",
		Long: `Start, stop and inspect the observer processes of a cluster file on this machine. Each
server runs in the background with its log in <data_dir>/observer.log and its pid in
<data_dir>/observer.pid. The observer binary is looked for next to obctl, then on PATH
(build both with: go build -o bin/ ./cmd/...).`,
	}
	c.PersistentFlags().StringVar(&observerPath, "observer", "", "observer binary (default: next to obctl, then PATH)")
	c.AddCommand(clusterUpCmd(), clusterDownCmd(), clusterStatusCmd(), clusterStopCmd(), clusterStartCmd())
	return c
}

// healthProbe returns a probe that asks a server's Admin service whether it answers as that
// server of cluster: a server of another cluster listening on the address (a copied cluster
// file whose ports were not changed) is not this one answering.
func healthProbe(cluster string) func(ctx context.Context, srv config.Server) error {
	return func(ctx context.Context, srv config.Server) error {
		conn, err := grpc.NewClient(srv.RPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		h, err := api.NewAdminClient(conn).Health(ctx, &api.HealthRequest{})
		if err != nil {
			return err
		}
		if h.Cluster != cluster || h.Server != srv.Name {
			return fmt.Errorf("%s answers as server %s of cluster %s, not as %s of %s: another cluster's server uses the address (change the ports in one of the cluster files)",
				srv.RPCAddr, h.Server, h.Cluster, srv.Name, cluster)
		}
		return nil
	}
}

func launchOptions(cl *config.Cluster) launch.Options {
	return launch.Options{
		ObserverPath: observerPath,
		Probe:        healthProbe(cl.Name),
		Progress: func(e launch.Event) {
			if g.output == "table" {
				fmt.Fprintln(os.Stderr, "  "+e.String())
			}
		},
	}
}

// waitBootstrapped waits until some server reports a bootstrapped root service.
func waitBootstrapped(ctx context.Context, cl *config.Cluster) error {
	for {
		for _, srv := range cl.Servers {
			conn, err := grpc.NewClient(srv.RPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, time.Second)
			h, err := api.NewAdminClient(conn).Health(hctx, &api.HealthRequest{})
			cancel()
			_ = conn.Close()
			if err == nil && h.Cluster == cl.Name && h.RootService == srv.Name && h.Bootstrapped {
				if g.output == "table" {
					fmt.Fprintf(os.Stderr, "  root service on %s; cluster %s is ready\n", srv.Name, cl.Name)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster did not elect a root service and bootstrap within %v", g.timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func clusterUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "up -c CLUSTER.yaml",
		Short: "Start every server of the cluster file and wait until the cluster answers",
		Example: `  go build -o bin/ ./cmd/...
  bin/obctl cluster up -c examples/cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout+20*time.Second)
			defer cancel()
			if g.output == "table" {
				fmt.Fprintf(os.Stderr, "starting cluster %s (%d servers)\n", cl.Name, len(cl.Servers))
			}
			if err := launch.Up(ctx, cl, launchOptions(cl)); err != nil {
				return err
			}
			if err := waitBootstrapped(ctx, cl); err != nil {
				return err
			}
			return printStatus(ctx, cl)
		},
	}
}

func clusterDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "down -c CLUSTER.yaml",
		Short:   "Stop every server of the cluster file (SIGTERM: leaders hand over first)",
		Example: `  obctl cluster down -c examples/cluster.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout+20*time.Second)
			defer cancel()
			return launch.Down(ctx, cl, launchOptions(cl))
		},
	}
}

func clusterStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "status -c CLUSTER.yaml",
		Short:   "Show each server of the cluster file: zone, process id, state",
		Example: `  obctl cluster status -c examples/cluster.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			return printStatus(ctx, cl)
		},
	}
}

func printStatus(ctx context.Context, cl *config.Cluster) error {
	var rows []map[string]any
	for _, st := range launch.Status(cl) {
		srv, _ := cl.Server(st.Server)
		state := st.State
		if st.State == "running" {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			if healthProbe(cl.Name)(pctx, srv) == nil {
				state = "answering"
			}
			cancel()
		}
		rows = append(rows, map[string]any{"server": st.Server, "zone": st.Zone, "pid": st.PID, "state": state, "rpc_addr": srv.RPCAddr, "data_dir": srv.DataDir})
	}
	return printRows(stdout, rows, []string{"server", "zone", "pid", "state", "rpc_addr", "data_dir"})
}

func clusterStopCmd() *cobra.Command {
	var name string
	var kill bool
	c := &cobra.Command{
		Use:     "stop -c CLUSTER.yaml --server NAME [--kill]",
		Short:   "Stop one server: SIGTERM (leaders hand over first), or SIGKILL with --kill",
		Example: `  obctl cluster stop -c examples/cluster.yaml --server s1 --kill`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout+10*time.Second)
			defer cancel()
			return launch.Stop(ctx, cl, name, kill, launchOptions(cl))
		},
	}
	c.Flags().StringVar(&name, "server", "", "server to stop (required)")
	c.Flags().BoolVar(&kill, "kill", false, "SIGKILL instead of SIGTERM")
	_ = c.MarkFlagRequired("server")
	return c
}

func clusterStartCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "start -c CLUSTER.yaml --server NAME",
		Short:   "Start one server of the cluster file",
		Example: `  obctl cluster start -c examples/cluster.yaml --server s1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout+10*time.Second)
			defer cancel()
			return launch.Start(ctx, cl, name, launchOptions(cl))
		},
	}
	c.Flags().StringVar(&name, "server", "", "server to start (required)")
	_ = c.MarkFlagRequired("server")
	return c
}
