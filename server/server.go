package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/clog"
	"obkv/config"
	"obkv/paxos"
	"obkv/replica"
	"obkv/rootservice"
	"obkv/sstable"
	"obkv/tenant"
)

// Server is one observer: it hosts partition replicas, talks to its peers and, while its meta
// replica leads, runs the root service.
type Server struct {
	cl     *config.Cluster
	self   config.Server
	opts   Options
	selfID paxos.ID
	log    *slog.Logger

	clog  *clog.Log
	store *sstable.Store
	locks []*os.File // flocks on LOCK in the data_dir and the clog's directory, held while the server runs
	tr    *transport
	gsp   *gossip
	grpc  *grpc.Server
	lis   net.Listener

	mu       sync.RWMutex
	replicas map[uint64]*replica.Replica
	tables   map[string]rootservice.TableRef // by tenant.TableKey, from the root service
	prios    map[uint64]paxos.Priority
	draining bool

	rsMu sync.Mutex
	rs   *rootservice.Service
	// rsServer is the server believed to run the root service ("" when unknown).
	rsServer atomic.Value
	// bootstrapped is set once the system tenant exists.
	bootstrapped atomic.Bool

	// changing holds the partitions with a membership change in flight.
	changing sync.Map
	metrics  struct{ dropped atomic.Uint64 }
	// slowWrites and stalls report clog writes, and gaps between the pollers' ticks, long
	// enough to threaten leases.
	slowWrites, stalls *slowLog
	// settingsRefusals rate-limits the log of peers refused for another cluster file (timing
	// settings or server list).
	settingsRefusals everyMinute
	workers          *workers // runs KV.Stream calls
	// pollers drive the replicas (a partition always on the same one; replica.Poller).
	pollers []*replica.Poller
	wg      sync.WaitGroup
}

// New opens the server's storage and recovers its replicas; Run starts serving.
func New(cl *config.Cluster, name string, log *slog.Logger) (*Server, error) {
	return NewWithOptions(cl, name, log, Options{})
}

// NewWithOptions is New with the process options of opts.
func NewWithOptions(cl *config.Cluster, name string, log *slog.Logger, opts Options) (*Server, error) {
	self, ok := cl.Server(name)
	if !ok {
		return nil, fmt.Errorf("server %q is not in %s (servers: %v)", name, cl.Path, cl.ServerNames())
	}
	if err := opts.validate(cl.Settings); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cl: cl, self: self, opts: opts, log: log.With("server", name), replicas: map[uint64]*replica.Replica{}, prios: map[uint64]paxos.Priority{}, workers: newWorkers()}
	s.rsServer.Store("")
	s.selfID, _ = s.idOf(name)
	// One observer per data directory and per clog: a second one would corrupt the clog.
	for _, d := range []struct{ key, dir string }{{"data_dir", self.DataDir}, {"clog_dir", self.ClogPath()}} {
		lock, err := lockDir(d.key, d.dir)
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.locks = append(s.locks, lock)
	}
	copts := clogOptions(cl.Settings.ClogSegmentBytes)
	lease := cl.Settings.LeaseDuration
	s.slowWrites = newSlowLog(s.log, lease, "slow clog writes: the disk stalls the replicas")
	s.stalls = newSlowLog(s.log, lease, "replicas went without ticks: leaders may lose their leases")
	s.stalls.extra = newPressure().attrs
	copts.SlowWrite = s.slowWrites.min()
	copts.OnSlowWrite = func(took time.Duration, bytes int) { s.slowWrites.note(took, "last_bytes", bytes) }
	if err := checkIdentity(self.DataDir, config.Identity{Cluster: cl.Name, Server: name, ID: uint64(s.selfID), Zone: self.Zone}); err != nil {
		s.unlock()
		return nil, err
	}
	if err := checkClogID(self.DataDir, self.ClogPath()); err != nil {
		s.unlock()
		return nil, err
	}
	l, err := clog.Open(self.ClogPath(), copts)
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("open clog: %w", err)
	}
	s.clog = l
	if cut, ok := l.Cut(); ok {
		s.log.Warn("clog: cut a torn tail (a write a crash interrupted, never acknowledged; repeated cuts without crashes mean a disk losing writes)",
			"file", cut.File, "offset", cut.Offset, "bytes", cut.Bytes, "why", cut.Why)
	}
	sopts := sstableOptions(filepath.Join(self.DataDir, "sstable"), cl.Settings.SSTableMemoryBytes, s.selfID, s.log)
	st, err := sstable.Open(context.Background(), sopts)
	if err != nil {
		_ = l.Close()
		s.unlock()
		return nil, fmt.Errorf("open sstable: %w", err)
	}
	s.store = st
	return s, nil
}

// lockDir creates dir (the server's key names it) and takes an exclusive flock on its LOCK file.
func lockDir(key, dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("%s %s is in use by another observer (lock %s: %v)", key, dir, lock.Name(), err)
	}
	return lock, nil
}

// unlock releases the directory locks.
func (s *Server) unlock() {
	for _, l := range s.locks {
		_ = l.Close()
	}
	s.locks = nil
}

// slowLog logs events of at least a quarter of the lease (clog writes, write and fdatasync; gaps
// between a poller's ticks), at most once per slowLogEvery with how many there were and the
// longest: a replica sends or answers no heartbeat while its poller waits for its write or does
// not run, so stalls of that order move leaders (docs/operations.md).
type slowLog struct {
	log   *slog.Logger
	lease time.Duration
	msg   string // the log line's message
	// extra, when set, adds attributes to each line: what the process went through since the
	// previous one (pressure).
	extra func() []any

	mu     sync.Mutex
	count  int
	max    time.Duration
	logged time.Time
}

const slowLogEvery = 10 * time.Second

func newSlowLog(log *slog.Logger, lease time.Duration, msg string) *slowLog {
	return &slowLog{log: log, lease: lease, msg: msg}
}

// min is the shortest event that counts: a quarter of the lease.
func (w *slowLog) min() time.Duration { return w.lease / 4 }

// note counts one event that took took (at least min); attrs describe it in the log line.
func (w *slowLog) note(took time.Duration, attrs ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.count++
	w.max = max(w.max, took)
	if now := time.Now(); now.Sub(w.logged) >= slowLogEvery {
		attrs = append([]any{"lease", w.lease, "count", w.count, "longest", w.max.Round(time.Millisecond),
			"since", w.since(now)}, attrs...)
		if w.extra != nil {
			attrs = append(attrs, w.extra()...)
		}
		w.log.Warn(w.msg, attrs...)
		w.count, w.max, w.logged = 0, 0, now
	}
}

// since is how long the count covers, for the log line.
func (w *slowLog) since(now time.Time) string {
	if w.logged.IsZero() {
		return "start"
	}
	return now.Sub(w.logged).Round(time.Second).String()
}

// pollerCount is how many replica pollers a server runs: one per four CPUs. One poller carries
// out the Paxos rounds, log writes and applying of every partition it drives on one goroutine;
// a round costs about as much for one partition as for many (docs/performance.md).
func pollerCount() int { return max(1, runtime.GOMAXPROCS(0)/4) }

// poller is the poller that drives partition's replica.
func (s *Server) poller(partition uint64) *replica.Poller {
	return s.pollers[partition%uint64(len(s.pollers))]
}

func (s *Server) closePollers() {
	for _, p := range s.pollers {
		p.Close()
	}
}

// clogOptions are the clog's defaults with segments of segmentBytes and records and batches
// that hold the largest entry a valid write batch makes (a 4 MiB value alone is larger than
// the defaults' 1 MiB record: the replica would stop on it).
func clogOptions(segmentBytes int64) clog.Options {
	o := clog.DefaultOptions()
	o.SegmentBytes = segmentBytes
	o.FitEntries(replica.MaxEntryBytes)
	// The pollers write every partition of a round in one Save: waiting for more partitions
	// would only delay the round (clog.Options.GatherWait).
	o.GatherWait = 0
	return o
}

// sstableOptions sizes badger within the sstable_memory budget: the memtables keep about their
// defaults (dumps go through them), the rest goes to the block cache (3/5), the index cache
// (1/5) and the row cache (1/5).
//
// Each server's memtables differ in size by its id, between 3/4 and 5/4 of the default
// (memtableScale). The servers of a partition dump the same data, so with equal memtables they
// flushed and compacted level 0 at the same moments; three servers on one machine then built
// their compactions' tables together and starved every poller of the machine for 20-70 s at a
// time (docs/performance.md, eighteenth and twentieth sessions). With sizes apart, each
// server's level 0 fills after a different amount of data.
func sstableOptions(dir string, budget int64, id paxos.ID, log *slog.Logger) sstable.Options {
	o := sstable.DefaultOptions(dir)
	o.Logger = sstable.SlogLogger(log)
	o.MemTableSizeBytes = int64(float64(o.MemTableSizeBytes)*memtableScale(id)) &^ (1<<20 - 1)
	// The memtables leave the caches at least 32 MiB, and are never under badger's floor for
	// our 4 MiB values (see sstable.Options), 32 MiB.
	const minCaches, minMemtable = 32 << 20, 32 << 20
	if fit := (budget - minCaches) / int64(o.NumMemtables) &^ (1<<20 - 1); o.MemTableSizeBytes > fit {
		o.MemTableSizeBytes = max(fit, minMemtable)
	}
	memtables := o.MemTableSizeBytes * int64(o.NumMemtables)
	if rest := budget - memtables; rest > 0 {
		o.BlockCacheSizeBytes = rest * 3 / 5
		o.IndexCacheSizeBytes = rest / 5
		o.RowCacheBytes = rest / 5
	}
	return o
}

// memtableScale is 3/4 plus half the fractional part of id x the golden ratio: consecutive ids
// (the servers of a cluster file) land well apart in [3/4, 5/4), the first three at 1.06, 0.87
// and 1.18.
func memtableScale(id paxos.ID) float64 {
	frac := float64((uint64(id)*0x9e3779b97f4a7c15)>>11) / (1 << 53)
	return 0.75 + frac/2
}

// idOf is a server's replica ID: its 1-based position in the cluster file. Servers may be
// appended to the file but never reordered.
func (s *Server) idOf(name string) (paxos.ID, bool) {
	for i, srv := range s.cl.Servers {
		if srv.Name == name {
			return paxos.ID(i + 1), true
		}
	}
	return 0, false
}

func (s *Server) serverByID(id paxos.ID) (config.Server, bool) {
	if id == 0 || int(id) > len(s.cl.Servers) {
		return config.Server{}, false
	}
	return s.cl.Servers[id-1], true
}

func (s *Server) replica(partition uint64) *replica.Replica {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.replicas[partition]
}

// metaServers are the servers hosting the meta partition: the first server of every zone.
func (s *Server) metaServers() []config.Server {
	var out []config.Server
	for _, z := range s.cl.Zones() {
		if srvs := s.cl.ServersIn(z); len(srvs) > 0 {
			out = append(out, srvs[0])
		}
	}
	return out
}

// metaMembership is the meta partition's group: a replica on the first server of every zone,
// FULL except that with an even number of zones the last zone's is READONLY, so the voters are
// odd and a split into two equal halves still leaves one side a majority (and a root service).
func (s *Server) metaMembership() paxos.Membership {
	var m paxos.Membership
	servers := s.metaServers()
	for i, srv := range servers {
		id, _ := s.idOf(srv.Name)
		typ := paxos.Full
		if len(servers)%2 == 0 && i == len(servers)-1 {
			typ = paxos.ReadOnly
		}
		m.Members = append(m.Members, paxos.Member{ID: id, Type: typ})
	}
	slices.SortFunc(m.Members, func(a, b paxos.Member) int { return cmp.Compare(a.ID, b.ID) })
	return m
}

// metaType is this server's replica type in the meta partition.
func (s *Server) metaType() paxos.ReplicaType {
	if m, ok := s.metaMembership().Member(s.selfID); ok {
		return m.Type
	}
	return paxos.Full
}

func (s *Server) replicaConfig(partition uint64) replica.Config {
	st := s.cl.Settings
	pc := paxos.DefaultConfig(s.selfID)
	pc.LeaseTicks = st.LeaseTicks()
	pc.HeartbeatTicks = st.HeartbeatTicks()
	pc.MaxDriftTicks = st.MaxDriftTicks()
	pc.ElectionLagEntries = uint64(st.ElectionLagEntries)
	pc.Seed = uint64(s.selfID)<<32 ^ partition
	return replica.Config{
		Partition: partition, Paxos: pc, Log: s.clog, Store: s.store, Transport: transportFunc(s.tr.send),
		Snapshots: s.tr, Tick: st.Tick, MemstoreLimit: st.MemstoreLimitBytes,
		CheckpointInterval: st.CheckpointInterval, ClosedInterval: st.ClosedVersionInterval, Logger: s.log,
		Now: s.now, Poller: s.poller(partition), KeepLog: true,
	}
}

type transportFunc func(uint64, []paxos.Message)

func (f transportFunc) Send(p uint64, msgs []paxos.Message) { f(p, msgs) }

// openReplica creates or recovers the replica of partition; established says the root service
// saw its group lead (paxos.Config.Established: created fresh, it is one that lost its data).
func (s *Server) openReplica(partition uint64, initial paxos.Membership, typ paxos.ReplicaType, established bool) (*replica.Replica, error) {
	cfg := s.replicaConfig(partition)
	cfg.Paxos.Established = established
	if typ == paxos.LogOnly {
		cfg.Store = nil
	}
	r, err := replica.Open(context.Background(), cfg, initial, typ)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.replicas[partition] = r
	s.mu.Unlock()
	return r, nil
}

// Run serves until ctx is cancelled, then hands leaderships over and stops.
func (s *Server) Run(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, err := newTransport(loopCtx, s)
	if err != nil {
		return err
	}
	s.tr = tr
	// The pollers run while Run does: a server that is only constructed drives nothing.
	for range pollerCount() {
		p, err := replica.NewPoller(s.clog, s.cl.Settings.Tick)
		if err != nil {
			return err
		}
		p.OnStall(s.stalls.min(), func(gap time.Duration) { s.stalls.note(gap) })
		// A write slower than a lease keeps the replicas' leases as long again; past that
		// the disk is in trouble, the replicas go quiet and leaders move away.
		p.SetWriteTolerance(s.cl.Settings.LeaseDuration)
		s.pollers = append(s.pollers, p)
	}
	defer s.closePollers() // on early returns; Close is idempotent
	// Recover every replica the clog knows, then make sure the meta replica exists here if
	// this server is one of its homes.
	for _, p := range s.clog.Partitions() {
		// Found in the clog. It may have crashed in the middle of a recovery, a new group's
		// included: it resumes as a replica of a group not known to have run.
		_, err := s.openReplica(p, paxos.Membership{}, paxos.Full, false)
		if errors.Is(err, replica.ErrDataLost) {
			err = s.forgetLostReplica(ctx, p, err)
		}
		if err != nil {
			return fmt.Errorf("recover partition %d: %w", p, err)
		}
	}
	createMeta := s.isMetaServer() && s.replica(rootservice.MetaPartition) == nil
	if r := s.replica(rootservice.MetaPartition); r != nil {
		_ = r.SetPriority(ctx, s.metaPriority())
	}
	lis, err := net.Listen("tcp", s.rpcListen())
	if err != nil {
		if s.opts.RPCListen != "" {
			return fmt.Errorf("listen on the rpc listen address %s: %w", s.opts.RPCListen, err)
		}
		return fmt.Errorf("listen on rpc_addr %s: %w", s.self.RPCAddr, err)
	}
	s.lis = lis
	s.grpc = grpc.NewServer(api.ServerOptions()...)
	api.RegisterPeerServer(s.grpc, peerService{s: s})
	api.RegisterAdminServer(s.grpc, adminService{s: s})
	api.RegisterKVServer(s.grpc, kvService{s: s})
	go func() { _ = s.grpc.Serve(lis) }()
	g, err := newGossip(s)
	if err != nil {
		s.grpc.Stop()
		return err
	}
	s.gsp = g
	stop := make(chan struct{})
	if createMeta {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.createMetaReplica(loopCtx) }()
	}
	s.wg.Add(5)
	go func() { defer s.wg.Done(); g.join(stop) }()
	go func() { defer s.wg.Done(); s.rootServiceLoop(loopCtx) }()
	go func() { defer s.wg.Done(); s.reportLoop(loopCtx) }()
	go func() { defer s.wg.Done(); s.gcLoop(loopCtx) }()
	go func() { defer s.wg.Done(); s.scrubLoop(loopCtx) }()
	s.log.Info("observer serving", "rpc", s.self.RPCAddr, "gossip", s.self.GossipAddr, "zone", s.self.Zone, "replicas", len(s.replicas))
	if s.opts != (Options{}) {
		s.log.Info("process options", "rpc_listen", s.rpcListen(), "gossip_listen", s.gossipListen(), "clock_offset", s.opts.ClockOffset)
	}

	<-ctx.Done()
	s.log.Info("stopping: handing leaderships over")
	s.drain(5 * time.Second)
	close(stop)
	cancel()
	s.wg.Wait()
	g.leave()
	s.grpc.Stop()
	s.mu.Lock()
	rs := make([]*replica.Replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.Close()
	}
	tr.close()
	s.closePollers()
	err = errors.Join(s.clog.Close(), s.store.Close())
	s.unlock()
	return err
}

// forgetLostReplica drops the log and sstable data of a replica whose sstable lost what its
// log was compacted past (replica.ErrDataLost): this server then holds nothing of the
// partition, as after a lost disk, and the root service places the replica here again as one
// of a group that ran, which recovers from its peers before it votes (paxos/recovery.go). The
// meta replica is created again the same way (createMetaReplica).
func (s *Server) forgetLostReplica(ctx context.Context, p uint64, cause error) error {
	s.log.Error("a replica's data is incomplete on disk: dropping it here to rebuild it from its peers (docs/operations.md, Damaged data)",
		"partition", p, "sstable", filepath.Join(s.self.DataDir, "sstable"), "err", cause)
	if err := s.store.DropPartition(ctx, p); err != nil {
		return errors.Join(cause, fmt.Errorf("drop the partition's sstable data: %w", err))
	}
	if err := s.clog.Drop(ctx, p); err != nil {
		return errors.Join(cause, fmt.Errorf("drop the partition's log: %w", err))
	}
	return nil
}

// createMetaReplica creates this server's meta replica, which its data directory does not
// hold (a new cluster, or a lost data directory), once every other meta server has answered
// a health check, and as one of a group that ran (paxos.Config.Established) if any of them
// holds meta entries. Nothing outside the meta partition records that it ran: servers that
// lost their data would otherwise find each other pristine, a majority, and could start it
// afresh, a second cluster, while the one holding it is down or before its probe answer
// arrives. Waiting for every meta server costs a new cluster nothing (its servers start
// together) and a server that lost its data only the health checks.
func (s *Server) createMetaReplica(ctx context.Context) {
	waiting := map[string]bool{}
	for _, srv := range s.metaServers() {
		if srv.Name != s.self.Name {
			waiting[srv.Name] = true
		}
	}
	// Poll often: the meta servers of a new cluster should create their replicas within a
	// tick or two of each other, so that all of them find each other pristine and leave
	// recovery at once; one created later recovers from the others' leader, which takes
	// CampaignTicks+LeaseTicks, and until then the partition survives no other failure.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var logged time.Time
	var holders []string // meta servers whose meta replica holds entries
	for len(waiting) > 0 {
		for name := range waiting {
			hctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			h, err := api.NewAdminClient(s.tr.peers[name].conn).Health(hctx, &api.HealthRequest{})
			cancel()
			if err == nil {
				delete(waiting, name)
				if h.MetaLastIndex > 0 {
					holders = append(holders, name)
				}
			}
		}
		if len(waiting) == 0 {
			break
		}
		if time.Since(logged) >= 5*time.Second {
			logged = time.Now()
			s.log.Warn("no meta replica in this data directory: creating it once every meta server answers", "waiting_for", slices.Sorted(maps.Keys(waiting)))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	r, err := s.openReplica(rootservice.MetaPartition, s.metaMembership(), s.metaType(), len(holders) > 0)
	if err != nil {
		s.log.Error("create meta partition", "err", err)
		return
	}
	_ = r.SetPriority(ctx, s.metaPriority())
	if len(holders) > 0 {
		slices.Sort(holders)
		s.log.Warn("meta replica created empty in a cluster that ran: it recovers from the others (see obctl unsafe-recover if a majority lost its data)",
			"type", s.metaType(), "holding_meta", holders)
	} else {
		s.log.Info("meta replica created", "type", s.metaType())
	}
}

func (s *Server) isMetaServer() bool {
	for _, srv := range s.metaServers() {
		if srv.Name == s.self.Name {
			return true
		}
	}
	return false
}

// metaPriority: the meta partition prefers the zones in cluster-file order.
func (s *Server) metaPriority() paxos.Priority {
	rank := uint32(slices.Index(s.cl.Zones(), s.self.Zone))
	return paxos.Priority{Healthy: !s.isDraining(), ZoneRank: rank}
}

func (s *Server) isDraining() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.draining
}

// drain marks every replica unhealthy so leaders hand over to healthier replicas, and waits
// until none serves here and each that led has heard of its successor, or the timeout passes.
func (s *Server) drain(timeout time.Duration) {
	s.mu.Lock()
	s.draining = true
	rs := make([]*replica.Replica, 0, len(s.replicas))
	prios := make([]paxos.Priority, 0, len(s.replicas))
	var led []bool // led[i]: rs[i] served as leader when the drain began
	for p, r := range s.replicas {
		pr := s.prios[p]
		pr.Healthy = false
		s.prios[p] = pr
		rs, prios, led = append(rs, r), append(prios, pr), append(led, r.Status().Serving)
	}
	s.mu.Unlock()
	// SetPriority waits for each replica's loop: never while holding s.mu.
	for i, r := range rs {
		pr := prios[i]
		if r.Partition() == rootservice.MetaPartition {
			pr = s.metaPriority() // unhealthy now that draining is set
		}
		_ = r.SetPriority(context.Background(), pr)
	}
	if s.gsp != nil {
		s.gsp.startDraining()
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		leading := 0
		for i, r := range rs {
			st := r.Status()
			if !s.canHandOver(st.Config.Voters()) {
				continue
			}
			// A leader stops serving as it sends the transfer's last message (MsgTimeoutNow),
			// which may still wait in the peer queue then: exiting at that moment lost it, and
			// the group waited out the lease (TestSigtermHandsOver, 1 run in 12). A leadership
			// is handed over once another replica is known to lead.
			if st.Serving || (led[i] && (st.Leader == paxos.None || st.Leader == st.ID)) {
				leading++
			}
		}
		if leading == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// canHandOver reports whether another of voters' servers can take a leadership over: alive and
// not draining itself. When every server stops at once (obctl cluster down), none can, and the
// drain does not wait for it.
func (s *Server) canHandOver(voters []paxos.ID) bool {
	for _, id := range voters {
		srv, ok := s.serverByID(id)
		if !ok || srv.Name == s.self.Name {
			continue
		}
		if s.gsp == nil || s.gsp.CanLead(srv.Name) {
			return true
		}
	}
	return false
}

// Scrubs of the sstable (sstable.Store.Scrub): the first a while after start, so that a
// restart under load is not slowed by it, then daily.
const (
	scrubFirst = 10 * time.Minute
	scrubEvery = 24 * time.Hour
)

// scrubLoop verifies every sstable block's checksum now and then: a damaged block reads as
// missing rows, without an error, and only a scrub finds it. What it finds is logged with what
// to do (docs/operations.md, Damaged data).
func (s *Server) scrubLoop(ctx context.Context) {
	wait := scrubFirst
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = scrubEvery
		began := time.Now()
		n, err := s.store.Scrub(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Error("sstable scrub: damaged data on disk: its rows read as missing. If the other replicas of this server's partitions are healthy, "+
				"stop the server, move <data_dir>/sstable aside and start it again: its replicas are rebuilt from their peers (docs/operations.md, Damaged data)",
				"err", err)
		default:
			s.log.Info("sstable scrub: every block's checksum verified", "tables", n, "took", time.Since(began).Round(time.Millisecond))
		}
	}
}

// gcLoop garbage-collects old versions: every gcInterval it moves the sstable's safe point to
// now - settings.version_retention (versions are wall-clock microseconds), after which badger's
// compactions drop, per key, the versions older than the newest one below it. A read below the
// safe point is refused as not readable (server/kv.go readError).
func (s *Server) gcLoop(ctx context.Context) {
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		safe := s.now().Add(-s.cl.Settings.VersionRetention).UnixMicro()
		if safe <= 0 || uint64(safe) <= s.store.SafePoint() {
			continue
		}
		if err := s.store.SetSafePoint(ctx, uint64(safe)); err != nil {
			s.log.Warn("version GC: setting the safe point failed", "safe_point", safe, "err", err)
		}
	}
}

// gcInterval is how often gcLoop moves the safe point: each move is one synced metadata write.
const gcInterval = 5 * time.Second

// rootServiceLoop starts the root service while this server's meta replica leads.
func (s *Server) rootServiceLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		meta := s.replica(rootservice.MetaPartition)
		leading := meta != nil && meta.Status().Serving
		s.rsMu.Lock()
		switch {
		case leading && s.rs == nil:
			s.rs = rootservice.New(meta, clusterView{s}, s.log.With("role", "rootservice"))
			s.log.Info("root service started")
		case !leading && s.rs != nil:
			s.rs = nil
			s.log.Info("root service stopped")
		}
		rs := s.rs
		s.rsMu.Unlock()
		if rs != nil && s.bootstrapped.Load() {
			tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := rs.Tick(tctx, s.downFor, s.cl.Settings.PermanentOfflineTime); err != nil {
				s.log.Debug("root service schedulers", "err", err)
			}
			cancel()
		}
		if rs != nil && !s.bootstrapped.Load() {
			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := rs.Bootstrap(bctx); err != nil {
				s.log.Warn("bootstrap not done yet", "err", err)
			} else {
				s.bootstrapped.Store(true)
			}
			cancel()
		}
	}
}

func (s *Server) downFor(name string) time.Duration {
	if name == s.self.Name || s.gsp == nil {
		return 0
	}
	return s.gsp.DownFor(name)
}

func (s *Server) rootService() *rootservice.Service {
	s.rsMu.Lock()
	defer s.rsMu.Unlock()
	return s.rs
}

// reportLoop tells the root service what this server hosts and creates, reprioritizes or
// drops replicas as it answers.
func (s *Server) reportLoop(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep := rootservice.Report{Server: s.self.Name}
		s.mu.RLock()
		for p, r := range s.replicas {
			st := r.Status()
			rr := rootservice.ReplicaReport{Partition: p, Type: r.Type(), Role: st.Role.String(),
				Serving: st.Serving, Leader: uint64(st.Leader), Applied: st.Applied, Commit: st.Commit, Last: st.Last, Readable: st.ReadableVersion,
				Ballot: st.Ballot, Recovering: st.Recovering}
			if st.Serving {
				rr.Members = st.Config.Members
			}
			rep.Replicas = append(rep.Replicas, rr)
		}
		s.mu.RUnlock()
		args, _ := json.Marshal(rep)
		rctx, cancel := context.WithTimeout(ctx, s.cl.Settings.RPCTimeout)
		out, err := s.executeOnRootService(rctx, "report", args)
		cancel()
		if err != nil {
			s.log.Debug("report to root service failed", "err", err)
			continue
		}
		var reply rootservice.ReportReply
		if err := json.Unmarshal(out, &reply); err != nil {
			s.log.Warn("bad report reply", "err", err)
			continue
		}
		tables := make(map[string]rootservice.TableRef, len(reply.Tables))
		for _, t := range reply.Tables {
			tables[tenant.TableKey(t.Tenant, t.Name)] = t
		}
		s.mu.Lock()
		s.tables = tables
		s.mu.Unlock()
		s.reconcile(ctx, reply.Assignments)
	}
}

// reconcile makes the hosted replicas match the root service's assignments.
func (s *Server) reconcile(ctx context.Context, as []rootservice.Assignment) {
	s.rebuildLost(ctx)
	want := map[uint64]bool{rootservice.MetaPartition: true}
	for _, a := range as {
		want[a.Partition] = true
		r := s.replica(a.Partition)
		if r != nil && a.Join && r.Type() == paxos.LogOnly && a.Type != paxos.LogOnly {
			// The group removed our LOGONLY replica to re-add it as a data replica: rebuild it
			// empty; it catches up from a snapshot once the leader adds it.
			s.dropReplica(ctx, r)
			r = nil
		}
		if r == nil && a.KeepOnly {
			continue
		}
		if r == nil {
			members := a.Members
			if a.Join {
				members = nil
			}
			var err error
			if r, err = s.openReplica(a.Partition, paxos.Membership{Members: members}, a.Type, a.Established); err != nil {
				s.log.Error("create replica", "partition", a.Partition, "err", err)
				continue
			}
			s.log.Info("replica created", "partition", a.Partition, "type", a.Type)
		}
		pr := a.Priority
		if s.isDraining() {
			pr.Healthy = false
		}
		s.mu.Lock()
		changed := s.prios[a.Partition] != pr
		s.prios[a.Partition] = pr
		s.mu.Unlock()
		if changed {
			_ = r.SetPriority(ctx, pr)
		}
		if a.Change != nil && r.Status().Serving {
			s.proposeChange(r, *a.Change)
		}
	}
	s.mu.RLock()
	var drop []*replica.Replica
	for p, r := range s.replicas {
		if !want[p] {
			drop = append(drop, r)
		}
	}
	s.mu.RUnlock()
	for _, r := range drop {
		s.dropReplica(ctx, r)
	}
}

// rebuildLost drops every replica that lost its data while running (replica.DataLost); the
// assignments then create it again, and the meta replica is created again here, as one of a
// group that ran: each recovers from its peers before it votes.
func (s *Server) rebuildLost(ctx context.Context) {
	s.mu.RLock()
	var lost []*replica.Replica
	for _, r := range s.replicas {
		select {
		case <-r.DataLost():
			lost = append(lost, r)
		default:
		}
	}
	s.mu.RUnlock()
	for _, r := range lost {
		p := r.Partition()
		s.log.Error("a replica lost its data: dropping it here to rebuild it from its peers (docs/operations.md, Damaged data)", "partition", p)
		s.dropReplica(ctx, r)
		if p == rootservice.MetaPartition {
			m, err := s.openReplica(p, s.metaMembership(), s.metaType(), true)
			if err != nil {
				s.log.Error("create meta partition", "err", err)
				continue
			}
			_ = m.SetPriority(ctx, s.metaPriority())
		}
	}
}

// dropReplica closes a replica and deletes its log and data.
func (s *Server) dropReplica(ctx context.Context, r *replica.Replica) {
	p := r.Partition()
	s.mu.Lock()
	if s.replicas[p] == r {
		delete(s.replicas, p)
		delete(s.prios, p)
	}
	s.mu.Unlock()
	r.Close()
	_ = s.clog.Drop(ctx, p) // a replica created here again later starts from nothing
	_ = s.store.DropPartition(ctx, p)
	s.log.Info("replica dropped", "partition", p)
}

// proposeChange proposes a membership change on a leader replica, one at a time per partition.
func (s *Server) proposeChange(r *replica.Replica, cc paxos.ConfChange) {
	p := r.Partition()
	if _, busy := s.changing.LoadOrStore(p, true); busy {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.changing.Delete(p)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.ProposeConfChange(ctx, cc); err != nil {
			s.log.Info("membership change not made", "partition", p, "change", cc.Type.String(), "replica", cc.ID, "err", err)
			return
		}
		s.log.Info("membership changed", "partition", p, "change", cc.Type.String(), "replica", cc.ID, "type", cc.Replica)
	}()
}

// executeOnRootService runs op on the root service, here or on the server that runs it.
func (s *Server) executeOnRootService(ctx context.Context, op string, args []byte) ([]byte, error) {
	if rs := s.rootService(); rs != nil {
		return rs.Execute(ctx, op, args)
	}
	name, err := s.findRootService(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := api.NewAdminClient(s.tr.peers[name].conn).Execute(ctx, &api.AdminRequest{Op: op, ArgsJson: args})
	if err != nil {
		s.rsServer.Store("")
		return nil, err
	}
	return resp.ResultJson, nil
}

// findRootService returns the server running the root service: the leader of the meta
// partition, from the local meta replica or by asking the meta servers.
func (s *Server) findRootService(ctx context.Context) (string, error) {
	if r := s.replica(rootservice.MetaPartition); r != nil {
		if st := r.Status(); st.Leader != 0 {
			if srv, ok := s.serverByID(st.Leader); ok && srv.Name != s.self.Name {
				return srv.Name, nil
			}
		}
	}
	if name := s.rsServer.Load().(string); name != "" && name != s.self.Name {
		return name, nil
	}
	for _, srv := range s.metaServers() {
		if srv.Name == s.self.Name {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		h, err := api.NewAdminClient(s.tr.peers[srv.Name].conn).Health(hctx, &api.HealthRequest{})
		cancel()
		if err == nil && h.RootService != "" && h.RootService != s.self.Name {
			s.rsServer.Store(h.RootService)
			return h.RootService, nil
		}
	}
	return "", status.Error(codes.Unavailable, "the root service is not available yet (no meta partition leader)")
}

// clusterView adapts the server to rootservice.Cluster.
type clusterView struct{ s *Server }

func (c clusterView) Topology() tenant.Topology {
	var t tenant.Topology
	for _, z := range c.s.cl.Zones() {
		zi := tenant.ZoneInfo{Name: z, Region: c.s.cl.RegionOf(z)}
		for _, srv := range c.s.cl.ServersIn(z) {
			zi.Servers = append(zi.Servers, srv.Name)
		}
		t.Zones = append(t.Zones, zi)
	}
	for _, srv := range c.s.cl.Servers {
		if cp := srv.Capacity; cp != (config.Capacity{}) {
			if t.Capacity == nil {
				t.Capacity = map[string]tenant.Capacity{}
			}
			t.Capacity[srv.Name] = tenant.Capacity{CPU: cp.CPU, Memory: int64(cp.Memory), LogDisk: int64(cp.LogDisk)}
		}
	}
	return t
}

func (c clusterView) ServerID(name string) (paxos.ID, bool) { return c.s.idOf(name) }

func (c clusterView) MetaLocality() string {
	var parts []string
	for _, m := range c.s.metaMembership().Members {
		srv, _ := c.s.serverByID(m.ID)
		parts = append(parts, m.Type.String()[:1]+"@"+srv.Zone)
	}
	return strings.Join(parts, ",")
}

func (c clusterView) ServerInfo(name string) (string, string, string, bool) {
	srv, ok := c.s.cl.Server(name)
	if !ok {
		return "", "", "", false
	}
	return srv.Zone, c.s.cl.RegionOf(srv.Zone), srv.RPCAddr, true
}

func (c clusterView) LocalLeader(p uint64) (paxos.ID, bool) {
	r := c.s.replica(p)
	if r == nil {
		return 0, false
	}
	id := r.Status().Leader
	return id, id != 0
}

func (c clusterView) Alive(name string) bool {
	if name == c.s.self.Name {
		return true
	}
	return c.s.gsp != nil && c.s.gsp.Alive(name)
}

// adminService serves the Admin gRPC service.
type adminService struct {
	api.UnimplementedAdminServer
	s *Server
}

func (a adminService) Health(ctx context.Context, _ *api.HealthRequest) (*api.HealthResponse, error) {
	s := a.s
	h := &api.HealthResponse{Cluster: s.cl.Name, Server: s.self.Name, Zone: s.self.Zone}
	if s.rootService() != nil {
		h.RootService = s.self.Name
		h.Bootstrapped = s.bootstrapped.Load()
	} else if r := s.replica(rootservice.MetaPartition); r != nil {
		if st := r.Status(); st.Leader != 0 {
			if srv, ok := s.serverByID(st.Leader); ok {
				h.RootService = srv.Name
			}
		}
	}
	s.mu.RLock()
	h.Replicas = uint32(len(s.replicas))
	s.mu.RUnlock()
	h.SafePoint = s.store.SafePoint()
	if r := s.replica(rootservice.MetaPartition); r != nil {
		st := r.Status()
		h.MetaLastIndex = max(st.Last, st.Snapshot)
	}
	return h, nil
}

func (a adminService) Execute(ctx context.Context, req *api.AdminRequest) (*api.AdminResponse, error) {
	run := a.s.executeOnRootService
	if req.Op == UnsafeRecoverOp {
		run = func(ctx context.Context, _ string, args []byte) ([]byte, error) { return a.s.unsafeRecover(ctx, args) }
	}
	out, err := run(ctx, req.Op, req.ArgsJson)
	if err != nil {
		return nil, adminStatus(err)
	}
	return &api.AdminResponse{ResultJson: out}, nil
}

// adminStatus gives an admin operation's error the gRPC code that tells a client what it may
// do: a request that breaks a rule is not retried (its message may repeat whatever the user
// typed, so a client must not look for words in it), one the root service did not carry out
// because it is moving is retried elsewhere (Unavailable), and a meta write whose outcome is
// unknown stays Unknown. An error that is a status already (forwarded from the root service's
// server) keeps its code.
func adminStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, rootservice.ErrBadArgs), errors.Is(err, rootservice.ErrUnknownOp):
		code = codes.InvalidArgument
	case errors.Is(err, tenant.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, tenant.ErrExists):
		code = codes.AlreadyExists
	case errors.Is(err, tenant.ErrInUse):
		code = codes.FailedPrecondition
	case errors.Is(err, rootservice.ErrNotLeading), errors.Is(err, replica.ErrNotLeader), errors.Is(err, replica.ErrNotChosen),
		errors.Is(err, replica.ErrThrottled), errors.Is(err, replica.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func (a adminService) Show(ctx context.Context, req *api.ShowRequest) (*api.ShowResponse, error) {
	s := a.s
	if rs := s.rootService(); rs != nil {
		rows, err := rs.Show(ctx, req.What, req.Tenant, req.Table)
		if err != nil {
			return nil, adminStatus(err)
		}
		b, err := json.Marshal(rows)
		return &api.ShowResponse{RowsJson: b}, err
	}
	name, err := s.findRootService(ctx)
	if err != nil {
		return nil, err
	}
	return api.NewAdminClient(s.tr.peers[name].conn).Show(ctx, req)
}
