package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"obkv/client"
	"obkv/config"
	"obkv/launch"
)

func demoCmd() *cobra.Command {
	var rows int
	c := &cobra.Command{
		Use:   "demo [-c CLUSTER.yaml]",
		Short: "A tour: start the example cluster, write and read (strong and weak from z4), kill z1, watch failover",
		Long: `Brings up the cluster of examples/cluster.yaml (or uses it if it is running), creates a tenant
with locality F@z1,F@z2,F@z3,R@z4 and primary_zone z1;z2,z3 and a table, writes rows, reads them
strongly and weakly from the READONLY replica in z4 (showing which replica served and how stale),
kills the z1 server while writes go on and shows the leaders moving to z2 and z3, restarts it and
shows them return, then prints commands to explore further. The cluster keeps running.`,
		Example: `  go build -o bin/ ./cmd/... && bin/obctl demo`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.file == "" && g.addr == "" {
				g.file = "examples/cluster.yaml"
			}
			if rows < 1 || rows > 1000000 {
				return fmt.Errorf("--rows %d: want 1..1000000", rows)
			}
			return runDemo(rows)
		},
	}
	c.Flags().IntVar(&rows, "rows", 2000, "rows to write")
	return c
}

func step(format string, args ...any) {
	fmt.Fprintf(stdout, "\n\033[1m== %s\033[0m\n", fmt.Sprintf(format, args...))
}

func runDemo(rows int) error {
	cl, err := loadCluster()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	step("start cluster %s: %d servers in zones %s", cl.Name, len(cl.Servers), strings.Join(cl.Zones(), ", "))
	if err := launch.Up(ctx, cl, launchOptions(cl)); err != nil {
		return err
	}
	if err := waitBootstrapped(ctx, cl); err != nil {
		return err
	}
	if err := printStatus(ctx, cl); err != nil {
		return err
	}

	step("declare a resource unit, a pool over every zone, tenant demo and table demo.orders")
	if err := ensureDemoSchema(cl); err != nil {
		return err
	}
	tenants, err := show("tenants", "", "")
	if err != nil {
		return err
	}
	if err := printRows(stdout, tenants, showColumns["tenants"]); err != nil {
		return err
	}
	if err := waitLeaders(ctx, "z1"); err != nil {
		return err
	}
	reps, err := show("replicas", "demo", "orders")
	if err != nil {
		return err
	}
	if err := printRows(stdout, reps, showColumns["replicas"]); err != nil {
		return err
	}

	cli, err := dataClient(ctx, "")
	if err != nil {
		return err
	}
	defer cli.Close()
	step("write %d rows (16 writers)", rows)
	start := time.Now()
	if err := writeRows(ctx, cli, rows); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "   %d rows in %v (%.0f writes/s)\n", rows, el.Round(time.Millisecond), float64(rows)/el.Seconds())

	step("read a row strongly (from the leader) and weakly from z4 (its READONLY replica)")
	key := []byte(fmt.Sprintf("order-%06d", rows/2))
	res, err := cli.Get(ctx, "demo", "orders", key)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   strong: %s = %s\n   %s\n", key, res.Value, explainLine(res.Meta))
	res, err = cli.Get(ctx, "demo", "orders", key, client.Weak(), client.MaxStaleness(5*time.Second), client.Prefer(client.Closest), client.Zone("z4"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   weak from z4: %s = %s\n   %s\n", key, res.Value, explainLine(res.Meta))
	sres, err := cli.Scan(ctx, "demo", "orders", nil, nil, 3, client.Weak(), client.Prefer(client.ReadonlyOnly))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   weak scan on READONLY replicas, one snapshot version %d across %d partitions:\n", sres.SnapshotVersion, len(sres.Partitions))
	for _, r := range sres.Rows {
		fmt.Fprintf(stdout, "     %s = %s\n", r.Key, r.Value)
	}

	victim := cl.ServersIn(cl.Zones()[0])[0].Name
	step("kill -9 %s (zone %s) while 8 writers keep writing", victim, cl.Zones()[0])
	w := startWriters(ctx, cli, 8)
	time.Sleep(500 * time.Millisecond) // let the writers settle before the kill, to measure a clean gap
	if err := launch.Stop(ctx, cl, victim, true, launchOptions(cl)); err != nil {
		w.stop()
		return err
	}
	killed := time.Now()
	err = waitLeaders(ctx, "z2", "z3")
	moved := time.Since(killed)
	time.Sleep(time.Second)
	st := w.stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   every partition led from z2/z3 %v after the kill\n", moved.Round(time.Millisecond))
	fmt.Fprintf(stdout, "   writes went on: %d acknowledged, %d refused while leaders moved (not applied, or outcome unknown); the longest gap between acknowledged writes was %v\n",
		st.ok, st.failed, st.maxGap.Round(time.Millisecond))
	if err := printLeaders(); err != nil {
		return err
	}

	step("restart %s: it recovers from its clog and sstable, catches up, and leaders return to z1", victim)
	if err := launch.Start(ctx, cl, victim, launchOptions(cl)); err != nil {
		return err
	}
	back := time.Now()
	if err := waitLeaders(ctx, "z1"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   leaders back in z1 %v after the restart\n", time.Since(back).Round(time.Millisecond))
	if err := printLeaders(); err != nil {
		return err
	}

	step("explore further")
	file := cl.Path
	if wd, err := os.Getwd(); err == nil {
		if rel, ok := strings.CutPrefix(file, wd+"/"); ok {
			file = rel
		}
	}
	for _, l := range []string{
		"obctl show replicas --tenant demo -c %s",
		"obctl get demo.orders order-000001 --consistency weak --read-preference readonly-first --explain -c %s",
		"obctl scan demo.orders --limit 5 --consistency weak --max-staleness 1s --explain -c %s",
		"obctl put demo.orders mykey myvalue -c %s",
		"obctl switch-leader demo.orders --partition 0 --to s2 -c %s",
		"obctl alter tenant demo --primary-zone 'z2;z1,z3' -c %s",
		"obctl alter tenant demo --locality F@z1,F@z2,F@z3,F@z4 -c %s && obctl show jobs -c %s",
		"obctl cluster stop --server s2 --kill -c %s",
		"obctl cluster down -c %s",
	} {
		fmt.Fprintln(stdout, "   bin/"+strings.ReplaceAll(l, "%s", file))
	}
	return nil
}

func ensureDemoSchema(cl *config.Cluster) error {
	exists := func(what, key, name string) (bool, error) {
		rows, err := show(what, "", "")
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if r[key] == name {
				return true, nil
			}
		}
		return false, nil
	}
	type ddl struct {
		what, key, name, op string
		args                map[string]any
	}
	for _, d := range []ddl{
		{"resource-units", "name", "demo_unit", "create-unit", map[string]any{"name": "demo_unit", "max_cpu": 1, "memory_size": 1 << 30}},
		{"resource-pools", "name", "demo_pool", "create-pool", map[string]any{"name": "demo_pool", "unit": "demo_unit", "unit_num": 1, "zone_list": cl.Zones()}},
		{"tenants", "name", "demo", "create-tenant", map[string]any{"name": "demo", "resource_pool_list": []string{"demo_pool"},
			"locality": "F@z1,F@z2,F@z3,R@z4", "primary_zone": "z1;z2,z3"}},
		{"tables", "name", "orders", "create-table", map[string]any{"tenant": "demo", "name": "orders", "partitions": 4}},
	} {
		ok, err := exists(d.what, d.key, d.name)
		if err != nil {
			return err
		}
		if ok {
			fmt.Fprintf(stdout, "   %s %s exists\n", strings.TrimSuffix(d.what, "s"), d.name)
			continue
		}
		if _, err := execute(d.op, d.args); err != nil {
			return fmt.Errorf("%s %s: %w", d.op, d.name, err)
		}
		fmt.Fprintf(stdout, "   created %s %s\n", strings.TrimSuffix(d.what, "s"), d.name)
	}
	return nil
}

// waitLeaders waits until every partition of demo.orders has exactly one leader, in zones.
func waitLeaders(ctx context.Context, zones ...string) error {
	want := map[string]bool{}
	for _, z := range zones {
		want[z] = true
	}
	var last string
	for {
		rows, err := show("replicas", "demo", "orders")
		if err == nil {
			leaders := map[any]int{}
			parts := map[any]bool{}
			ok := true
			for _, r := range rows {
				parts[r["partition"]] = true
				if r["role"] == "LEADER" {
					leaders[r["partition"]]++
					if !want[fmt.Sprint(r["zone"])] {
						ok = false
					}
				}
			}
			for p := range parts {
				if leaders[p] != 1 {
					ok = false
				}
			}
			if ok && len(parts) > 0 {
				return nil
			}
			last = fmt.Sprintf("%d partitions, leaders %v", len(parts), leaders)
		} else {
			last = oneLine(err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leaders did not settle in %v: %s", zones, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printLeaders() error {
	rows, err := show("replicas", "demo", "orders")
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, r := range rows {
		if r["role"] == "LEADER" {
			count[fmt.Sprintf("%v (%v)", r["server"], r["zone"])]++
		}
	}
	var parts []string
	for k, v := range count {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	fmt.Fprintf(stdout, "   leaders: %s\n", strings.Join(parts, ", "))
	return nil
}

// writeRows writes order-000000... with 16 writers and a progress bar on stderr.
func writeRows(ctx context.Context, cli *client.Client, n int) error {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				k := fmt.Sprintf("order-%06d", i)
				if _, err := cli.Put(ctx, "demo", "orders", []byte(k), []byte(fmt.Sprintf("item-%d qty-%d", i%97, i%7+1))); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("put %s: %w", k, err)
					}
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				bar(done.Load(), int64(n))
			}
		}
	}()
	wg.Wait()
	close(stop)
	bar(done.Load(), int64(n))
	fmt.Fprintln(os.Stderr)
	return firstErr
}

func bar(done, total int64) {
	const width = 40
	k := int(done * width / max(total, 1))
	fmt.Fprintf(os.Stderr, "\r   [%s%s] %d/%d", strings.Repeat("#", k), strings.Repeat(" ", width-k), done, total)
}

// writers keep writing until stopped, measuring the longest gap between acknowledged writes.
type writers struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	lastAck time.Time
	stats   writeStats
}

type writeStats struct {
	ok, failed int
	maxGap     time.Duration
}

func startWriters(ctx context.Context, cli *client.Client, n int) *writers {
	ctx, cancel := context.WithCancel(ctx)
	w := &writers{cancel: cancel, lastAck: time.Now()}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func(i int) {
			defer w.wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				k := fmt.Sprintf("live-%d-%06d", i, seq)
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := cli.Put(cctx, "demo", "orders", []byte(k), []byte("v"))
				ccancel()
				w.mu.Lock()
				if err == nil {
					now := time.Now()
					w.stats.maxGap = max(w.stats.maxGap, now.Sub(w.lastAck))
					w.lastAck = now
					w.stats.ok++
				} else if !errors.Is(err, context.Canceled) {
					w.stats.failed++
				}
				w.mu.Unlock()
				if err != nil {
					select { // back off while the partition has no leader
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}(i)
	}
	return w
}

func (w *writers) stop() writeStats {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}
