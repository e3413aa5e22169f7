package clog_test

import (
	"context"
	"fmt"

	"obkv/clog"
)

// A replica persists what its Paxos Ready asks for, and sends only after
// Save returned nil.
func Example() {
	opts := clog.DefaultOptions()
	opts.FS = clog.NewMemFS() // the OS file system in production
	opts.SegmentBytes = 16 << 20
	l, err := clog.Open("/data/clog", opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	// Partition 7 promised ballot 3 and accepted two entries; partition 9
	// learned of a conflict at index 2 and replaces its suffix.
	err = l.Save(ctx,
		clog.Update{Partition: 7, State: []byte("promised=3"), Entries: []clog.Entry{
			{Index: 1, Ballot: 3, Data: []byte("put a=1")},
			{Index: 2, Ballot: 3, Data: []byte("put b=2")},
		}},
		clog.Update{Partition: 9, Entries: []clog.Entry{
			{Index: 1, Ballot: 1, Data: []byte("x")}, {Index: 2, Ballot: 1, Data: []byte("y")},
		}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := l.Save(ctx, clog.Update{Partition: 9, TruncateFrom: 2, Entries: []clog.Entry{{Index: 2, Ballot: 4, Data: []byte("z")}}}); err != nil {
		fmt.Println(err)
		return
	}
	// After a checkpoint at index 1, partition 7 no longer needs it.
	if err := l.Compact(ctx, 7, 2); err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range l.Partitions() {
		first, last, _ := l.Range(p)
		es, _ := l.Entries(p, first, last+1, 0)
		st, _ := l.State(p)
		fmt.Printf("partition %d state %q:", p, st)
		for _, e := range es {
			fmt.Printf(" %d@%d=%s", e.Index, e.Ballot, e.Data)
		}
		fmt.Println()
	}
	fmt.Println(l.Close())
	// Output:
	// partition 7 state "promised=3": 2@3=put b=2
	// partition 9 state "": 1@1=x 2@4=z
	// <nil>
}
