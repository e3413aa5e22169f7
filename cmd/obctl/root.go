package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/config"
)

// globals are the flags every command shares.
type globals struct {
	file    string
	addr    string
	output  string
	timeout time.Duration
}

var g globals

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "obctl",
		Short: "Administer an obkv cluster",
		Long: `obctl administers an obkv cluster: a multi-zone, Multi-Paxos replicated key-value store
in the lineage of OceanBase.

It reaches the cluster through any of its servers: give the cluster file with -c (obctl tries
its servers in order) or one server's address with --addr.`,
		Example: `  obctl cluster up -c examples/cluster.yaml
  obctl create resource-unit u1 --max-cpu 1 --memory-size 1GiB -c examples/cluster.yaml
  obctl show replicas --tenant t1 -c examples/cluster.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("-o %q: want table or json", g.output)
			}
			if g.timeout <= 0 {
				return fmt.Errorf("--timeout %v: must be positive", g.timeout)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&g.file, "cluster", "c", "", "cluster file (YAML)")
	root.PersistentFlags().StringVar(&g.addr, "addr", "", "address (host:port) of any server of the cluster")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.PersistentFlags().DurationVar(&g.timeout, "timeout", 10*time.Second, "how long to wait for the cluster to answer")
	root.AddCommand(clusterCmd(), createCmd(), dropCmd(), alterCmd(), showCmd(), switchLeaderCmd(), unsafeRecoverCmd(),
		putCmd(), getCmd(), deleteCmd(), scanCmd(), demoCmd(), benchCmd())
	return root
}

// oneLine turns an error (possibly a gRPC status) into one line for the user.
func oneLine(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// loadCluster loads the -c file, required by commands that manage processes.
func loadCluster() (*config.Cluster, error) {
	if g.file == "" {
		return nil, errors.New("this command needs the cluster file: -c CLUSTER.yaml")
	}
	return config.Load(g.file)
}

// fileZones returns the zones of the -c cluster file, or nil without one (the cluster then
// checks the zones a command names).
func fileZones() (map[string]bool, error) {
	if g.file == "" {
		return nil, nil
	}
	cl, err := config.Load(g.file)
	if err != nil {
		return nil, err
	}
	zones := map[string]bool{}
	for _, z := range cl.Zones() {
		zones[z] = true
	}
	return zones, nil
}

// adminAddrs returns the servers to ask, from --addr or the -c file.
func adminAddrs() ([]string, error) {
	switch {
	case g.addr != "":
		return []string{g.addr}, nil
	case g.file != "":
		cl, err := config.Load(g.file)
		if err != nil {
			return nil, err
		}
		addrs := make([]string, 0, len(cl.Servers))
		for _, s := range cl.Servers {
			addrs = append(addrs, s.RPCAddr)
		}
		return addrs, nil
	}
	return nil, errors.New("say how to reach the cluster: -c CLUSTER.yaml or --addr HOST:PORT")
}

// showAttempt bounds one read-only admin call on one server, so that a server which answers
// its health check but cannot reach the root service (cut off one way) does not hold the whole
// --timeout. Execute calls are not cut short: a DDL may legitimately take longer, and one cut
// short and sent again elsewhere could be applied twice.
const showAttempt = 3 * time.Second

// callAdmin runs fn against the cluster's servers until it succeeds, fails with an error that is
// not about the cluster being in motion (retryable), or ctx ends. It starts with the first
// server that answers a health check and moves to the next one after every retryable failure,
// so an unreachable or cut-off server costs one attempt, not the whole call. attempt, when
// positive, bounds each attempt.
func callAdmin(ctx context.Context, attempt time.Duration, fn func(ctx context.Context, c api.AdminClient) error) error {
	addrs, err := adminAddrs()
	if err != nil {
		return err
	}
	var errs []string
	timedOut := func() error {
		err := fmt.Errorf("no server of the cluster completed it within --timeout (%s)", lastOf(errs, 4))
		if slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "root service is not available") }) {
			// Longer than any election: the meta partition may have lost a majority.
			err = fmt.Errorf("%w; the meta partition has no leader: if its servers are up, a majority of them may have lost their data directories (obctl show replicas cannot tell then; see obctl unsafe-recover --help)", err)
		}
		return err
	}
	for i := 0; ; i++ {
		a := addrs[i%len(addrs)]
		err := adminOn(ctx, a, attempt, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil && !retryable(err) {
			return err
		}
		errs = append(errs, fmt.Sprintf("%s: %s", a, oneLine(err)))
		if ctx.Err() != nil {
			return timedOut()
		}
		if (i+1)%len(addrs) == 0 { // every server tried: let the cluster move on
			select {
			case <-ctx.Done():
				return timedOut()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// adminOn runs fn on the server at addr, after a health check, within attempt if positive.
func adminOn(ctx context.Context, addr string, attempt time.Duration, fn func(ctx context.Context, c api.AdminClient) error) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer conn.Close()
	c := api.NewAdminClient(conn)
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = c.Health(hctx, &api.HealthRequest{})
	cancel()
	if err != nil {
		return status.Errorf(codes.Unavailable, "health check: %s", oneLine(err))
	}
	if attempt <= 0 {
		return fn(ctx, c)
	}
	actx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	err = fn(actx, c)
	if err != nil && actx.Err() != nil && ctx.Err() == nil {
		return status.Errorf(codes.Unavailable, "no answer within %v: %s", attempt, oneLine(err))
	}
	return err
}

// lastOf joins the last n of errs.
func lastOf(errs []string, n int) string {
	if len(errs) > n {
		errs = append([]string{fmt.Sprintf("... %d earlier", len(errs)-n)}, errs[len(errs)-n:]...)
	}
	return strings.Join(errs, "; ")
}

// execute runs one admin operation, retrying on other servers while the root service is
// being elected or a server cannot serve it.
func execute(op string, args any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	b, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	unknown := false // an attempt got no answer after it may have been applied
	err = callAdmin(ctx, 0, func(ctx context.Context, c api.AdminClient) error {
		resp, err := c.Execute(ctx, &api.AdminRequest{Op: op, ArgsJson: b})
		switch {
		case err == nil:
			out = resp.ResultJson
		case unknown && !retryable(err) && redone(op, err):
			// Worded so that retryable does not match it: it is this call's answer.
			return fmt.Errorf("%s; an earlier attempt of this command got no answer after it may have been applied, so it was probably this command that did it: check with obctl show", oneLine(err))
		case retryable(err) && !notSent(err):
			unknown = true
		}
		return err
	})
	return out, err
}

// notSent reports retryable errors that say the operation was not carried out.
func notSent(err error) bool {
	m := oneLine(err)
	return strings.Contains(m, "not leader") || strings.Contains(m, "root service is not available")
}

// redone reports an error a retry of op gets when an earlier attempt of op was applied.
func redone(op string, err error) bool {
	m := oneLine(err)
	return (strings.HasPrefix(op, "create-") && strings.Contains(m, "already exists")) ||
		(strings.HasPrefix(op, "drop-") && strings.Contains(m, "does not exist"))
}

// retryable reports errors that mean "the root service is moving" or "this server cannot
// serve it now", not "your request is bad". Servers give a request's own errors a code of their
// own (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition), never retried: their
// messages repeat what the user typed, so only an Unknown error (a meta write whose outcome is
// unknown) is looked into for words.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Unknown:
	default:
		return false
	}
	m := oneLine(err)
	for _, s := range []string{"root service is not available", "not leader", "outcome unknown", "Unavailable", "connection refused"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// show fetches rows of a `show` kind.
func show(what, tenant, table string) ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	var rows []map[string]any
	err := callAdmin(ctx, showAttempt, func(ctx context.Context, c api.AdminClient) error {
		resp, err := c.Show(ctx, &api.ShowRequest{What: what, Tenant: tenant, Table: table})
		if err != nil {
			return err
		}
		return json.Unmarshal(resp.RowsJson, &rows)
	})
	return rows, err
}

// printRows prints rows as a table with the given column order (other keys follow, sorted), or
// as JSON with -o json.
func printRows(w io.Writer, rows []map[string]any, columns []string) error {
	if g.output == "json" {
		if rows == nil {
			rows = []map[string]any{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	seen := map[string]bool{}
	for _, c := range columns {
		seen[c] = true
	}
	var extra []string
	for _, r := range rows {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	cols := append(append([]string(nil), columns...), extra...)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = format(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	default:
		return fmt.Sprint(x)
	}
}

// printResult prints the result of a DDL: the object as stored, or "ok".
func printResult(w io.Writer, raw json.RawMessage) error {
	if g.output == "json" {
		_, err := fmt.Fprintln(w, string(raw))
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m["status"] == "ok" {
		line := "ok"
		if note, ok := m["note"].(string); ok {
			line += "; " + note
		}
		_, err := fmt.Fprintln(w, line)
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, format(m[k]))
	}
	return tw.Flush()
}

var stdout io.Writer = os.Stdout
