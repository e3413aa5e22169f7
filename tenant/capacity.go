package tenant

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Capacity is an amount of the three resources a unit reserves: CPUs (min_cpu), memory
// (memory_size) and log disk (log_disk_size), in bytes. As what a server offers (Topology's
// Capacity, from the cluster file), a zero field is undeclared: that resource is not checked on
// the server.
type Capacity struct {
	CPU     float64 `json:"cpu,omitempty"`
	Memory  int64   `json:"memory,omitempty"`
	LogDisk int64   `json:"log_disk,omitempty"`
}

// Demand is what one unit of u reserves on its server. CPU counts min_cpu, the share a unit is
// guaranteed: OceanBase 4.x admits a unit while the units' min_cpu sum stays within the server's
// cpu_capacity and lets their max_cpu oversell it up to resource_hard_limit (GV$OB_SERVERS'
// cpu_assigned and cpu_assigned_max); we check the first and leave max_cpu unchecked. Memory is
// never oversold (OceanBase V4.0 dropped memory overcommit, CREATE RESOURCE UNIT reference), nor
// is log disk.
func (u Unit) Demand() Capacity {
	u = u.WithDefaults()
	return Capacity{CPU: u.MinCPU, Memory: u.MemorySize, LogDisk: u.LogDiskSize}
}

func (c Capacity) add(d Capacity) Capacity {
	return Capacity{CPU: c.CPU + d.CPU, Memory: addBytes(c.Memory, d.Memory), LogDisk: addBytes(c.LogDisk, d.LogDisk)}
}

// addBytes adds two non-negative byte counts, saturating at math.MaxInt64 instead of wrapping
// (units are bounded, but a sum over a server must never turn negative and pass a check).
func addBytes(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// UnitSizes is the unit sizing each pool's units, by pool name (Catalog.UnitSizes). Placement
// counts a pool missing from it as reserving nothing.
type UnitSizes map[string]Unit

// UnitSizes returns the unit of every pool.
func (c *Catalog) UnitSizes() UnitSizes {
	out := make(UnitSizes, len(c.Pools))
	for name, p := range c.Pools {
		if u, ok := c.Units[p.Unit]; ok {
			out[name] = u
		}
	}
	return out
}

// Assigned sums, per server, what the units in assignments reserve, except those of pool skip.
func Assigned(assignments []UnitAssignment, sizes UnitSizes, skip string) map[string]Capacity {
	out := make(map[string]Capacity)
	for _, a := range assignments {
		if a.Pool == skip {
			continue
		}
		if u, ok := sizes[a.Pool]; ok {
			out[a.Server] = out[a.Server].add(u.Demand())
		}
	}
	return out
}

// Lacks says what a server offering capacity, of which assigned is already reserved, lacks to
// take need: "" when need fits. Undeclared resources always fit.
func Lacks(capacity, assigned, need Capacity) string {
	var short []string
	if capacity.CPU > 0 && assigned.CPU+need.CPU > capacity.CPU+1e-9 {
		short = append(short, fmt.Sprintf("cpu %s of %s free", cpus(capacity.CPU-assigned.CPU), cpus(capacity.CPU)))
	}
	if capacity.Memory > 0 && addBytes(assigned.Memory, need.Memory) > capacity.Memory {
		short = append(short, fmt.Sprintf("memory %s of %s free", freeBytes(capacity.Memory-assigned.Memory), byteSize(capacity.Memory)))
	}
	if capacity.LogDisk > 0 && addBytes(assigned.LogDisk, need.LogDisk) > capacity.LogDisk {
		short = append(short, fmt.Sprintf("log_disk %s of %s free", freeBytes(capacity.LogDisk-assigned.LogDisk), byteSize(capacity.LogDisk)))
	}
	return strings.Join(short, ", ")
}

// describe names what one unit of u reserves, for messages.
func describe(u Unit) string {
	d := u.Demand()
	return fmt.Sprintf("min_cpu %s, memory_size %s, log_disk_size %s", cpus(d.CPU), byteSize(d.Memory), byteSize(d.LogDisk))
}

func cpus(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// freeBytes is byteSize of a free amount, which may be negative (a capacity lowered below what
// its units reserve) or not a whole MiB.
func freeBytes(n int64) string {
	switch {
	case n < 0:
		return "-" + freeBytes(-n)
	case n%MiB != 0:
		return strconv.FormatInt(n, 10) + "B"
	}
	return byteSize(n)
}
