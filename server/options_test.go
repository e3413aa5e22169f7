package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"obkv/clog"
	"obkv/config"
	"obkv/paxos"
	"obkv/replica"
	"obkv/sstable"
)

func TestOptionsValidate(t *testing.T) {
	st := config.DefaultSettings()
	st.MaxClockDrift = 50 * time.Millisecond
	for _, tc := range []struct {
		name string
		o    Options
		want string // "" = valid
	}{
		{"none", Options{}, ""},
		{"offset at the bound", Options{ClockOffset: 50 * time.Millisecond}, ""},
		{"negative offset at the bound", Options{ClockOffset: -50 * time.Millisecond}, ""},
		{"offset over the bound", Options{ClockOffset: 51 * time.Millisecond}, "clock offset 51ms: must be within ±50ms (settings.max_clock_drift)"},
		{"negative offset over the bound", Options{ClockOffset: -80 * time.Millisecond}, "clock offset -80ms: must be within ±50ms (settings.max_clock_drift)"},
		{"listen addresses", Options{RPCListen: "127.0.0.2:1", GossipListen: ":2"}, ""},
		{"rpc listen without port", Options{RPCListen: "127.0.0.2"}, `rpc listen address "127.0.0.2": want host:port`},
		{"gossip listen without port", Options{GossipListen: "x"}, `gossip listen address "x": want host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.validate(st)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("validate: %v, want %q...", err, tc.want)
			}
		})
	}
}

func TestSourceIP(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.5:2882": "127.0.0.5",
		"[::1]:2882":     "::1",
		"0.0.0.0:2882":   "",
		":2882":          "",
		"host:2882":      "", // a name is not resolved: the system chooses
		"garbage":        "",
	} {
		got := sourceIP(addr)
		if (got == nil && want != "") || (got != nil && got.String() != want) {
			t.Errorf("sourceIP(%q) = %v, want %q", addr, got, want)
		}
	}
}

// TestPeerDialerSource checks that peer connections leave from the listen host.
func TestPeerDialerSource(t *testing.T) {
	src := "127.0.0.2"
	if l, err := net.Listen("tcp", src+":0"); err != nil {
		t.Skipf("no second loopback address here: %v", err)
	} else {
		_ = l.Close()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := peerDialer(src+":2882")(ctx, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if host, _, _ := net.SplitHostPort(c.LocalAddr().String()); host != src {
		t.Fatalf("connection from %s, want from %s", c.LocalAddr(), src)
	}
}

// TestClogHoldsTheLargestEntry: with the smallest segments the settings allow, the server's
// clog takes the largest entry a valid write batch makes (with clog's default 1 MiB records a
// 4 MiB value made the leader's save fail, which stops the replica).
func TestClogHoldsTheLargestEntry(t *testing.T) {
	const minSegment = 32 << 20 // settings.clog_segment_size's minimum (config/settings.go)
	opts := clogOptions(minSegment)
	l, err := clog.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, replica.MaxEntryBytes)
	if err := l.Save(context.Background(), clog.Update{Partition: 1, Entries: []clog.Entry{{Index: 1, Ballot: 1, Data: data}}}); err != nil {
		t.Fatalf("saving an entry of %d bytes: %v", len(data), err)
	}
}

// TestMemtablesDifferByServer: the servers of a cluster get memtables of different sizes (so
// that servers holding the same data do not flush and compact level 0 at the same moments),
// each within [3/4, 5/4) of the default and a whole number of MiB; a tight sstable_memory budget
// shrinks them to what fits, never under badger's floor, and the options stay within the budget.
func TestMemtablesDifferByServer(t *testing.T) {
	def := sstable.DefaultOptions("").MemTableSizeBytes
	for _, tc := range []struct {
		budget   int64
		min, max int64 // memtable bytes
		apart    bool  // sizes pairwise at least def/20 apart
	}{
		{512 << 20, def * 3 / 4, def*5/4 - 1, true},
		{1 << 30, def * 3 / 4, def*5/4 - 1, true},
		{256 << 20, def * 3 / 4, (256<<20 - 32<<20) / 3, false},
		{128 << 20, 32 << 20, 32 << 20, false}, // settings.sstable_memory's minimum
	} {
		var sizes []int64
		for id := paxos.ID(1); id <= 4; id++ {
			o := sstableOptions(t.TempDir(), tc.budget, id, nil)
			m := o.MemTableSizeBytes
			if err := o.Validate(); err != nil {
				t.Fatalf("budget %d, server %d: %v", tc.budget, id, err)
			}
			if m < tc.min || m > tc.max || m%(1<<20) != 0 {
				t.Errorf("budget %d, server %d: memtables of %d bytes, want whole MiB in [%d, %d]", tc.budget, id, m, tc.min, tc.max)
			}
			if got := o.MemoryBudgetBytes(); got > tc.budget {
				t.Errorf("budget %d, server %d: options take %d bytes", tc.budget, id, got)
			}
			for j, other := range sizes {
				if d := max(m-other, other-m); tc.apart && d < def/20 {
					t.Errorf("budget %d: servers %d and %d have memtables %d and %d bytes: within %d", tc.budget, j+1, id, other, m, def/20)
				}
			}
			sizes = append(sizes, m)
		}
	}
}
