package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/bench"
	"obkv/client"
	"obkv/config"
	"obkv/launch"
	"obkv/paxos"
	"obkv/tenant"
)

// minBenchDuration is the shortest run phase: the progress line and the workers' ramp-up are
// on the scale of 100 ms, so a shorter run reports noise.
const minBenchDuration = 100 * time.Millisecond

// maxBenchPartitions bounds the Paxos groups one bench makes: an idle partition costs each
// server about 0.1% of a core (docs/operations.md), and the bench's unit is 1 CPU, 1 GiB.
const maxBenchPartitions = 4096

// benchSchema is what the bench creates when it is missing: unit, pool, tenant and tables.
type benchSchema struct {
	tenant, locality, primaryZone string
	tables, partitions            int
	partitionsSet                 bool            // --partitions was given: an existing table must have as many
	loc                           tenant.Locality // --locality, parsed by validate (nil: not given)
}

func (s *benchSchema) add(c *cobra.Command) {
	c.PersistentFlags().StringVar(&s.tenant, "tenant", "bench", "tenant to run in (created with unit <tenant>_unit and pool <tenant>_pool if missing)")
	c.PersistentFlags().IntVar(&s.tables, "tables", 1, "tables usertable, or usertable0..N-1 (created if missing); records are spread over them")
	c.PersistentFlags().IntVar(&s.partitions, "partitions", 8, "hash partitions of each table created (an existing table must have as many when this flag is given)")
	c.PersistentFlags().StringVar(&s.locality, "locality", "", "locality of the tenant if created (default: F in the first three zones, R in the others)")
	c.PersistentFlags().StringVar(&s.primaryZone, "primary-zone", "RANDOM", "primary_zone of the tenant if created (RANDOM spreads leaders over every F zone)")
}

// validate checks the schema flags before anything is created, and the zones they name against
// the cluster file when there is one (-c).
func (s *benchSchema) validate(cmd *cobra.Command) error {
	// The bench names its unit <tenant>_unit and its pool <tenant>_pool: leave room for those.
	if suffix := len("_unit"); !tenant.ValidName(s.tenant) || len(s.tenant)+suffix > tenant.MaxNameLen {
		return fmt.Errorf("--tenant %q: want a letter or '_', then letters, digits and '_', at most %d bytes (the bench adds _unit and _pool for its unit and pool)", s.tenant, tenant.MaxNameLen-suffix)
	}
	if s.tables < 1 || s.tables > 64 {
		return fmt.Errorf("--tables %d: want 1..64", s.tables)
	}
	if s.partitions < 1 || s.partitions > 1024 {
		return fmt.Errorf("--partitions %d: want 1..1024", s.partitions)
	}
	if n := s.tables * s.partitions; n > maxBenchPartitions {
		return fmt.Errorf("--tables %d with --partitions %d: %d partitions (each a Paxos group on every server it has a replica on); want at most %d", s.tables, s.partitions, n, maxBenchPartitions)
	}
	s.partitionsSet = cmd.Flags().Changed("partitions")
	if s.locality != "" {
		loc, err := tenant.ParseLocality(s.locality)
		if err != nil {
			return fmt.Errorf("--locality: %v", err)
		}
		s.loc = loc
	}
	pz, err := tenant.ParsePrimaryZone(s.primaryZone)
	if err != nil {
		return fmt.Errorf("--primary-zone: %v", err)
	}
	known, err := fileZones()
	if err != nil || known == nil {
		return err
	}
	for _, z := range s.loc.Zones() {
		if !known[z] {
			return fmt.Errorf("--locality %q: zone %q is not a zone of %s", s.locality, z, g.file)
		}
	}
	for _, z := range pz.Zones() {
		if !known[z] {
			return fmt.Errorf("--primary-zone %q: zone %q is not a zone of %s", s.primaryZone, z, g.file)
		}
	}
	return nil
}

func (s *benchSchema) tableNames() []string {
	if s.tables == 1 {
		return []string{"usertable"}
	}
	names := make([]string, s.tables)
	for i := range names {
		names[i] = fmt.Sprintf("usertable%d", i)
	}
	return names
}

// ensure creates what is missing and returns each table's partition count. With loaded set
// (--skip-load) the tenant and its tables must exist: an empty table made now would only
// answer "not found" to every read.
func (s *benchSchema) ensure(ctx context.Context, loaded bool) (map[string]int, error) {
	named := func(name string) func(map[string]any) bool {
		return func(r map[string]any) bool { return r["name"] == name }
	}
	unit, pool := s.tenant+"_unit", s.tenant+"_pool"
	type ddl struct {
		what  string
		match func(map[string]any) bool
		op    string
		args  map[string]any
	}
	var steps []ddl
	if t, err := s.find("tenants", named(s.tenant)); err != nil {
		return nil, err
	} else if t == nil && loaded {
		return nil, fmt.Errorf("--skip-load: tenant %s does not exist, so no records were loaded into it (run without --skip-load, or with the --tenant of the run that loaded them)", s.tenant)
	} else if t == nil { // a tenant the bench did not create has a pool of its own
		loc, err := s.creationLocality()
		if err != nil {
			return nil, err
		}
		steps = []ddl{
			{"resource-units", named(unit), "create-unit", map[string]any{"name": unit, "max_cpu": 1, "memory_size": 1 << 30}},
			{"resource-pools", named(pool), "create-pool", map[string]any{"name": pool, "unit": unit, "unit_num": 1, "zone_list": loc.Zones()}},
			{"tenants", named(s.tenant), "create-tenant", map[string]any{"name": s.tenant, "resource_pool_list": []string{pool},
				"locality": loc.String(), "primary_zone": s.primaryZone}},
		}
	}
	for _, t := range s.tableNames() {
		steps = append(steps, ddl{"tables", func(r map[string]any) bool { return r["tenant"] == s.tenant && r["name"] == t },
			"create-table", map[string]any{"tenant": s.tenant, "name": t, "partitions": s.partitions}})
	}
	for _, d := range steps {
		r, err := s.find(d.what, d.match)
		if err != nil {
			return nil, err
		}
		if r != nil {
			continue
		}
		if loaded {
			return nil, fmt.Errorf("--skip-load: table %s.%v does not exist, so no records were loaded into it (run without --skip-load, or with the --tables of the run that loaded them)", s.tenant, d.args["name"])
		}
		if _, err := execute(d.op, d.args); err != nil {
			return nil, fmt.Errorf("%s %v: %w", d.op, d.args["name"], err)
		}
		fmt.Fprintf(os.Stderr, "created %s %v\n", strings.TrimSuffix(d.what, "s"), d.args["name"])
	}
	parts := map[string]int{}
	for _, t := range s.tableNames() {
		r, err := s.find("tables", func(r map[string]any) bool { return r["tenant"] == s.tenant && r["name"] == t })
		if err != nil {
			return nil, err
		}
		n, _ := r["partitions"].(float64)
		parts[t] = max(int(n), 1)
		if s.partitionsSet && parts[t] != s.partitions {
			return nil, fmt.Errorf("--partitions %d: table %s.%s already has %d partitions (use another --tenant, or leave --partitions out to use the table as it is)", s.partitions, s.tenant, t, parts[t])
		}
	}
	return parts, s.waitLeaders(ctx)
}

// creationLocality is the locality of a tenant the bench creates: --locality, else F in the
// cluster's first three zones and R in the others.
func (s *benchSchema) creationLocality() (tenant.Locality, error) {
	if s.loc != nil {
		return s.loc, nil
	}
	zones, err := show("zones", "", "")
	if err != nil {
		return nil, err
	}
	var parts []string
	for i, z := range zones {
		kind := "F"
		if i >= 3 {
			kind = "R"
		}
		parts = append(parts, fmt.Sprintf("%s@%v", kind, z["zone"]))
	}
	return tenant.ParseLocality(strings.Join(parts, ","))
}

// find returns the first row of show WHAT (of the bench tenant) that match accepts, or nil.
func (s *benchSchema) find(what string, match func(map[string]any) bool) (map[string]any, error) {
	rows, err := show(what, s.tenant, "")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if match(r) {
			return r, nil
		}
	}
	return nil, nil
}

// canFailOver checks the tenant's locality with survivesOneLoss.
func (s *benchSchema) canFailOver() error {
	r, err := s.find("tenants", func(r map[string]any) bool { return r["name"] == s.tenant })
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("tenant %s: not found", s.tenant)
	}
	text, _ := r["locality"].(string)
	loc, err := tenant.ParseLocality(text)
	if err != nil {
		return fmt.Errorf("tenant %s: %v", s.tenant, err)
	}
	if err := survivesOneLoss(loc); err != nil {
		return fmt.Errorf("tenant %s: %w (use another --tenant or --locality)", s.tenant, err)
	}
	return nil
}

// survivesOneLoss: a partition of loc keeps a majority and a replica that can lead when any one
// server dies: at least three voting replicas (F and L), two of them FULL.
func survivesOneLoss(loc tenant.Locality) error {
	full := len(loc.ZonesOf(paxos.Full))
	voters := full + len(loc.ZonesOf(paxos.LogOnly))
	if voters < 3 || full < 2 {
		return fmt.Errorf("locality %s has %d voting replicas (%d FULL); failover needs at least 3 voting replicas, 2 of them FULL, so that a majority and a new leader remain when one server dies", loc, voters, full)
	}
	return nil
}

// leaders returns, per server, how many partitions of the bench tables it leads, and whether
// every partition has exactly one leader.
func (s *benchSchema) leaders() (map[string]int, bool, error) {
	count := map[string]int{}
	settled := true
	for _, t := range s.tableNames() {
		rows, err := show("replicas", s.tenant, t)
		if err != nil {
			return nil, false, err
		}
		perPart := map[any]int{}
		for _, r := range rows {
			perPart[r["partition"]] += 0
			if r["role"] == "LEADER" {
				perPart[r["partition"]]++
				count[fmt.Sprint(r["server"])]++
			}
		}
		if len(perPart) == 0 {
			settled = false
		}
		for _, n := range perPart {
			if n != 1 {
				settled = false
			}
		}
	}
	return count, settled, nil
}

func (s *benchSchema) waitLeaders(ctx context.Context) error {
	var last error
	for {
		_, ok, err := s.leaders()
		if err == nil && ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("tenant %s: partitions have no leader yet: %v", s.tenant, last)
			}
			return fmt.Errorf("tenant %s: not every partition has one leader after waiting", s.tenant)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// clientStore adapts client.Client to bench.Store for one tenant.
type clientStore struct {
	c      *client.Client
	tenant string
	read   []client.ReadOption
}

var _ bench.Store = (*clientStore)(nil)

func (s *clientStore) Put(ctx context.Context, table string, key, value []byte) error {
	_, err := s.c.Put(ctx, s.tenant, table, key, value)
	return err
}

func (s *clientStore) Get(ctx context.Context, table string, key []byte) (bool, error) {
	res, err := s.c.Get(ctx, s.tenant, table, key, s.read...)
	return res.Found, err
}

func (s *clientStore) Scan(ctx context.Context, table string, start []byte, limit int) (int, error) {
	res, err := s.c.Scan(ctx, s.tenant, table, start, nil, limit, s.read...)
	return len(res.Rows), err
}

// classifyError names the kind of a client error for the report.
func classifyError(err error) string {
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, client.ErrNotReadable):
		return "not_readable"
	case errors.Is(err, client.ErrNoReplica):
		return "no_replica"
	case errors.Is(err, client.ErrInvalid):
		return "invalid"
	case errors.Is(err, client.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case strings.Contains(err.Error(), "not leader"):
		return "not_leader"
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return strings.ToLower(s.Code().String())
	}
	return "other"
}

// progressPrinter writes the live progress line on stderr: rewritten in place on a terminal,
// one line per update otherwise.
func progressPrinter() func(bench.Progress) {
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	return func(p bench.Progress) {
		if tty {
			fmt.Fprintf(os.Stderr, "\r%s\033[K", p)
		} else {
			fmt.Fprintln(os.Stderr, p)
		}
	}
}

func endProgress() {
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintln(os.Stderr)
	}
}

func benchCmd() *cobra.Command {
	var schema benchSchema
	var rf readFlags
	var workload, distribution, cpuProfile string
	var keys, seed uint64
	var keySize, valueSize, concurrency, scanLength int
	var duration time.Duration
	var skipLoad bool
	c := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Benchmark the cluster with a YCSB-like workload (or measure failover: bench failover)",
		Long: `Run a YCSB-like workload against the cluster and report, per operation type, the count,
the throughput and the latency percentiles (p50, p90, p99, p99.9, max, from an HDR histogram),
and the errors by kind. A progress line on stderr shows ops/s, p50 and p99 so far each second.

Workloads (YCSB's core workloads, plus W and S):
  A  50% read, 50% update      B  95% read, 5% update      C  read only
  W  update only               S  95% short scans (1..--scan-length rows), 5% inserts

The bench runs in its own tenant (--tenant, default bench): it creates the resource unit, pool,
tenant and tables it needs when they are missing (--locality, --primary-zone, --tables,
--partitions), waits until every partition has a leader, then loads --keys records (unless
--skip-load) and runs for --duration with --concurrency clients. Keys are "user" and a number
padded to --key-size; records are chosen zipfian (YCSB's default, theta 0.99, scrambled) or
uniform. Reads use --consistency, --max-staleness, --read-preference and --zone as obctl get.

Latencies are of successful operations only; failed ones are counted by kind, and the report
shows one message of each kind (the first a client saw). Operations cut short by the end of the
run are not counted.`,
		Example: `  # write throughput, 64 clients, one partition, then with leaders spread over 8 partitions
  obctl bench --workload W --partitions 1 --tenant bench1 -c examples/cluster.yaml
  obctl bench --workload W --partitions 8 -c examples/cluster.yaml
  # write latency at one client
  obctl bench --workload W --concurrency 1 --skip-load -c examples/cluster.yaml
  # weak reads from any replica, bounded staleness, JSON report
  obctl bench --workload C --consistency weak --max-staleness 5s --read-preference leader-and-follower -o json -c examples/cluster.yaml
  # leader failover under write load
  obctl bench failover --kills 5 -c examples/cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := schema.validate(cmd); err != nil {
				return err
			}
			wl, err := bench.ParseWorkload(workload)
			if err != nil {
				return fmt.Errorf("--workload: %w", err)
			}
			ropts, err := rf.options(cmd)
			if err != nil {
				return err
			}
			switch {
			case scanLength < 1 || scanLength > bench.MaxScanLength:
				return fmt.Errorf("--scan-length %d: want 1..%d", scanLength, bench.MaxScanLength)
			case cmd.Flags().Changed("scan-length") && wl.Mix[bench.OpScan] == 0:
				return fmt.Errorf("--scan-length %d: only workload S scans (--workload %s)", scanLength, workload)
			case duration > 0 && duration < minBenchDuration:
				return fmt.Errorf("--duration %v: want at least %v (a shorter run measures nothing)", duration, minBenchDuration)
			}
			cfg := bench.Config{Workload: wl, Tables: schema.tableNames(), Records: keys, KeySize: keySize, ValueSize: valueSize,
				Concurrency: concurrency, Duration: duration, Distribution: strings.ToLower(strings.TrimSpace(distribution)), ScanLength: scanLength, Seed: seed,
				ErrorBackoff: 10 * time.Millisecond, Classify: classifyError}
			if err := cfg.Validate(); err != nil {
				return errors.New(flagError(err))
			}
			return runBench(schema, cfg, ropts, rf.zone, skipLoad, cpuProfile)
		},
	}
	schema.add(c)
	rf.add(c, false)
	c.Flags().StringVar(&workload, "workload", "A", "A (50/50 read/update), B (95/5), C (read only), W (write only), S (95% scans / 5% inserts)")
	c.Flags().Uint64Var(&keys, "keys", 10000, "record count: the load phase inserts them; reads and updates choose among them")
	c.Flags().IntVar(&keySize, "key-size", 16, "minimum key length in bytes: keys are \"user\" and the record number, zero-padded to it (longer when the number needs more digits)")
	c.Flags().IntVar(&valueSize, "value-size", 256, "value length in bytes")
	c.Flags().IntVar(&concurrency, "concurrency", 64, "clients, each with one operation in flight (the load phase uses at least 16)")
	c.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long the run phase lasts")
	c.Flags().StringVar(&distribution, "distribution", "zipfian", "key distribution: zipfian (theta 0.99, scrambled) or uniform")
	c.Flags().IntVar(&scanLength, "scan-length", 10, "workload S: each scan reads 1..N rows")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed of every random choice (worker w uses seed+w)")
	c.Flags().BoolVar(&skipLoad, "skip-load", false, "do not insert the records first (they were loaded by an earlier run: the tenant and its tables must exist)")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this client (load and run) to this file, for go tool pprof")
	c.AddCommand(benchFailoverCmd(&schema))
	return c
}

// flagError names the flags in a bench.Config error instead of its fields.
func flagError(err error) string {
	m := err.Error()
	for field, flag := range map[string]string{"records ": "--keys ", "key size ": "--key-size ", "value size ": "--value-size ",
		"concurrency ": "--concurrency ", "duration ": "--duration ", "scan length ": "--scan-length ", "key distribution ": "--distribution "} {
		// A field opens the message, or follows "with" when a rule joins two of them.
		if strings.HasPrefix(m, field) {
			m = flag + strings.TrimPrefix(m, field)
		}
		m = strings.ReplaceAll(m, " with "+field, " with "+flag)
	}
	return m
}

func runBench(schema benchSchema, cfg bench.Config, ropts []client.ReadOption, zone string, skipLoad bool, cpuProfile string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	if _, err := schema.ensure(ctx, skipLoad); err != nil {
		return err
	}
	cli, err := dataClient(ctx, zone)
	if err != nil {
		return err
	}
	defer cli.Close()
	if cpuProfile != "" { // once the cluster answered: a failed run leaves no profile behind
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Distribution == "zipfian" && cfg.Records >= 10_000_000 && g.output == "table" {
		// The zipfian constants take a pass over every record (about 0.6 s per 10 M here).
		fmt.Fprintf(os.Stderr, "the run first prepares the zipfian distribution over %d records\n", cfg.Records)
	}
	store := &clientStore{c: cli, tenant: schema.tenant, read: ropts}
	var reports []bench.Report
	if !skipLoad {
		lcfg := cfg
		lcfg.Concurrency = max(cfg.Concurrency, 16)
		rep, err := bench.Load(context.Background(), store, lcfg, progressPrinter())
		endProgress()
		if err != nil {
			return err
		}
		reports = append(reports, rep)
		if ins, _ := rep.Op("insert"); g.output == "table" {
			fmt.Fprintf(os.Stderr, "loaded %d records in %v (%.0f/s), %d errors\n", ins.Count, rep.Elapsed.Round(time.Millisecond), ins.OpsPerSec, ins.Errors)
		}
	}
	rep, err := bench.Run(context.Background(), store, cfg, progressPrinter())
	endProgress()
	if err != nil {
		return err
	}
	if g.output == "json" {
		reports = append(reports, rep)
		return printJSON(reports)
	}
	return rep.WriteTable(stdout)
}

func benchFailoverCmd(schema *benchSchema) *cobra.Command {
	var kills, concurrency, keySize, valueSize int
	var interval, recoverTimeout time.Duration
	c := &cobra.Command{
		Use:   "failover -c CLUSTER.yaml [--kills N] [--interval D]",
		Short: "Measure the write gap when the server leading the most partitions is killed (SIGKILL), N times",
		Long: `Under a steady write load (--concurrency clients writing uniformly random keys of the bench
tables), repeatedly SIGKILL the server that leads the most partitions, wait until every partition
acknowledges a write sent after the server died, restart the server (waiting until it answers)
and let the cluster settle for --interval before the next kill.

For each kill it reports the longest time without any acknowledged write, the longest time one
partition went without one (the failover as a client of that partition sees it), how long until
every partition was written again, and the writes that failed from the kill until then (by kind,
with one message of each: in-flight writes to the killed leader end "outcome unknown"); then the
median and p99 over kills. A gap spanning the kill counts from the last write before it. It
needs -c: it starts and kills the servers of the cluster file on this machine. The tenant must
survive the loss of one server: at least three voting replicas (F and L), two of them F; the
bench refuses any other before the first kill.`,
		Example: `  obctl bench failover --kills 5 --interval 5s -c examples/cluster.yaml
  obctl bench failover --kills 10 --concurrency 16 --partitions 4 -o json -c examples/cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := schema.validate(cmd); err != nil {
				return err
			}
			if schema.loc != nil {
				if err := survivesOneLoss(schema.loc); err != nil {
					return fmt.Errorf("--locality: %w", err)
				}
			}
			switch {
			case kills < 1 || kills > 1000:
				return fmt.Errorf("--kills %d: want 1..1000", kills)
			case interval <= 0:
				return fmt.Errorf("--interval %v: must be positive", interval)
			case recoverTimeout < time.Second:
				return fmt.Errorf("--recover-timeout %v: want at least 1s (a failover waits out the dead leader's lease, 500ms by default, then elects)", recoverTimeout)
			case concurrency < 1 || concurrency > bench.MaxConcurrency:
				return fmt.Errorf("--concurrency %d: want 1..%d", concurrency, bench.MaxConcurrency)
			case keySize < 0 || keySize > bench.MaxKeySize:
				return fmt.Errorf("--key-size %d: want 0..%d", keySize, bench.MaxKeySize)
			case valueSize < 0 || valueSize > bench.MaxValueSize:
				return fmt.Errorf("--value-size %d: want 0..%d", valueSize, bench.MaxValueSize)
			case int64(concurrency)*int64(valueSize) > bench.MaxWorkerMemory:
				return fmt.Errorf("--concurrency %d with --value-size %d: the writers would hold %d MiB of values; want at most %d MiB: lower either",
					concurrency, valueSize, int64(concurrency)*int64(valueSize)>>20, bench.MaxWorkerMemory>>20)
			}
			cl, err := loadCluster()
			if err != nil {
				return err
			}
			return runFailover(cl, *schema, failoverParams{kills, concurrency, keySize, valueSize, interval, recoverTimeout})
		},
	}
	c.Flags().IntVar(&kills, "kills", 5, "how many times to kill a leader")
	c.Flags().DurationVar(&interval, "interval", 5*time.Second, "steady time before each kill (and after each restart)")
	c.Flags().DurationVar(&recoverTimeout, "recover-timeout", 30*time.Second, "give up waiting for every partition to be written again after this")
	c.Flags().IntVar(&concurrency, "concurrency", 64, "writers, each with one write in flight")
	c.Flags().IntVar(&keySize, "key-size", 16, "key length in bytes")
	c.Flags().IntVar(&valueSize, "value-size", 256, "value length in bytes")
	return c
}

type failoverParams struct {
	kills, concurrency, keySize, valueSize int
	interval, recoverTimeout               time.Duration
}

func runFailover(cl *config.Cluster, schema benchSchema, p failoverParams) error {
	// An interrupt (Ctrl-C) or SIGTERM ends the run, but never with a server left killed.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	sctx, scancel := context.WithTimeout(ctx, g.timeout)
	parts, err := schema.ensure(sctx, false)
	scancel()
	if err != nil {
		return err
	}
	if err := schema.canFailOver(); err != nil {
		return err
	}
	cli, err := dataClient(ctx, "")
	if err != nil {
		return err
	}
	defer cli.Close()

	// Partition ids across tables: table i's partitions follow table i-1's.
	tables := schema.tableNames()
	base := make([]int, len(tables))
	total := 0
	for i, t := range tables {
		base[i] = total
		total += parts[t]
	}
	tracker := bench.NewGapTracker(time.Now())
	var errs killErrors
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < p.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			value := make([]byte, p.valueSize)
			var key []byte
			for wctx.Err() == nil {
				ti := r.IntN(len(tables))
				key = bench.AppendKey(key[:0], r.Uint64N(1<<40), p.keySize)
				cctx, ccancel := context.WithTimeout(wctx, 2*time.Second)
				sent := time.Now()
				_, err := cli.Put(cctx, schema.tenant, tables[ti], key, value)
				ccancel()
				if err == nil {
					tracker.Ack(base[ti]+tenant.PartitionOf(key, parts[tables[ti]]), sent, time.Now())
					continue
				}
				if wctx.Err() != nil {
					return
				}
				errs.add(err)
				select { // back off while the partition has no leader
				case <-wctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	defer func() { wcancel(); wg.Wait() }()

	fmt.Fprintf(os.Stderr, "%d writers on %d partitions of tenant %s; %d kills, %v apart\n", p.concurrency, total, schema.tenant, p.kills, p.interval)
	var results []bench.Kill
	interrupted := func(n int) error {
		return fmt.Errorf("interrupted at kill %d of %d; every server is running", n, p.kills)
	}
	for n := 1; n <= p.kills; n++ {
		select { // steady state: no condition to wait on, the interval is the point
		case <-ctx.Done():
			return interrupted(n)
		case <-time.After(p.interval):
		}
		sctx, scancel := context.WithTimeout(ctx, g.timeout)
		err := schema.waitLeaders(sctx)
		scancel()
		if err != nil {
			return err
		}
		counts, _, err := schema.leaders()
		if err != nil {
			return err
		}
		victim, led := mostLeaders(counts)
		errs.take() // those of the restart and the steady state before this kill are not its own
		tracker.Open()
		killAt := time.Now()
		// The kill and the restart run to the end even when interrupted (a context of their own).
		kctx, kcancel := context.WithTimeout(context.Background(), g.timeout)
		err = launch.Stop(kctx, cl, victim, true, launchOptions(cl))
		kcancel()
		if err != nil {
			return fmt.Errorf("kill %d: %w", n, err)
		}
		dead := time.Now() // Stop returns once the process is gone
		recovered := time.Duration(0)
		deadline := killAt.Add(p.recoverTimeout)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if tracker.AllSentSince(dead, total) {
				recovered = time.Since(killAt)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		k := bench.Kill{N: n, Server: victim, Leading: led, Window: tracker.Close(time.Now()), Recovered: recovered}
		k.Errors, k.ErrorKinds, k.ErrorExamples = errs.take()
		results = append(results, k)
		fmt.Fprintf(os.Stderr, "kill %d: %s (led %d): longest gap %s, one partition %s (partition %d), all partitions writing after %s\n",
			n, victim, led, bench.FormatLatency(k.MaxGap), bench.FormatLatency(k.MaxPartGap), k.MaxPart, bench.FormatLatency(recovered))
		rctx, rcancel := context.WithTimeout(context.Background(), g.timeout+20*time.Second)
		err = launch.Start(rctx, cl, victim, launchOptions(cl))
		rcancel()
		if err != nil {
			return fmt.Errorf("restart %s after kill %d: %w (start it again: obctl cluster up -c %s)", victim, n, err, g.file)
		}
		if ctx.Err() != nil {
			return interrupted(n)
		}
	}
	wcancel()
	wg.Wait()
	if g.output == "json" {
		s := bench.Summarize(results)
		rows := make([]map[string]any, len(results))
		for i, k := range results {
			rows[i] = map[string]any{"kill": k.N, "server": k.Server, "partitions_led": k.Leading, "max_gap_ms": ms(k.MaxGap),
				"max_partition_gap_ms": ms(k.MaxPartGap), "max_partition": k.MaxPart, "all_partitions_writing_after_ms": ms(k.Recovered),
				"acks": k.Acks, "errors": k.Errors, "error_kinds": k.ErrorKinds, "error_examples": k.ErrorExamples}
		}
		return printJSON(map[string]any{"kills": rows, "median_gap_ms": ms(s.MedianGap), "p99_gap_ms": ms(s.P99Gap),
			"median_partition_gap_ms": ms(s.MedianPartGap), "p99_partition_gap_ms": ms(s.P99PartGap)})
	}
	return bench.WriteFailoverTable(stdout, results)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// killErrors gathers the failover writers' errors by kind, with one message of each kind, from
// one take to the next.
type killErrors struct {
	mu       sync.Mutex
	kinds    map[string]int64
	examples map[string]string
}

func (e *killErrors) add(err error) {
	kind := classifyError(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kinds == nil {
		e.kinds, e.examples = map[string]int64{}, map[string]string{}
	}
	e.kinds[kind]++
	if _, ok := e.examples[kind]; !ok {
		e.examples[kind] = bench.ErrorExample(err)
	}
}

// take returns what was gathered since the last take (nil maps for none) and starts over.
func (e *killErrors) take() (n int64, kinds map[string]int64, examples map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kinds, examples = e.kinds, e.examples
	e.kinds, e.examples = nil, nil
	for _, c := range kinds {
		n += c
	}
	return n, kinds, examples
}

// mostLeaders picks the server leading the most partitions (ties: the first by name).
func mostLeaders(counts map[string]int) (string, int) {
	names := make([]string, 0, len(counts))
	for s := range counts {
		names = append(names, s)
	}
	sort.Strings(names)
	best := ""
	for _, s := range names {
		if best == "" || counts[s] > counts[best] {
			best = s
		}
	}
	return best, counts[best]
}
