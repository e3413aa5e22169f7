package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"obkv/client"
	"obkv/config"
)

// readFlags are the read options of get and scan.
type readFlags struct {
	consistency, preference, zone string
	maxStaleness                  time.Duration
	version                       uint64
	explain                       bool
}

// add registers the read flags on c; snapshot adds --version and --explain (get and scan).
func (f *readFlags) add(c *cobra.Command, snapshot bool) {
	c.Flags().StringVar(&f.consistency, "consistency", "strong", "strong (linearizable) or weak (bounded staleness, any FULL or READONLY replica)")
	c.Flags().DurationVar(&f.maxStaleness, "max-staleness", 0, "weak reads: refuse replicas staler than this (e.g. 5s); implies --consistency weak")
	c.Flags().StringVar(&f.preference, "read-preference", "leader", "leader, follower, follower-preferred, leader-and-follower, prefer-leader, closest, closest-adaptive, readonly-first, readonly-only")
	c.Flags().StringVar(&f.zone, "zone", "", "the client's zone (for closest and closest-adaptive)")
	if !snapshot {
		return
	}
	c.Flags().Uint64Var(&f.version, "version", 0, "weak reads: read at exactly this version (a snapshot); implies --consistency weak")
	c.Flags().BoolVar(&f.explain, "explain", false, "print which replica served the read, at which version, and how stale")
}

// options turns the flags into the client's read options, refusing combinations no read can
// serve before anything is sent.
func (f *readFlags) options(cmd *cobra.Command) ([]client.ReadOption, error) {
	p, err := client.ParseReadPreference(f.preference)
	if err != nil {
		return nil, fmt.Errorf("--read-preference: %v", err)
	}
	opts := []client.ReadOption{client.Prefer(p)}
	f.consistency = strings.ToLower(strings.TrimSpace(f.consistency))
	weak := f.consistency == "weak" || f.maxStaleness > 0 || f.version > 0
	switch {
	case f.consistency == "strong" && cmd.Flags().Changed("consistency") && f.maxStaleness > 0:
		return nil, fmt.Errorf("--max-staleness %v: conflicts with --consistency strong (a bounded-staleness read is weak)", f.maxStaleness)
	case f.consistency == "strong" && cmd.Flags().Changed("consistency") && f.version > 0:
		return nil, fmt.Errorf("--version %d: conflicts with --consistency strong (a read at a version is weak)", f.version)
	case p == client.ReadonlyOnly && !weak && f.consistency == "strong":
		return nil, errors.New("--read-preference readonly-only: needs --consistency weak (READONLY replicas serve weak reads only)")
	}
	switch f.consistency {
	case "strong":
		if f.maxStaleness == 0 && f.version == 0 {
			opts = append(opts, client.Strong())
		}
	case "weak":
		opts = append(opts, client.Weak())
	default:
		return nil, fmt.Errorf("--consistency %q: want strong or weak", f.consistency)
	}
	if f.maxStaleness < 0 {
		return nil, fmt.Errorf("--max-staleness %v: must not be negative", f.maxStaleness)
	}
	if f.maxStaleness > 0 {
		opts = append(opts, client.MaxStaleness(f.maxStaleness))
	}
	if f.version > 0 {
		opts = append(opts, client.AtVersion(f.version))
	}
	if f.zone != "" {
		if zones, err := fileZones(); err != nil {
			return nil, err
		} else if zones != nil && !zones[f.zone] {
			return nil, fmt.Errorf("--zone %q: not a zone of %s", f.zone, g.file)
		}
		opts = append(opts, client.Zone(f.zone))
	}
	return opts, nil
}

// dataClient connects the Go client to the cluster of -c or --addr.
func dataClient(ctx context.Context, zone string) (*client.Client, error) {
	var addrs []string
	switch {
	case g.addr != "":
		addrs = []string{g.addr}
	case g.file != "":
		cl, err := config.Load(g.file)
		if err != nil {
			return nil, err
		}
		for _, s := range cl.Servers {
			addrs = append(addrs, s.RPCAddr)
		}
	default:
		return nil, errors.New("say how to reach the cluster: -c CLUSTER.yaml or --addr HOST:PORT")
	}
	opts := []client.Option{client.WithTimeout(g.timeout)}
	if zone != "" {
		opts = append(opts, client.WithZone(zone))
	}
	return client.New(ctx, addrs, opts...)
}

func metaJSON(m client.Meta) map[string]any {
	return map[string]any{
		"served_by":    map[string]any{"server": m.Server, "zone": m.Zone, "type": m.Type, "role": m.Role},
		"read_version": m.ReadVersion,
		"staleness_ms": m.Staleness.Milliseconds(),
		"partition":    m.Partition,
		"tried":        m.Tried,
	}
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

func explainLine(m client.Meta) string {
	return fmt.Sprintf("served by %s (zone %s, %s %s), partition %d, read version %d, staleness %d ms, %d replica(s) tried",
		m.Server, m.Zone, m.Type, m.Role, m.Partition, m.ReadVersion, m.Staleness.Milliseconds(), m.Tried)
}

func putCmd() *cobra.Command {
	var valueFile string
	c := &cobra.Command{
		Use:   "put TENANT.TABLE KEY [VALUE | --value-file PATH]",
		Short: "Write a key (on the partition's leader; returns the commit version)",
		Long: `Write a key on the partition's leader and print the commit version. The value is the third
argument, or the contents of --value-file (- reads standard input), for values larger than a
command line holds (Linux limits one argument to 128 KiB; a value may be up to 4 MiB).`,
		Example: `  obctl put demo.orders k1 hello -c examples/cluster.yaml
  obctl put demo.orders k2 --value-file photo.jpg -c examples/cluster.yaml
  head -c 1000000 /dev/urandom | obctl put demo.orders k3 --value-file - -c examples/cluster.yaml`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			value, err := putValue(args, valueFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			c, err := dataClient(ctx, "")
			if err != nil {
				return err
			}
			defer c.Close()
			v, err := c.Put(ctx, t, tb, []byte(args[1]), value)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(map[string]any{"version": v})
			}
			_, err = fmt.Fprintf(stdout, "ok, version %d\n", v)
			return err
		},
	}
	c.Flags().StringVar(&valueFile, "value-file", "", "read the value from this file (- for standard input) instead of the VALUE argument")
	return c
}

// maxValueBytes is the largest value a server takes (replica.MaxValueBytes, which obctl does
// not import: it would link the storage engine; TestMaxValueBytes keeps them equal).
const maxValueBytes = 4 << 20

// putValue is put's value: the VALUE argument, or the contents of file ("-": standard input),
// at most maxValueBytes (read one byte further to tell a larger one).
func putValue(args []string, file string) ([]byte, error) {
	switch {
	case len(args) == 3 && file != "":
		return nil, errors.New("give the value as the VALUE argument or --value-file, not both")
	case len(args) == 3:
		return []byte(args[2]), nil
	case file == "":
		return nil, errors.New("no value: give VALUE or --value-file PATH (- for standard input)")
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--value-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxValueBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--value-file %s: %w", file, err)
	}
	if len(b) > maxValueBytes {
		return nil, fmt.Errorf("--value-file %s: more than %d bytes (the largest value, 4 MiB)", file, maxValueBytes)
	}
	return b, nil
}

func deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete TENANT.TABLE KEY",
		Short:   "Delete a key (writes a tombstone at a new version)",
		Example: `  obctl delete demo.orders k1 -c examples/cluster.yaml`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			c, err := dataClient(ctx, "")
			if err != nil {
				return err
			}
			defer c.Close()
			v, err := c.Delete(ctx, t, tb, []byte(args[1]))
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(map[string]any{"version": v})
			}
			_, err = fmt.Fprintf(stdout, "ok, version %d\n", v)
			return err
		},
	}
}

func getCmd() *cobra.Command {
	var f readFlags
	c := &cobra.Command{
		Use:   "get TENANT.TABLE KEY",
		Short: "Read a key, strongly or with bounded staleness, from the replica a read preference picks",
		Example: `  obctl get demo.orders k1 -c examples/cluster.yaml
  obctl get demo.orders k1 --consistency weak --max-staleness 5s --read-preference closest --zone z4 --explain -c examples/cluster.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			opts, err := f.options(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			c, err := dataClient(ctx, f.zone)
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.Get(ctx, t, tb, []byte(args[1]), opts...)
			if err != nil {
				return err
			}
			if g.output == "json" {
				out := metaJSON(res.Meta)
				out["found"] = res.Found
				out["value"] = nil
				if res.Found {
					out["value"] = string(res.Value)
				}
				return printJSON(out)
			}
			if res.Found {
				fmt.Fprintln(stdout, string(res.Value))
			} else {
				fmt.Fprintln(stdout, "(not found)")
			}
			if f.explain {
				fmt.Fprintln(stdout, explainLine(res.Meta))
			}
			return nil
		},
	}
	f.add(c, true)
	return c
}

func scanCmd() *cobra.Command {
	var f readFlags
	var start, end string
	var limit int
	c := &cobra.Command{
		Use:   "scan TENANT.TABLE [--start KEY] [--end KEY] [--limit N]",
		Short: "Read a key range in key order across every partition",
		Long: `Read the keys in [start, end) in key order, merged across the table's hash partitions.
A weak scan reads every partition at one snapshot version (consistent); a strong scan is
linearizable per partition, not one snapshot across partitions.`,
		Example: `  obctl scan demo.orders --limit 10 -c examples/cluster.yaml
  obctl scan demo.orders --consistency weak --read-preference readonly-first --explain -c examples/cluster.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, tb, err := splitTable(args[0])
			if err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must not be negative", limit)
			}
			opts, err := f.options(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			c, err := dataClient(ctx, f.zone)
			if err != nil {
				return err
			}
			defer c.Close()
			var endKey []byte
			if end != "" {
				endKey = []byte(end)
			}
			res, err := c.Scan(ctx, t, tb, []byte(start), endKey, limit, opts...)
			if err != nil {
				return err
			}
			if g.output == "json" {
				rows := make([]map[string]any, len(res.Rows))
				for i, r := range res.Rows {
					rows[i] = map[string]any{"key": string(r.Key), "value": string(r.Value)}
				}
				parts := make([]map[string]any, len(res.Partitions))
				for i, m := range res.Partitions {
					parts[i] = metaJSON(m)
				}
				return printJSON(map[string]any{"rows": rows, "more": res.More, "snapshot_version": res.SnapshotVersion, "partitions": parts})
			}
			rows := make([]map[string]any, len(res.Rows))
			for i, r := range res.Rows {
				rows[i] = map[string]any{"key": string(r.Key), "value": string(r.Value)}
			}
			if err := printRows(stdout, rows, []string{"key", "value"}); err != nil {
				return err
			}
			if res.More {
				fmt.Fprintln(stdout, "(more rows: raise --limit or continue from the last key)")
			}
			if f.explain {
				for _, m := range res.Partitions {
					fmt.Fprintln(stdout, explainLine(m))
				}
			}
			return nil
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&start, "start", "", "first key (inclusive)")
	c.Flags().StringVar(&end, "end", "", "end key (exclusive; default: to the end)")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many rows (0: no limit)")
	return c
}
