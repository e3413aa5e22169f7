package sstable_test

import (
	"context"
	"fmt"
	"os"

	"obkv/memstore"
	"obkv/sstable"
)

// Example shows the life of one partition: apply, freeze, dump with a
// checkpoint, read merged over a newer table, restart.
func Example() {
	dir, _ := os.MkdirTemp("", "sstable-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	opts := sstable.DefaultOptions(dir)
	opts.MemTableSizeBytes = 32 << 20
	opts.BlockCacheSizeBytes = 8 << 20
	s, err := sstable.Open(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}

	old, _ := memstore.New(memstore.Config{LimitBytes: 1 << 20})
	_ = old.Put([]byte("k"), []byte("v10"), 10)
	_ = old.Put([]byte("gone"), []byte("x"), 11)
	old.Freeze()
	// Log entries up to index 7 carried versions up to 11.
	if err := s.Dump(ctx, 42, old, sstable.Checkpoint{Index: 7, Version: 11}); err != nil {
		fmt.Println(err)
		return
	}
	active, _ := memstore.New(memstore.Config{LimitBytes: 1 << 20, FloorVersion: 11})
	_ = active.Delete([]byte("gone"), 12)

	view := s.View(42, active)
	for _, k := range []string{"k", "gone"} {
		for _, v := range []uint64{11, 12} {
			val, ok, _ := view.Get([]byte(k), v)
			fmt.Printf("%s at %d: %q %v\n", k, v, val, ok)
		}
	}
	_ = s.Close()

	s, _ = sstable.Open(ctx, opts)
	defer s.Close()
	index, version, ok, _ := s.Checkpoint(42)
	fmt.Println("checkpoint after restart:", index, version, ok)
	// Output:
	// k at 11: "v10" true
	// k at 12: "v10" true
	// gone at 11: "x" true
	// gone at 12: "" false
	// checkpoint after restart: 7 11 true
}
