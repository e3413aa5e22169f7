// Package config loads and validates a cluster file: the YAML document that
// describes a cluster's regions, zones, servers and settings. `observer -c
// FILE --server NAME` runs one server of it; `obctl cluster up -c FILE` starts
// all of them (package launch). docs/configuration.md documents the format,
// every key and every setting's default, unit, range and meaning.
//
// # Format
//
//	cluster: demo                  # required
//	regions:                       # required, at least one
//	  - name: r1
//	    zones: [z1, z2, z3]
//	servers:                       # required, at least one
//	  - name: s1
//	    zone: z1
//	    rpc_addr: 127.0.0.1:28811
//	    gossip_addr: 127.0.0.1:28821
//	    data_dir: data/s1          # relative to the file's directory
//	    clog_dir: /disk2/s1        # optional; default data_dir/clog
//	    capacity: {cpu: 8, memory: 32GiB, log_disk: 100GiB}  # optional
//	settings:                      # optional; see Settings
//	  lease: 500ms
//
// # Contract
//
//   - Parsing is strict: an unknown or duplicate key, a value of the wrong
//     type, a YAML syntax error or a second YAML document is an error naming
//     the line ("cluster.yaml:12: unknown key "zonez" in server (known: ...)").
//   - Parse and Load return a Cluster only if every rule below holds; otherwise
//     they report every broken rule (up to 20), one per line, each a
//     *FieldError (file, line, field path, value, rule) wrapping ErrInvalid.
//     Bad input never panics (FuzzParse).
//   - Relative data_dir and clog_dir paths are resolved against the file's
//     directory (Load) or the baseDir given to Parse; the loaded DataDir and
//     ClogDir (empty when not given: ClogPath is then data_dir/clog) are
//     absolute and clean. Load makes Path absolute.
//   - Zones, ServersIn and Servers keep file order.
//
// # Rules (Validate)
//
//   - cluster, region, zone and server names are required, 1-64 characters of
//     [A-Za-z0-9_.-] starting with a letter or digit (they appear in locality
//     and primary_zone strings and paths); RANDOM is not a zone name.
//   - Region names are unique; server names are unique; a zone is declared in
//     exactly one region, once.
//   - Every server's zone is declared; every zone has at least one server.
//   - rpc_addr and gossip_addr are host:port with a host peers can dial (not
//     empty, not 0.0.0.0 or ::) and a numeric port in 1..65535; all of them,
//     rpc and gossip together, are distinct across the cluster.
//   - data_dir is required, and no two servers' data_dirs are equal or nested.
//   - clog_dir is optional; no two servers' clogs are equal or nested, none
//     is inside another server's data_dir or holds a data_dir, and inside its
//     own data_dir only data_dir/clog (the default) is allowed.
//   - A server's capacity fields are optional; each one given is 0 (not
//     checked) or holds at least the system tenant's unit: cpu >= 1, memory
//     >= 256MiB, log_disk >= 768MiB.
//   - Every setting is within its range, and the settings are consistent:
//     lease, heartbeat_interval and closed_version_interval are multiples of
//     tick; lease is at least 4 ticks; max_clock_drift, rounded up to ticks,
//     is at most lease - 2 ticks; 2*heartbeat_interval < lease -
//     max_clock_drift - tick (drift rounded up; as paxos.Config
//     requires); gossip_probe_timeout < gossip_probe_interval.
//
// Not checked: that two different host names or IPs are the same machine
// (localhost:1 and 127.0.0.1:1 count as distinct), that ports are free, that
// data directories are writable. The server finds those when it starts.
package config
