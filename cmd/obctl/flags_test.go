package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"obkv/replica"
)

// The resource unit flags the root service would misread (NaN does not even encode; 0 means
// "the default" there) are refused by obctl.
func TestCreateUnitRefusesBadFlags(t *testing.T) {
	unit := []string{"create", "resource-unit", "u", "--memory-size", "1GiB"}
	refusedBeforeContact(t, []refusal{
		{append(unit, "--max-cpu", "NaN"), `--max-cpu NaN: want a number of CPUs, 1..4096`},
		{append(unit, "--max-cpu", "2", "--min-cpu", "+Inf"), `--min-cpu +Inf: want a number of CPUs`},
		{append(unit, "--max-cpu", "2", "--min-cpu", "0"), `--min-cpu 0: want at least 1 (leave it out for min_cpu = max_cpu)`},
		{append(unit, "--max-cpu", "2", "--log-disk-size", "0GiB"), `--log-disk-size 0GiB: want at least 512MiB (leave it out for 3 x memory_size)`},
	})
}

// refusal is a command line and the error it must get.
type refusal struct {
	args []string
	want string
}

// refusedBeforeContact runs each command line against examples/cluster.yaml, whose servers do
// not run here: the expected error must come before any contact (else the error would be a
// refused connection or a timeout).
func refusedBeforeContact(t *testing.T, cases []refusal) {
	t.Helper()
	old := g
	t.Cleanup(func() { g = old })
	for _, tc := range cases {
		root := newRoot()
		root.SetArgs(append(slices.Clone(tc.args), "-c", "../../examples/cluster.yaml", "--timeout", "100ms"))
		root.SetOut(io.Discard)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("obctl %s: %v; want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// show's filters apply to the kinds they filter; elsewhere they are refused, not ignored; and
// switch-leader needs a server to move to.
func TestShowAndSwitchLeaderRefuseBadFlags(t *testing.T) {
	refusedBeforeContact(t, []refusal{
		{[]string{"switch-leader", "t1.kv", "--partition", "0", "--to", ""}, `--to "": name the server to lead`},
		{[]string{"show", "servers", "--tenant", "t1"}, `--tenant t1: show servers lists them all; --tenant applies to tables and replicas`},
		{[]string{"show", "tables", "--tenant", "t1", "--table", "kv"}, `--table kv: applies to show replicas only`},
	})
}

func TestMaxValueBytes(t *testing.T) {
	if maxValueBytes != replica.MaxValueBytes {
		t.Fatalf("obctl's maxValueBytes %d, the servers' replica.MaxValueBytes %d", maxValueBytes, replica.MaxValueBytes)
	}
}

// put takes its value from the argument or --value-file (- for stdin), never both or neither,
// and refuses a file larger than the largest value before sending it.
func TestPutValue(t *testing.T) {
	dir := t.TempDir()
	small, big := dir+"/small", dir+"/big"
	if err := os.WriteFile(small, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, maxValueBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := putValue([]string{"t.x", "k"}, small); err != nil || string(v) != "from a file" {
		t.Errorf("--value-file small: %q, %v", v, err)
	}
	if v, err := putValue([]string{"t.x", "k", "arg"}, ""); err != nil || string(v) != "arg" {
		t.Errorf("VALUE argument: %q, %v", v, err)
	}
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"t.x", "k", "arg"}, small, "not both"},
		{[]string{"t.x", "k"}, "", "no value: give VALUE or --value-file"},
		{[]string{"t.x", "k"}, big, "more than 4194304 bytes"},
		{[]string{"t.x", "k"}, dir + "/missing", "--value-file: open"},
	} {
		if _, err := putValue(tc.args, tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("putValue(%v, %q): %v; want an error containing %q", tc.args, tc.file, err, tc.want)
		}
	}
}
