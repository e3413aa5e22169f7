package config

import (
	"math"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Validate checks every rule of a cluster file (see the package doc) and
// reports every broken one, one per line, each a *FieldError wrapping
// ErrInvalid. Parse and Load have already called it; call it again after
// building or editing a Cluster in code.
func (c *Cluster) Validate() error { return c.validate(c.Path) }

// maxNameLen bounds names: they appear in paths, log lines and locality
// strings.
const maxNameLen = 64

// nameRE: names appear in locality strings (F@z1,F@z2), primary_zone
// (z1,z2;z3) and file paths, so ',', ';', '@', '/' and spaces are out.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

const nameRule = "must be 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit"

func (c *Cluster) validate(file string) error {
	p := &problems{file: file, lines: c.lines}
	checkName := func(path, name string) bool {
		switch {
		case name == "":
			p.at(path, "", "is required")
		case len(name) > maxNameLen || !nameRE.MatchString(name):
			p.at(path, name, nameRule)
		default:
			return true
		}
		return false
	}

	checkName("cluster", c.Name)

	// Regions and zones: names unique; every zone in exactly one region.
	if len(c.Regions) == 0 {
		p.at("regions", "", "is required: list at least one region with its zones")
	}
	regionAt := map[string]int{}      // region name -> index
	zoneAt := map[string]string{}     // zone name -> path of its declaration
	zoneRegion := map[string]string{} // zone name -> region name
	var zoneOrder []string            // valid zone names in file order
	for i, r := range c.Regions {
		path := "regions[" + strconv.Itoa(i) + "]"
		if checkName(path+".name", r.Name) {
			if j, dup := regionAt[r.Name]; dup {
				p.at(path+".name", r.Name, "duplicate region name: regions[%d] has it too", j)
			} else {
				regionAt[r.Name] = i
			}
		}
		if len(r.Zones) == 0 {
			p.at(path+".zones", "", "is required: a region lists at least one zone")
		}
		for j, z := range r.Zones {
			zpath := path + ".zones[" + strconv.Itoa(j) + "]"
			if !checkName(zpath, z) {
				continue
			}
			if strings.EqualFold(z, "RANDOM") {
				p.at(zpath, z, "is reserved: primary_zone RANDOM means every zone")
				continue
			}
			if prev, dup := zoneAt[z]; dup {
				p.at(zpath, z, "zone is already declared at %s (region %s): a zone belongs to exactly one region",
					prev, zoneRegion[z])
				continue
			}
			zoneAt[z] = zpath
			zoneRegion[z] = r.Name
			zoneOrder = append(zoneOrder, z)
		}
	}

	// Servers.
	if len(c.Servers) == 0 {
		p.at("servers", "", "is required: list at least one server")
	}
	serverAt := map[string]int{}
	addrAt := map[string]string{} // normalized host:port -> path of its first use
	var dirs []dirUse
	perZone := map[string]int{}
	for i, s := range c.Servers {
		path := "servers[" + strconv.Itoa(i) + "]"
		if checkName(path+".name", s.Name) {
			if j, dup := serverAt[s.Name]; dup {
				p.at(path+".name", s.Name, "duplicate server name: servers[%d] has it too", j)
			} else {
				serverAt[s.Name] = i
			}
		}
		switch _, declared := zoneAt[s.Zone]; {
		case s.Zone == "":
			p.at(path+".zone", "", "is required")
		case !declared:
			p.at(path+".zone", s.Zone, "zone is not declared under regions (declared: %s)", strings.Join(zoneOrder, ", "))
		default:
			perZone[s.Zone]++
		}
		for _, a := range []struct{ key, addr string }{{"rpc_addr", s.RPCAddr}, {"gossip_addr", s.GossipAddr}} {
			apath := path + "." + a.key
			key, rule := checkAddr(a.addr)
			if rule != "" {
				p.at(apath, a.addr, "%s", rule)
				continue
			}
			if prev, dup := addrAt[key]; dup {
				p.at(apath, a.addr, "address is already used by %s: every rpc_addr and gossip_addr must be distinct", prev)
				continue
			}
			addrAt[key] = apath
		}
		dpath := path + ".data_dir"
		switch {
		case s.DataDir == "":
			p.at(dpath, "", "is required")
		case !filepath.IsAbs(s.DataDir):
			p.at(dpath, s.DataDir, "must be absolute (Parse resolves relative paths against the file's directory)")
		default:
			dir := filepath.Clean(s.DataDir)
			for _, u := range dirs {
				switch {
				case u.dir == dir:
					p.at(dpath, s.DataDir, "data_dir is already used by %s: every server needs its own", u.path)
				case within(dir, u.dir) || within(u.dir, dir):
					p.at(dpath, s.DataDir, "data_dir nests with %s (%s): servers' directories must not contain each other",
						u.path, u.dir)
				default:
					continue
				}
				break
			}
			dirs = append(dirs, dirUse{dpath, dir})
		}
		s.Capacity.validate(p, path+".capacity")
	}
	validateClogDirs(p, c.Servers, dirs)

	// Every zone has a server, or replicas placed there could never exist.
	for i, r := range c.Regions {
		for j, z := range r.Zones {
			zpath := "regions[" + strconv.Itoa(i) + "].zones[" + strconv.Itoa(j) + "]"
			if zoneAt[z] == zpath && perZone[z] == 0 {
				p.at(zpath, z, "zone has no server: every zone needs at least one")
			}
		}
	}

	c.Settings.validate(p)
	return p.err()
}

// validate checks a server's declared capacity: each declared (non-zero)
// resource holds at least the system tenant's unit.
func (c Capacity) validate(p *problems, path string) {
	switch {
	case math.IsNaN(c.CPU) || c.CPU < 0:
		p.at(path+".cpu", strconv.FormatFloat(c.CPU, 'g', -1, 64), "must not be negative (0 or missing: not checked)")
	case c.CPU > 0 && c.CPU < MinCapacityCPU:
		p.at(path+".cpu", strconv.FormatFloat(c.CPU, 'g', -1, 64), "must be at least %g: every server holds the system tenant's unit (0 or missing: not checked)", MinCapacityCPU)
	case c.CPU > MaxCapacityCPU:
		p.at(path+".cpu", strconv.FormatFloat(c.CPU, 'g', -1, 64), "must be at most %d", MaxCapacityCPU)
	}
	for _, r := range []struct {
		key      string
		v, floor Size
	}{{"memory", c.Memory, MinCapacityMemory}, {"log_disk", c.LogDisk, MinCapacityLogDisk}} {
		switch {
		case r.v < 0:
			p.at(path+"."+r.key, r.v.String(), "must not be negative (0 or missing: not checked)")
		case r.v > 0 && r.v < r.floor:
			p.at(path+"."+r.key, r.v.String(), "must be at least %s: every server holds the system tenant's unit (0 or missing: not checked)", r.floor)
		}
	}
}

// dirUse is a directory a server uses and the path of the key that names it.
type dirUse struct{ path, dir string }

// validateClogDirs checks the optional clog_dirs against every server's data_dir (datas, the
// valid ones) and each other: a clog needs a directory no other server's files share.
func validateClogDirs(p *problems, servers []Server, datas []dirUse) {
	var clogs []dirUse
	for i, s := range servers {
		if s.ClogDir == "" {
			continue
		}
		cpath := "servers[" + strconv.Itoa(i) + "].clog_dir"
		if !filepath.IsAbs(s.ClogDir) {
			p.at(cpath, s.ClogDir, "must be absolute (Parse resolves relative paths against the file's directory)")
			continue
		}
		dir := filepath.Clean(s.ClogDir)
		own := filepath.Clean(s.DataDir)
		bad := false
		if s.DataDir != "" && within(dir, own) && dir != filepath.Join(own, "clog") {
			p.at(cpath, s.ClogDir, "is inside this server's data_dir, where only %s (the default) may hold the clog", filepath.Join(own, "clog"))
			bad = true
		}
		for _, d := range datas {
			if bad {
				break
			}
			switch {
			case dir == d.dir || within(d.dir, dir):
				p.at(cpath, s.ClogDir, "holds %s (%s): the clog needs a directory of its own", d.path, d.dir)
				bad = true
			case d.dir != own && within(dir, d.dir):
				p.at(cpath, s.ClogDir, "is inside %s (%s): every server needs its own", d.path, d.dir)
				bad = true
			}
		}
		for _, u := range clogs {
			if bad {
				break
			}
			if dir == u.dir || within(dir, u.dir) || within(u.dir, dir) {
				p.at(cpath, s.ClogDir, "clog_dir is already used by or nests with %s (%s): every server needs its own", u.path, u.dir)
				bad = true
			}
		}
		if !bad {
			clogs = append(clogs, dirUse{cpath, dir})
		}
	}
}

// within reports whether dir is strictly inside parent (both clean and absolute). A prefix
// test, not filepath.Rel: it runs for every pair of servers, and Rel made a file of 10,000
// servers take 50 s to load.
func within(dir, parent string) bool {
	if parent == string(filepath.Separator) {
		return dir != parent && strings.HasPrefix(dir, parent)
	}
	return len(dir) > len(parent) && dir[len(parent)] == filepath.Separator && strings.HasPrefix(dir, parent)
}

// checkAddr checks a host:port address; it returns a key that is equal for
// equal addresses (IPs in canonical form, host names lower-cased) or the
// broken rule.
func checkAddr(addr string) (key, rule string) {
	if addr == "" {
		return "", "is required"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "must be host:port, e.g. 127.0.0.1:28811"
	}
	if host == "" {
		return "", "host is missing: give an address peers can dial, e.g. 127.0.0.1:28811"
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.TrimLeft(port, "0123456789") != "" { // Atoi takes a sign
		return "", "port " + strconv.Quote(port) + " must be a number between 1 and 65535"
	}
	if n < 1 || n > 65535 {
		return "", "port " + port + " must be between 1 and 65535"
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return "", "host " + host + " is the unspecified address: give an address peers can dial"
		}
		if ip.IsMulticast() || ip.Equal(net.IPv4bcast) {
			return "", "host " + host + " is a multicast or broadcast address: give an address peers can dial (TCP connects to one host)"
		}
		host = ip.String()
	} else {
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), ""
}
