package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// OpReport is the outcome of one operation kind (or "total") over a run.
type OpReport struct {
	Op string
	// Count is the successful operations; their latencies are the percentiles.
	Count int64
	// NotFound is the successful reads that found no key (a sign of a run without a load).
	NotFound int64
	// OpsPerSec is Count over the run's elapsed time.
	OpsPerSec                float64
	P50, P90, P99, P999, Max time.Duration
	Errors                   int64
	// ErrorKinds counts the failures by kind (Config.Classify).
	ErrorKinds map[string]int64
	// ErrorExamples holds one error message of each kind in ErrorKinds (the first that one
	// client saw, cut at 400 bytes): what a count alone does not say.
	ErrorExamples map[string]string
}

// MarshalJSON writes latencies in microseconds (p50_us ...), the unit they are measured in.
func (o OpReport) MarshalJSON() ([]byte, error) {
	kinds, examples := o.ErrorKinds, o.ErrorExamples
	if kinds == nil {
		kinds = map[string]int64{}
	}
	if examples == nil {
		examples = map[string]string{}
	}
	return json.Marshal(struct {
		Op         string            `json:"op"`
		Count      int64             `json:"count"`
		NotFound   int64             `json:"not_found"`
		OpsPerSec  float64           `json:"ops_per_sec"`
		P50        int64             `json:"p50_us"`
		P90        int64             `json:"p90_us"`
		P99        int64             `json:"p99_us"`
		P999       int64             `json:"p999_us"`
		Max        int64             `json:"max_us"`
		Errors     int64             `json:"errors"`
		ErrorKinds map[string]int64  `json:"error_kinds"`
		Examples   map[string]string `json:"error_examples"`
	}{o.Op, o.Count, o.NotFound, round2(o.OpsPerSec), o.P50.Microseconds(), o.P90.Microseconds(), o.P99.Microseconds(),
		o.P999.Microseconds(), o.Max.Microseconds(), o.Errors, kinds, examples})
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// Report is the outcome of a run (or a load phase).
type Report struct {
	Workload    string        `json:"workload"`
	Phase       string        `json:"phase"` // "load" or "run"
	Concurrency int           `json:"concurrency"`
	Elapsed     time.Duration `json:"-"`
	// Ops has one entry per operation kind that ran or failed, in OpKind order, then "total".
	Ops []OpReport `json:"ops"`
}

// MarshalJSON adds elapsed_s.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		ElapsedSec float64 `json:"elapsed_s"`
	}{plain(r), round2(r.Elapsed.Seconds())})
}

// Op returns the entry of an operation name ("read", "total" ...), if any.
func (r Report) Op(name string) (OpReport, bool) {
	for _, o := range r.Ops {
		if o.Op == name {
			return o, true
		}
	}
	return OpReport{}, false
}

func buildReport(t *tally, workload, phase string, concurrency int, elapsed time.Duration) Report {
	r := Report{Workload: workload, Phase: phase, Concurrency: concurrency, Elapsed: elapsed}
	total := OpReport{Op: "total", ErrorKinds: map[string]int64{}, ErrorExamples: map[string]string{}}
	for k := range t.hists {
		h := t.hists[k]
		var nerr int64
		for _, n := range t.errs[k] {
			nerr += n
		}
		if h.TotalCount() == 0 && nerr == 0 {
			continue
		}
		o := opReport(OpKind(k).String(), h.TotalCount(), t.misses[k], elapsed, t.hists[k])
		o.Errors = nerr
		o.ErrorKinds, o.ErrorExamples = map[string]int64{}, map[string]string{}
		for e, n := range t.errs[k] {
			o.ErrorKinds[e] = n
			total.ErrorKinds[e] += n
			if msg, ok := t.first[k][e]; ok {
				o.ErrorExamples[e] = msg
				if _, seen := total.ErrorExamples[e]; !seen {
					total.ErrorExamples[e] = msg
				}
			}
		}
		total.Errors += nerr
		total.NotFound += t.misses[k]
		r.Ops = append(r.Ops, o)
	}
	all := opReport("total", t.all.TotalCount(), total.NotFound, elapsed, t.all)
	all.Errors, all.ErrorKinds, all.ErrorExamples = total.Errors, total.ErrorKinds, total.ErrorExamples
	r.Ops = append(r.Ops, all)
	return r
}

func opReport(name string, count, misses int64, elapsed time.Duration, h interface {
	ValueAtQuantile(float64) int64
	Max() int64
}) OpReport {
	o := OpReport{Op: name, Count: count, NotFound: misses}
	if elapsed > 0 {
		o.OpsPerSec = float64(count) / elapsed.Seconds()
	}
	if count > 0 {
		o.P50, o.P90, o.P99, o.P999 = micros(h.ValueAtQuantile(50)), micros(h.ValueAtQuantile(90)),
			micros(h.ValueAtQuantile(99)), micros(h.ValueAtQuantile(99.9))
		o.Max = micros(h.Max())
	}
	return o
}

// WriteTable prints the report as an aligned table, one row per operation kind, then the
// errors by kind when there are any, each kind with an example message.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "workload %s, %s phase, %d clients, %v\n", r.Workload, r.Phase, r.Concurrency, r.Elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OP\tCOUNT\tOPS/S\tP50\tP90\tP99\tP99.9\tMAX\tERRORS\tNOT FOUND\t")
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", o.Op, o.Count, o.OpsPerSec,
			FormatLatency(o.P50), FormatLatency(o.P90), FormatLatency(o.P99), FormatLatency(o.P999), FormatLatency(o.Max), o.Errors, o.NotFound)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Ops {
		if o.Op == "total" || len(o.ErrorKinds) == 0 {
			continue
		}
		writeErrors(w, o.Op, o.ErrorKinds, o.ErrorExamples)
	}
	return nil
}

// writeErrors prints the errors of what (an operation, a kill) by kind, then one example of each.
func writeErrors(w io.Writer, what string, kinds map[string]int64, examples map[string]string) {
	fmt.Fprintf(w, "errors of %s: %s\n", what, formatKinds(kinds))
	for _, k := range sortedKeys(kinds) {
		if msg, ok := examples[k]; ok {
			fmt.Fprintf(w, "  e.g. %s: %s\n", k, msg)
		}
	}
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatKinds(m map[string]int64) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// FormatLatency prints a latency in ms with three decimals ("0.412ms"), or "-" for none.
func FormatLatency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000)
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Phase   string
	Elapsed time.Duration
	// Ops and Errors are totals so far; OpsPerSec is the rate since the previous snapshot.
	Ops, Errors int64
	OpsPerSec   float64
	// P50 and P99 are over every successful operation so far.
	P50, P99 time.Duration
}

// String is the live progress line.
func (p Progress) String() string {
	return fmt.Sprintf("%s %5.1fs  %9d ops  %8.0f ops/s  p50 %s  p99 %s  errors %d",
		p.Phase, p.Elapsed.Seconds(), p.Ops, p.OpsPerSec, FormatLatency(p.P50), FormatLatency(p.P99), p.Errors)
}
