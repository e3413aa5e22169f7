package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"obkv/config"
	"obkv/tenant"
)

func parseSizeFlag(name, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	s, err := config.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: %v", name, v, err)
	}
	return int64(s), nil
}

// splitTable splits TENANT.TABLE.
func splitTable(arg string) (string, string, error) {
	t, tb, ok := strings.Cut(arg, ".")
	if !ok || t == "" || tb == "" || strings.Contains(tb, ".") {
		return "", "", fmt.Errorf("%q: want TENANT.TABLE", arg)
	}
	return t, tb, nil
}

func createCmd() *cobra.Command {
	c := &cobra.Command{Use: "create", Short: "Create a resource unit, resource pool, tenant or table"}
	c.AddCommand(createUnitCmd(), createPoolCmd(), createTenantCmd(), createTableCmd())
	return c
}

func createUnitCmd() *cobra.Command {
	var maxCPU, minCPU float64
	var mem, logDisk string
	c := &cobra.Command{
		Use:   "resource-unit NAME --max-cpu N --memory-size SIZE [--min-cpu N] [--log-disk-size SIZE]",
		Short: "Create a resource unit: the size of each unit of a pool",
		Long: `Create a resource unit configuration (OceanBase's CREATE RESOURCE UNIT). Sizes accept
units: 512MiB, 4GiB. log_disk_size defaults to 3 x memory_size, min_cpu to max_cpu.`,
		Example: `  obctl create resource-unit u1 --max-cpu 2 --memory-size 4GiB -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []struct {
				name string
				v    float64
			}{{"max-cpu", maxCPU}, {"min-cpu", minCPU}} {
				if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
					return fmt.Errorf("--%s %v: want a number of CPUs, %v..%v", f.name, f.v, tenant.MinUnitCPU, tenant.MaxUnitCPU)
				}
			}
			m, err := parseSizeFlag("memory-size", mem)
			if err != nil {
				return err
			}
			l, err := parseSizeFlag("log-disk-size", logDisk)
			if err != nil {
				return err
			}
			// 0 means "the default" to the root service: an explicit 0 is a mistake, not that.
			switch {
			case cmd.Flags().Changed("min-cpu") && minCPU == 0:
				return fmt.Errorf("--min-cpu 0: want at least %v (leave it out for min_cpu = max_cpu)", tenant.MinUnitCPU)
			case cmd.Flags().Changed("log-disk-size") && l == 0:
				return fmt.Errorf("--log-disk-size %s: want at least %dMiB (leave it out for 3 x memory_size)", logDisk, tenant.MinUnitLogDiskSize>>20)
			}
			res, err := execute("create-unit", map[string]any{"name": args[0], "max_cpu": maxCPU, "min_cpu": minCPU, "memory_size": m, "log_disk_size": l})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().Float64Var(&maxCPU, "max-cpu", 0, "CPUs of each unit (required)")
	c.Flags().Float64Var(&minCPU, "min-cpu", 0, "guaranteed CPUs (default: max-cpu)")
	c.Flags().StringVar(&mem, "memory-size", "", "memory of each unit, e.g. 1GiB (required)")
	c.Flags().StringVar(&logDisk, "log-disk-size", "", "log disk of each unit (default: 3 x memory-size)")
	_ = c.MarkFlagRequired("max-cpu")
	_ = c.MarkFlagRequired("memory-size")
	return c
}

func createPoolCmd() *cobra.Command {
	var unit, zones string
	var num int
	c := &cobra.Command{
		Use:   "resource-pool NAME --unit UNIT --unit-num N --zone-list z1,z2,z3",
		Short: "Create a resource pool: unit-num units of a unit in each listed zone",
		Long: `Create a resource pool (OceanBase's CREATE RESOURCE POOL): unit_num units of UNIT in each
zone of the zone list, each on a different server of the zone.`,
		Example: `  obctl create resource-pool p1 --unit u1 --unit-num 1 --zone-list z1,z2,z3,z4 -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := execute("create-pool", map[string]any{"name": args[0], "unit": unit, "unit_num": num, "zone_list": splitList(zones)})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().StringVar(&unit, "unit", "", "resource unit of the pool's units (required)")
	c.Flags().IntVar(&num, "unit-num", 1, "units per zone")
	c.Flags().StringVar(&zones, "zone-list", "", "comma-separated zones (required)")
	_ = c.MarkFlagRequired("unit")
	_ = c.MarkFlagRequired("zone-list")
	return c
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func createTenantCmd() *cobra.Command {
	var pools, locality, pz string
	var replicaNum int
	c := &cobra.Command{
		Use:   "tenant NAME --resource-pool-list P[,P] [--replica-num N] [--locality L] [--primary-zone PZ]",
		Short: "Create a tenant on resource pools, with a locality and a primary zone",
		Long: `Create a tenant (OceanBase's CREATE TENANT). The locality lists one replica per zone:
F (FULL: votes, keeps data, may lead), L (LOGONLY: votes, keeps only the log), R (READONLY:
keeps data, serves weak reads, never votes), e.g. F@z1,F@z2,F@z3,R@z4; it defaults to one F
per zone of the pools. primary_zone orders zones for leadership: ';' separates descending
priority levels, ',' joins equal ones (z1;z2,z3); the default RANDOM spreads leaders over
every zone with an F replica.`,
		Example: `  obctl create tenant t1 --resource-pool-list p1 --locality F@z1,F@z2,F@z3,R@z4 --primary-zone 'z1;z2,z3' -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := execute("create-tenant", map[string]any{"name": args[0], "resource_pool_list": splitList(pools),
				"replica_num": replicaNum, "locality": locality, "primary_zone": pz})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().StringVar(&pools, "resource-pool-list", "", "comma-separated resource pools (required)")
	c.Flags().IntVar(&replicaNum, "replica-num", 0, "replicas per partition (default: from the locality)")
	c.Flags().StringVar(&locality, "locality", "", "replica type per zone, e.g. F@z1,F@z2,R@z3")
	c.Flags().StringVar(&pz, "primary-zone", "", "leader zone priority, e.g. 'z1;z2,z3' (default RANDOM)")
	_ = c.MarkFlagRequired("resource-pool-list")
	return c
}

func createTableCmd() *cobra.Command {
	var parts int
	c := &cobra.Command{
		Use:     "table TENANT.TABLE --partitions N",
		Short:   "Create a table split into N hash partitions",
		Long:    `Create a table of a tenant. Each partition is one Paxos group with one replica per zone of the tenant's locality.`,
		Example: `  obctl create table t1.orders --partitions 6 -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			res, err := execute("create-table", map[string]any{"tenant": t, "name": tb, "partitions": parts})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().IntVar(&parts, "partitions", 1, "number of hash partitions")
	return c
}

func dropCmd() *cobra.Command {
	c := &cobra.Command{Use: "drop", Short: "Drop a resource unit, resource pool, tenant or table"}
	for _, k := range []struct{ use, op, short, example string }{
		{"resource-unit NAME", "drop-unit", "Drop a resource unit no pool uses", "obctl drop resource-unit u1 -c examples/cluster.yaml"},
		{"resource-pool NAME", "drop-pool", "Drop a resource pool no tenant holds", "obctl drop resource-pool p1 -c examples/cluster.yaml"},
		{"tenant NAME", "drop-tenant", "Drop a tenant that has no tables", "obctl drop tenant t1 -c examples/cluster.yaml"},
		{"table TENANT.TABLE", "drop-table", "Drop a table and its partitions", "obctl drop table t1.orders -c examples/cluster.yaml"},
	} {
		k := k
		c.AddCommand(&cobra.Command{
			Use: k.use, Short: k.short, Example: "  " + k.example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a := map[string]any{"name": args[0]}
				if k.op == "drop-table" {
					t, tb, err := splitTable(args[0])
					if err != nil {
						return err
					}
					a = map[string]any{"tenant": t, "name": tb}
				}
				res, err := execute(k.op, a)
				if err != nil {
					return err
				}
				return printResult(stdout, res)
			},
		})
	}
	return c
}

func alterCmd() *cobra.Command {
	c := &cobra.Command{Use: "alter", Short: "Change a tenant"}
	var pz, locality string
	t := &cobra.Command{
		Use:   "tenant NAME [--primary-zone PZ] [--locality L]",
		Short: "Change a tenant's primary zone (leaders move) or locality",
		Long: `Change a tenant's primary_zone: leaders move to the new top level as their replicas catch up
(watch with obctl show replicas). Change its locality online: the root service runs the change as a
job (obctl show jobs), one replica step at a time through every partition's Paxos log, while the
tenant keeps serving. One ALTER changes at most one FULL or LOGONLY replica (READONLY changes may go
along); the error says which ALTERs to run instead (docs/tenants.md).`,
		Example: `  obctl alter tenant t1 --primary-zone 'z2;z1,z3' -c examples/cluster.yaml
  obctl alter tenant t1 --locality 'F@z1,F@z2,F@z3,R@z4' -c examples/cluster.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pz == "" && locality == "" {
				return fmt.Errorf("alter tenant %s: give --primary-zone or --locality", args[0])
			}
			res, err := execute("alter-tenant", map[string]any{"name": args[0], "primary_zone": pz, "locality": locality})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	t.Flags().StringVar(&pz, "primary-zone", "", "new primary zone, e.g. 'z1;z2,z3'")
	t.Flags().StringVar(&locality, "locality", "", "new locality, e.g. F@z1,F@z2,F@z3,R@z4")
	c.AddCommand(t)
	return c
}

// showColumns gives each kind's leading columns in order.
var showColumns = map[string][]string{
	"servers": {"server", "id", "zone", "region", "rpc_addr", "status",
		"cpu_assigned", "cpu_capacity", "memory_assigned", "memory_capacity", "log_disk_assigned", "log_disk_capacity"},
	"zones":          {"zone", "region", "servers", "alive"},
	"resource-units": {"name", "max_cpu", "min_cpu", "memory_size", "log_disk_size"},
	"resource-pools": {"name", "unit", "unit_num", "zone_list", "tenant", "servers"},
	"tenants":        {"name", "id", "resource_pool_list", "replica_num", "locality", "primary_zone"},
	"tables":         {"tenant", "name", "id", "partitions"},
	"jobs":           {"id", "kind", "tenant", "state", "progress", "detail"},
	"replicas":       {"tenant", "table", "partition", "server", "zone", "type", "role", "applied_index", "lag", "established"},
}

func showCmd() *cobra.Command {
	var tenant, table string
	c := &cobra.Command{
		Use:       "show servers|zones|resource-units|resource-pools|tenants|tables|jobs|replicas",
		Short:     "List servers, zones, resource units and pools, tenants, tables, jobs or replicas",
		Example:   "  obctl show replicas --tenant t1 -c examples/cluster.yaml\n  obctl show tenants -o json -c examples/cluster.yaml",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"servers", "zones", "resource-units", "resource-pools", "tenants", "tables", "jobs", "replicas"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cols, ok := showColumns[args[0]]
			if !ok {
				return fmt.Errorf("show %q: want one of servers, zones, resource-units, resource-pools, tenants, tables, jobs, replicas", args[0])
			}
			switch {
			case tenant != "" && args[0] != "tables" && args[0] != "replicas":
				return fmt.Errorf("--tenant %s: show %s lists them all; --tenant applies to tables and replicas", tenant, args[0])
			case table != "" && args[0] != "replicas":
				return fmt.Errorf("--table %s: applies to show replicas only", table)
			}
			rows, err := show(args[0], tenant, table)
			if err != nil {
				return err
			}
			return printRows(stdout, rows, cols)
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "only this tenant (tables, replicas; it must exist)")
	c.Flags().StringVar(&table, "table", "", "only this table of --tenant (replicas; it must exist)")
	return c
}

func switchLeaderCmd() *cobra.Command {
	var part int
	var to string
	c := &cobra.Command{
		Use:     "switch-leader TENANT.TABLE --partition P --to SERVER",
		Short:   "Move a partition's leadership to the FULL replica on a server",
		Long:    `Pin a partition's leadership to a server's FULL replica: the leader hands over by a graceful transfer, and keeps it there while that server is alive.`,
		Example: `  obctl switch-leader t1.orders --partition 0 --to s2 -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(to) == "" {
				return fmt.Errorf("--to %q: name the server to lead (obctl show servers lists them)", to)
			}
			res, err := execute("switch-leader", map[string]any{"tenant": t, "table": tb, "partition": part, "to": to})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().IntVar(&part, "partition", 0, "partition index")
	c.Flags().StringVar(&to, "to", "", "server to lead (required)")
	_ = c.MarkFlagRequired("to")
	return c
}

func unsafeRecoverCmd() *cobra.Command {
	var part int
	var server string
	var accept bool
	c := &cobra.Command{
		Use:   "unsafe-recover TENANT.TABLE --partition P --server SERVER --accept-data-loss",
		Short: "Force a recovering replica to vote again when its group lost a majority of its data (may lose writes)",
		Long: `A replica whose server lost its data directory starts RECOVERING (obctl show replicas): it
votes again once it has caught up from a quorum of the group's other voters. When a majority of
a group's voters lost their data at once (two servers of a three-replica group), no such quorum
exists and the group waits, refusing writes and strong reads, for as long as it takes.

unsafe-recover is the way out: it forces the named RECOVERING replica to vote with what it holds,
so that it and the surviving replica can elect a leader. Writes that only the lost replicas held
are gone, although they were acknowledged; every replica still applies the same entries. Force
one replica, then let the others catch up from the new leader. A replica that hears a leader is
refused (it recovers by itself), as is one that is not recovering.

The meta partition is sys.__all_meta (partition 0): recover it first if it stalled, since the
root service runs on it.`,
		Example: `  obctl show replicas --tenant t1 -c examples/cluster.yaml
  obctl unsafe-recover t1.orders --partition 0 --server s2 --accept-data-loss -c examples/cluster.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			if part < 0 {
				return fmt.Errorf("--partition %d: want a partition index, 0 or more", part)
			}
			if !accept {
				return fmt.Errorf("unsafe-recover of %s partition %d on %s may lose acknowledged writes: rerun with --accept-data-loss if a majority of its voters lost their data and the group cannot recover otherwise", args[0], part, server)
			}
			res, err := execute("unsafe-recover", map[string]any{"tenant": t, "table": tb, "partition": part, "server": server})
			if err != nil {
				return err
			}
			return printResult(stdout, res)
		},
	}
	c.Flags().IntVar(&part, "partition", 0, "partition index")
	c.Flags().StringVar(&server, "server", "", "server hosting the RECOVERING replica (required)")
	c.Flags().BoolVar(&accept, "accept-data-loss", false, "confirm that writes only the lost replicas held may be gone")
	_ = c.MarkFlagRequired("server")
	return c
}
