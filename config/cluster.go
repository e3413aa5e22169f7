package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Cluster is a loaded cluster file. Parse and Load return it only once it
// validates; code that builds or edits one calls Validate.
type Cluster struct {
	// Name is the cluster's name (key `cluster`).
	Name string
	// Path is the file the cluster was loaded from: absolute after Load,
	// the name given to Parse otherwise. launch passes it to observer -c.
	Path string
	// Dir is the absolute directory relative data_dir paths were resolved
	// against (the file's directory after Load).
	Dir string
	// Regions in file order; each lists its zones in file order.
	Regions []Region
	// Servers in file order.
	Servers []Server
	// Settings: the file's settings section over DefaultSettings.
	Settings Settings

	// lines maps a field path ("servers[1].rpc_addr") to the line it was
	// read from, so Validate can point at the file. Nil for a cluster
	// built in code.
	lines map[string]int
}

// Region is a named group of zones (key `regions`).
type Region struct {
	Name  string
	Zones []string
}

// Server is one observer process (key `servers`).
type Server struct {
	// Name is unique in the cluster; `observer --server NAME` selects it.
	Name string
	// Zone is one of the zones declared under regions.
	Zone string
	// RPCAddr is the host:port the server's gRPC services listen on and
	// peers and clients dial.
	RPCAddr string
	// GossipAddr is the host:port memberlist binds (UDP and TCP).
	GossipAddr string
	// DataDir is the absolute directory holding the server's sstable, log and
	// pid files, and its clog unless ClogDir names another place.
	DataDir string
	// ClogDir is the absolute directory of the server's clog (key
	// `clog_dir`); empty: DataDir/clog. Every write waits for the clog's
	// fdatasync, so on a server with more than one disk it belongs on a disk
	// of its own, as OceanBase puts its redo log (docs/operations.md).
	ClogDir string
	// Capacity is what the server offers resource units (key `capacity`);
	// a zero field is undeclared and not checked.
	Capacity Capacity
}

// ClogPath is the directory of the server's clog: ClogDir, or DataDir/clog.
func (s Server) ClogPath() string {
	if s.ClogDir != "" {
		return s.ClogDir
	}
	return filepath.Join(s.DataDir, "clog")
}

// Capacity is what one server offers the resource units placed on it, as
// OceanBase's server parameters cpu_count, memory_limit and log_disk_size
// do: the root service places a unit only on a server whose declared
// resources still hold it (the sum of its units' min_cpu, memory_size and
// log_disk_size). A zero field is undeclared: that resource is not checked
// on the server, which is how a cluster file without capacities behaves.
type Capacity struct {
	// CPU is the number of CPUs (key `cpu`).
	CPU float64
	// Memory is the memory in bytes (key `memory`).
	Memory Size
	// LogDisk is the log disk in bytes (key `log_disk`).
	LogDisk Size
}

// Capacity floors: a declared resource holds at least the system tenant's
// unit, which every server of the meta partition's zones carries (1 CPU,
// 256MiB of memory, 768MiB of log disk: tenant.MinUnitCPU,
// tenant.MinUnitMemorySize and tenant.LogDiskPerMemory times it; a test in
// package rootservice keeps them equal).
const (
	MinCapacityCPU     = 1.0
	MinCapacityMemory  = 256 * MiB
	MinCapacityLogDisk = 768 * MiB
	// MaxCapacityCPU bounds cpu so that a typo is caught.
	MaxCapacityCPU = 1 << 20
)

// Load reads, parses and validates the cluster file at path. Relative
// data_dir paths are resolved against the file's directory, and Path is
// made absolute.
func Load(path string) (*Cluster, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cluster file %s: %w", path, err)
	}
	data, err := readFile(abs, path)
	if err != nil {
		return nil, err
	}
	cl, err := Parse(data, path, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	cl.Path = abs
	return cl, nil
}

// MaxFileBytes bounds a cluster file: thousands of servers fit in far less.
const MaxFileBytes = 16 << 20

// readFile reads the cluster file at abs (named path in errors): a regular file of at most
// MaxFileBytes (a device or a FIFO would be read for ever, or until memory ran out).
func readFile(abs, path string) ([]byte, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cluster file %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("cluster file %s: over %d MiB: the limit of a cluster file", path, MaxFileBytes>>20)
	}
	return data, nil
}

// Parse decodes and validates a cluster file. name is used in error
// messages ("cluster.yaml:12: ...") and becomes Path; relative data_dir
// paths are resolved against baseDir (made absolute; "" is the current
// directory). Every problem found is reported, one per line, each a
// *FieldError wrapping ErrInvalid.
func Parse(data []byte, name, baseDir string) (*Cluster, error) {
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("cluster file %s: base directory %q: %w", name, baseDir, err)
	}
	cl, err := decode(data, name, base)
	if err != nil {
		return nil, err
	}
	if err := cl.validate(name); err != nil {
		return nil, err
	}
	return cl, nil
}

// Server returns the server called name.
func (c *Cluster) Server(name string) (Server, bool) {
	for _, s := range c.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// ServerNames returns the servers' names in file order.
func (c *Cluster) ServerNames() []string {
	names := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		names[i] = s.Name
	}
	return names
}

// RegionOf returns the region that declares zone, or "" if none does.
func (c *Cluster) RegionOf(zone string) string {
	for _, r := range c.Regions {
		for _, z := range r.Zones {
			if z == zone {
				return r.Name
			}
		}
	}
	return ""
}

// Zones returns every zone in file order (regions in order, then each
// region's zones in order).
func (c *Cluster) Zones() []string {
	var zones []string
	for _, r := range c.Regions {
		zones = append(zones, r.Zones...)
	}
	return zones
}

// ServersIn returns the servers of zone in file order.
func (c *Cluster) ServersIn(zone string) []Server {
	var out []Server
	for _, s := range c.Servers {
		if s.Zone == zone {
			out = append(out, s)
		}
	}
	return out
}
