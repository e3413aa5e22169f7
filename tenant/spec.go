package tenant

import (
	"fmt"
	"math"
	"strings"
)

// Byte sizes.
const (
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// Resource unit floors.
//
// OceanBase 4.x: MIN_CPU/MAX_CPU "Minimum: 1 core", MEMORY_SIZE "Minimum: 1 GB", LOG_DISK_SIZE
// "three times the memory size by default, and is at least 2 GB", MIN_CPU "defaults to MAX_CPU"
// (oceanbase-doc V4.3.5, tenant resource management,
// https://raw.githubusercontent.com/oceanbase/oceanbase-doc/V4.3.5/en-US/700.reference/100.oceanbase-database-concepts/300.multi-tenant-architecture/500.tenants-and-resource-management/100.tenant-resource-management.md).
//
// We keep the CPU floor and the 3x default but lower the memory and log disk floors: `obctl
// cluster up` runs every server of a cluster on one machine, where three 1 GiB units per tenant
// per server would not fit a laptop. Units here are reservations the root service accounts for,
// not cgroup limits, so a small floor is safe.
const (
	// MinUnitCPU is the smallest max_cpu and min_cpu (as OceanBase's).
	MinUnitCPU = 1.0
	// MaxUnitCPU bounds max_cpu so a typo cannot reserve a machine that does not exist.
	MaxUnitCPU = 4096.0
	// MinUnitMemorySize is the smallest memory_size: 256 MiB (OceanBase: 1 GiB).
	MinUnitMemorySize = 256 * MiB
	// MinUnitLogDiskSize is the smallest log_disk_size: 512 MiB (OceanBase: 2 GiB).
	MinUnitLogDiskSize = 512 * MiB
	// MaxUnitMemorySize and MaxUnitLogDiskSize bound a unit, as MaxUnitCPU does, so a typo
	// cannot reserve what no machine has, and sums of units over a server stay far from
	// int64's range: 64 TiB of memory (beyond the largest servers sold) and 1 PiB of log disk.
	MaxUnitMemorySize  = 64 << 40
	MaxUnitLogDiskSize = 1 << 50
	// LogDiskPerMemory is the default log_disk_size as a multiple of memory_size (as OceanBase's).
	LogDiskPerMemory = 3
)

// Unit is a resource unit configuration (OceanBase's CREATE RESOURCE UNIT): the size of each
// unit of a pool that uses it.
type Unit struct {
	Name   string  `json:"name"`
	MaxCPU float64 `json:"max_cpu"`
	// MinCPU defaults to MaxCPU when zero.
	MinCPU     float64 `json:"min_cpu"`
	MemorySize int64   `json:"memory_size"`
	// LogDiskSize defaults to LogDiskPerMemory x MemorySize when zero.
	LogDiskSize int64 `json:"log_disk_size"`
}

// WithDefaults returns u with OceanBase's defaults filled in: min_cpu = max_cpu, log_disk_size
// = 3 x memory_size.
func (u Unit) WithDefaults() Unit {
	if u.MinCPU == 0 {
		u.MinCPU = u.MaxCPU
	}
	if u.LogDiskSize == 0 && u.MemorySize > 0 && u.MemorySize <= math.MaxInt64/LogDiskPerMemory {
		u.LogDiskSize = LogDiskPerMemory * u.MemorySize
	}
	return u
}

// Validate checks a unit whose defaults are filled in (see WithDefaults).
func (u Unit) Validate() error {
	if err := checkName("unit", u.Name); err != nil {
		return err
	}
	switch {
	case math.IsNaN(u.MaxCPU) || u.MaxCPU < MinUnitCPU:
		return errorf(ErrInvalid, "unit %q: max_cpu %v is below the minimum of %v", u.Name, u.MaxCPU, MinUnitCPU)
	case u.MaxCPU > MaxUnitCPU:
		return errorf(ErrInvalid, "unit %q: max_cpu %v is above the maximum of %v", u.Name, u.MaxCPU, MaxUnitCPU)
	case math.IsNaN(u.MinCPU) || u.MinCPU < MinUnitCPU:
		return errorf(ErrInvalid, "unit %q: min_cpu %v is below the minimum of %v", u.Name, u.MinCPU, MinUnitCPU)
	case u.MinCPU > u.MaxCPU:
		return errorf(ErrInvalid, "unit %q: min_cpu %v exceeds max_cpu %v", u.Name, u.MinCPU, u.MaxCPU)
	case u.MemorySize < MinUnitMemorySize:
		return errorf(ErrInvalid, "unit %q: memory_size %d is below the minimum of %d (%s)", u.Name, u.MemorySize, MinUnitMemorySize, byteSize(MinUnitMemorySize))
	case u.MemorySize > MaxUnitMemorySize:
		return errorf(ErrInvalid, "unit %q: memory_size %d is above the maximum of %d (%s)", u.Name, u.MemorySize, int64(MaxUnitMemorySize), byteSize(MaxUnitMemorySize))
	case u.LogDiskSize < MinUnitLogDiskSize:
		return errorf(ErrInvalid, "unit %q: log_disk_size %d is below the minimum of %d (%s)", u.Name, u.LogDiskSize, MinUnitLogDiskSize, byteSize(MinUnitLogDiskSize))
	case u.LogDiskSize > MaxUnitLogDiskSize:
		return errorf(ErrInvalid, "unit %q: log_disk_size %d is above the maximum of %d (%s)", u.Name, u.LogDiskSize, int64(MaxUnitLogDiskSize), byteSize(MaxUnitLogDiskSize))
	}
	return nil
}

func byteSize(n int64) string {
	if n >= 1<<40 && n%(1<<40) == 0 {
		return fmt.Sprintf("%dTiB", n>>40)
	}
	if n%GiB == 0 {
		return fmt.Sprintf("%dGiB", n/GiB)
	}
	return fmt.Sprintf("%dMiB", n/MiB)
}

// Pool is a resource pool (OceanBase's CREATE RESOURCE POOL): UnitNum units of Unit in each zone
// of ZoneList, each on a different server ("a physical server can accommodate only one resource
// unit in the same resource pool", oceanbase-doc tenant resource management, cited on the
// resource unit floors above).
type Pool struct {
	Name     string   `json:"name"`
	Unit     string   `json:"unit"`
	UnitNum  int      `json:"unit_num"`
	ZoneList []string `json:"zone_list"` // sorted by CreatePool
}

// Clone returns a copy that shares nothing with p.
func (p Pool) Clone() Pool {
	p.ZoneList = append([]string(nil), p.ZoneList...)
	return p
}

// Tenant owns data. Locality and PrimaryZone are stored normalized (Locality.String,
// PrimaryZone.String).
type Tenant struct {
	Name     string   `json:"name"`
	PoolList []string `json:"resource_pool_list"` // sorted by CreateTenant
	// ReplicaNum is the number of replicas of each partition: the number of zones in Locality.
	// Zero in a request means "derive it".
	ReplicaNum  int    `json:"replica_num"`
	Locality    string `json:"locality"`
	PrimaryZone string `json:"primary_zone"`
	ID          uint64 `json:"id"`
}

// Clone returns a copy that shares nothing with t.
func (t Tenant) Clone() Tenant {
	t.PoolList = append([]string(nil), t.PoolList...)
	return t
}

// MaxPartitions bounds the partitions of one table. Every partition is a Paxos group with one
// replica per locality zone, each with its own log stream and election, so the bound is set by
// what one small cluster can drive, not by the key space.
const MaxPartitions = 1024

// Table belongs to a tenant and is split into Partitions hash partitions (see PartitionOf).
type Table struct {
	Name       string `json:"name"`
	Tenant     string `json:"tenant"`
	Partitions int    `json:"partitions"`
	ID         uint64 `json:"id"`
}

// TableKey is the key of a table in Catalog.Tables: "tenant.table". Names hold no '.', so the
// key is unambiguous.
func TableKey(tenant, table string) string { return tenant + "." + table }

// Validate checks the table's own fields (not whether its tenant exists).
func (t Table) Validate() error {
	if err := checkName("table", t.Name); err != nil {
		return err
	}
	if err := checkName("tenant", t.Tenant); err != nil {
		return err
	}
	if t.Partitions < 1 || t.Partitions > MaxPartitions {
		return errorf(ErrInvalid, "table %q: partitions %d is outside 1..%d", t.Name, t.Partitions, MaxPartitions)
	}
	return nil
}

// PartitionOf returns the partition of key among n hash partitions: FNV-1a 64 of the key bytes
// (offset basis 14695981039346656037, prime 1099511628211), modulo n. This decides where data
// lives for as long as the table exists: never change it, and never change n of a table (every
// key would move). n < 1 is treated as 1.
func PartitionOf(key []byte, n int) int {
	if n <= 1 {
		return 0
	}
	const (
		offset64 uint64 = 14695981039346656037
		prime64  uint64 = 1099511628211
	)
	h := offset64
	for _, b := range key {
		h ^= uint64(b)
		h *= prime64
	}
	return int(h % uint64(n))
}

func joinNames(names []string) string { return strings.Join(names, ",") }
