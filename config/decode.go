package config

import (
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The file is decoded by walking yaml.v3's node tree rather than by
// unmarshalling into structs: the walk knows the line of every key and value,
// so an unknown key, a wrong type or (later, in validate) a broken rule can
// point at the line, and it reports every problem instead of the first.

var (
	topKeys      = []string{"cluster", "regions", "servers", "settings"}
	regionKeys   = []string{"name", "zones"}
	serverKeys   = []string{"name", "zone", "rpc_addr", "gossip_addr", "data_dir", "clog_dir", "capacity"}
	capacityKeys = []string{"cpu", "memory", "log_disk"}
)

// decoder holds the state of one decode.
type decoder struct {
	p    *problems
	base string // absolute directory for relative data_dir
}

// decode turns the YAML text into a Cluster without checking the rules
// (validate does). It fails on YAML syntax errors, unknown or duplicate keys
// and values of the wrong type.
func decode(data []byte, file, base string) (*Cluster, error) {
	cl := &Cluster{Path: file, Dir: base, Settings: DefaultSettings(), lines: map[string]int{}}
	d := &decoder{p: &problems{file: file, lines: cl.lines}, base: base}

	root, err := parseYAML(data)
	if err != nil {
		d.p.add(yamlErrorLine(err), "", "", "%s", yamlErrorMessage(err))
		return nil, d.p.err()
	}
	if root == nil {
		d.p.add(0, "", "", "the file is empty: it needs cluster, regions and servers")
		return nil, d.p.err()
	}
	top := d.mapping(root, "", "the top level", topKeys)
	if top == nil {
		return nil, d.p.err()
	}
	cl.Name = d.str(top, "cluster", "cluster")
	d.regions(cl, top)
	d.servers(cl, top)
	d.settings(cl, top)
	if err := d.p.err(); err != nil {
		return nil, err
	}
	return cl, nil
}

// parseYAML parses data into the node of its single document; nil for an
// empty file.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	// yaml.v3 panics on a few malformed inputs in old releases; a cluster
	// file is user input and must never crash the caller.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, errors.New("yaml: malformed document")
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return nil, err
	default:
		return nil, errors.New("yaml: line " + strconv.Itoa(next.Line) + ": a second YAML document: a cluster file holds one")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrorMessage(err error) string {
	msg := yamlLineRE.ReplaceAllString(err.Error(), "")
	return "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

// resolve follows aliases (bounded: an alias chain longer than the file is
// impossible, but a malicious node graph must not loop).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// kindName names a node's kind for "must be a X, got a Y" errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "an alias"
}

// field is one key of a mapping: its value and the line of the key.
type field struct {
	key   *yaml.Node
	value *yaml.Node
}

// fields is a decoded mapping; line is the mapping's own line, used for
// missing keys.
type fields struct {
	m    map[string]field
	line int
}

// mapping checks that n is a mapping with only known, distinct, plain keys.
// It returns nil (after reporting) if n is not a mapping. path is the field
// path of n ("servers[1]"), what names it in messages ("server").
func (d *decoder) mapping(n *yaml.Node, path, what string, known []string) *fields {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.p.add(n.Line, path, "", "must be a mapping of %s, got %s", strings.Join(known, ", "), kindName(n))
		return nil
	}
	f := &fields{m: map[string]field{}, line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int") {
			d.p.add(k.Line, "", "", "a key in %s must be a plain word, got %s", what, kindName(k))
			continue
		}
		if !contains(known, k.Value) {
			d.p.add(k.Line, "", "", "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		if prev, dup := f.m[k.Value]; dup {
			d.p.add(k.Line, "", "", "duplicate key %q in %s (first at line %d)", k.Value, what, prev.key.Line)
			continue
		}
		f.m[k.Value] = field{key: k, value: v}
	}
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str returns the string value of key in f ("" if missing or null: validate
// reports required fields) and records its line under path.
func (d *decoder) str(f *fields, key, path string) string {
	fv, ok := f.m[key]
	if !ok {
		d.p.lines[path] = f.line
		return ""
	}
	return d.scalarString(fv.value, path)
}

// scalarString returns n as a string. Integers are accepted as written
// (a zone may be called 1); booleans, floats and other types must be quoted
// so that the text the user wrote is the text we use.
func (d *decoder) scalarString(n *yaml.Node, path string) string {
	n = resolve(n)
	d.p.lines[path] = n.Line
	if n.Kind != yaml.ScalarNode {
		d.p.add(n.Line, path, "", "must be a string, got %s", kindName(n))
		return ""
	}
	switch n.Tag {
	case "!!str", "!!int":
		return n.Value
	case "!!null":
		return ""
	}
	d.p.add(n.Line, path, n.Value, "must be a string, got %s: quote it if it is meant as text", kindName(n))
	return ""
}

// list returns the items of the list under key, or nil (missing, null or
// reported as the wrong type).
func (d *decoder) list(f *fields, key, path, what string) []*yaml.Node {
	fv, ok := f.m[key]
	if !ok {
		d.p.lines[path] = f.line
		return nil
	}
	n := resolve(fv.value)
	d.p.lines[path] = n.Line
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil
	case n.Kind != yaml.SequenceNode:
		d.p.add(n.Line, path, "", "must be a list of %s, got %s", what, kindName(n))
		return nil
	}
	return n.Content
}

func (d *decoder) regions(cl *Cluster, top *fields) {
	for i, rn := range d.list(top, "regions", "regions", "regions ({name, zones})") {
		path := "regions[" + strconv.Itoa(i) + "]"
		rf := d.mapping(rn, path, "region", regionKeys)
		if rf == nil {
			continue
		}
		d.p.lines[path] = rf.line
		r := Region{Name: d.str(rf, "name", path+".name")}
		for j, zn := range d.list(rf, "zones", path+".zones", "zone names") {
			r.Zones = append(r.Zones, d.scalarString(zn, path+".zones["+strconv.Itoa(j)+"]"))
		}
		cl.Regions = append(cl.Regions, r)
	}
}

func (d *decoder) servers(cl *Cluster, top *fields) {
	for i, sn := range d.list(top, "servers", "servers", "servers ({name, zone, rpc_addr, gossip_addr, data_dir, clog_dir, capacity})") {
		path := "servers[" + strconv.Itoa(i) + "]"
		sf := d.mapping(sn, path, "server", serverKeys)
		if sf == nil {
			continue
		}
		d.p.lines[path] = sf.line
		s := Server{
			Name:       d.str(sf, "name", path+".name"),
			Zone:       d.str(sf, "zone", path+".zone"),
			RPCAddr:    d.str(sf, "rpc_addr", path+".rpc_addr"),
			GossipAddr: d.str(sf, "gossip_addr", path+".gossip_addr"),
		}
		s.DataDir = d.dataDir(d.str(sf, "data_dir", path+".data_dir"), path+".data_dir")
		if _, ok := sf.m["clog_dir"]; ok {
			s.ClogDir = d.dataDir(d.str(sf, "clog_dir", path+".clog_dir"), path+".clog_dir")
		}
		s.Capacity = d.capacity(sf, path+".capacity")
		cl.Servers = append(cl.Servers, s)
	}
}

// capacity reads a server's optional capacity mapping (cpu, memory, log_disk).
func (d *decoder) capacity(sf *fields, path string) Capacity {
	var c Capacity
	fv, ok := sf.m["capacity"]
	if !ok {
		return c
	}
	if n := resolve(fv.value); n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return c
	}
	cf := d.mapping(fv.value, path, "capacity", capacityKeys)
	if cf == nil {
		return c
	}
	d.p.lines[path] = cf.line
	if kv, ok := cf.m["cpu"]; ok {
		n := resolve(kv.value)
		d.p.lines[path+".cpu"] = n.Line
		v, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.p.add(n.Line, path+".cpu", n.Value, "must be a number of CPUs, e.g. 8 or 7.5")
		} else {
			c.CPU = v
		}
	}
	for _, k := range []struct {
		key string
		dst *Size
	}{{"memory", &c.Memory}, {"log_disk", &c.LogDisk}} {
		kv, ok := cf.m[k.key]
		if !ok {
			continue
		}
		n := resolve(kv.value)
		kp := path + "." + k.key
		d.p.lines[kp] = n.Line
		if v, ok := d.size(n, kp); ok {
			*k.dst = v
		}
	}
	return c
}

// size parses the scalar n as a Size, reporting what is wrong with it under path.
func (d *decoder) size(n *yaml.Node, path string) (Size, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		d.p.add(n.Line, path, n.Value, "not a size: write bytes or a number with a unit, e.g. 64MiB")
		return 0, false
	}
	v, rule := parseSize(n.Value)
	if rule != "" {
		d.p.add(n.Line, path, n.Value, "%s", rule)
		return 0, false
	}
	return v, true
}

// dataDir resolves a relative data_dir (or clog_dir) against the file's directory.
func (d *decoder) dataDir(dir, path string) string {
	switch {
	case dir == "":
		return ""
	case strings.HasPrefix(dir, "~"):
		d.p.at(path, dir, "~ is not expanded: write an absolute path or one relative to the cluster file")
		return ""
	case filepath.IsAbs(dir):
		return filepath.Clean(dir)
	}
	return filepath.Join(d.base, dir)
}

func (d *decoder) settings(cl *Cluster, top *fields) {
	fv, ok := top.m["settings"]
	if !ok {
		return
	}
	if n := resolve(fv.value); n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "settings:" with nothing under it: all defaults
	}
	sf := d.mapping(fv.value, "settings", "settings", settingKeys())
	if sf == nil {
		return
	}
	for i := range settingSpecs {
		sp := &settingSpecs[i]
		kv, ok := sf.m[sp.key]
		if !ok {
			continue
		}
		path := "settings." + sp.key
		n := resolve(kv.value)
		d.p.lines[path] = n.Line
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.p.add(n.Line, path, "", "must be a %s, got %s", sp.kind, kindName(n))
			continue
		}
		if v, ok := d.settingValue(sp, n, path); ok {
			sp.set(&cl.Settings, v)
		}
	}
}

// settingValue parses the scalar n as sp's kind.
func (d *decoder) settingValue(sp *settingSpec, n *yaml.Node, path string) (int64, bool) {
	switch sp.kind {
	case kindDuration:
		v, err := time.ParseDuration(n.Value)
		if err != nil && strings.Contains(err.Error(), "invalid duration") && validDurationSyntax(n.Value) {
			d.p.add(n.Line, path, n.Value, "is beyond the largest duration (about 2562047h); %s", sp.rangeText())
			return 0, false
		}
		if err != nil || (n.Tag != "!!str" && n.Value != "0") {
			d.p.add(n.Line, path, n.Value, "not a duration: write a number with a unit (ns, us, ms, s, m, h), e.g. \"10ms\"")
			return 0, false
		}
		return int64(v), true
	case kindSize:
		v, ok := d.size(n, path)
		return int64(v), ok
	}
	var v int64
	huge := n.Tag == "!!float" && strings.Trim(n.Value, "+-") != "" && strings.TrimLeft(strings.TrimLeft(n.Value, "+-"), "0123456789") == ""
	if n.Tag != "!!int" && !huge { // YAML calls an integer beyond 64 bits a float
		d.p.add(n.Line, path, n.Value, "must be an integer")
		return 0, false
	}
	if n.Decode(&v) != nil {
		d.p.add(n.Line, path, n.Value, "is too large: %s", sp.rangeText())
		return 0, false
	}
	return v, true
}

// validDurationSyntax reports whether s is written as a Go duration (numbers, each with a
// unit), whatever its size: time.ParseDuration says "invalid duration" for an overflow too.
func validDurationSyntax(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' {
			j++
		}
		switch s[i:j] {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return false
		}
		if i == 0 {
			return false
		}
		s = s[j:]
	}
	return true
}
