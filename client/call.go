package client

import "fmt"

// call names one client call in its error messages. It is formatted only when an error is:
// building the text on every call cost 7% of a benchmark client's CPU.
type call struct {
	op            string // "write", "get" or "scan"
	tenant, table string
	key           []byte // get
	start, end    []byte // scan
	partition     int    // -1: not chosen yet
}

func (c call) String() string {
	var s string
	switch c.op {
	case "get":
		s = fmt.Sprintf("get %s/%s key %q", c.tenant, c.table, c.key)
	case "scan":
		s = fmt.Sprintf("scan %s/%s [%q, %q)", c.tenant, c.table, c.start, c.end)
	default:
		s = fmt.Sprintf("%s %s/%s", c.op, c.tenant, c.table)
	}
	if c.partition >= 0 {
		s += fmt.Sprintf(" partition %d", c.partition)
	}
	return s
}

// in returns the call narrowed to partition p.
func (c call) in(p int) call {
	c.partition = p
	return c
}
