package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"obkv/api"
)

// Client is a connection to an obkv cluster. It is safe for concurrent use; Close releases it.
type Client struct {
	cfg config
	rr  atomic.Uint64 // leader-and-follower rotation

	mu         sync.Mutex
	closed     bool
	seeds      []string
	lastLocate string
	conns      map[string]*grpc.ClientConn // one per server address, reused by every call
	kvs        map[string]*muxKV           // KV clients over conns
	tables     map[tableKey]*tableLoc
	versions   map[replicaKey]versionInfo
	roles      map[replicaKey]roleHint // roles servers answered with (see learnRole)
	health     map[string]*serverHealth
	rowBytes   map[tableKey]float64 // EWMA of key+value bytes per row, for closest-adaptive
	written    map[tableKey]uint64  // highest version this client wrote per table
}

// New connects to the first of addrs that accepts a connection (in order; each gets the
// configured timeout) and returns a client that routes every call by the tables' locations.
// The other addresses remain seeds for Locate.
func New(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("new client: no server address given: %w", ErrInvalid)
	}
	c := &Client{
		cfg:      cfg,
		conns:    map[string]*grpc.ClientConn{},
		kvs:      map[string]*muxKV{},
		tables:   map[tableKey]*tableLoc{},
		versions: map[replicaKey]versionInfo{},
		health:   map[string]*serverHealth{},
		rowBytes: map[tableKey]float64{},
		written:  map[tableKey]uint64{},
	}
	var errs []string
	for i, addr := range addrs {
		conn, err := c.conn(addr)
		if err == nil {
			err = waitReady(ctx, conn, cfg.timeout)
		}
		if err != nil {
			errs = append(errs, addr+": "+err.Error())
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.seeds = append([]string{addr}, append(append([]string(nil), addrs[:i]...), addrs[i+1:]...)...)
		return c, nil
	}
	c.Close()
	return nil, fmt.Errorf("new client: connect to %s: %w", strings.Join(errs, "; "), ErrNoServer)
}

// waitReady connects conn and waits until it is ready, fails, or the timeout passes.
func waitReady(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return errors.New("connection " + strings.ToLower(s.String()))
		}
		if !conn.WaitForStateChange(ctx, s) {
			return ctx.Err()
		}
	}
}

// Close closes every connection. Calls in flight fail; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	conns, kvs := c.conns, c.kvs
	c.conns, c.kvs, c.closed = map[string]*grpc.ClientConn{}, map[string]*muxKV{}, true
	c.mu.Unlock()
	for _, kv := range kvs {
		kv.close()
	}
	var errs []error
	for _, conn := range conns {
		if err := conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// conn returns the pooled connection to addr, creating it (lazily connected) on first use.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("server at %s: %w", addr, ErrClosed)
	}
	if conn := c.conns[addr]; conn != nil {
		return conn, nil
	}
	opts := append(append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, api.DialOptions()...), c.cfg.dialOpts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("server at %s: %v: %w", addr, err, ErrInvalid)
	}
	c.conns[addr] = conn
	return conn, nil
}

func (c *Client) kv(addr string) (api.KVClient, error) {
	conn, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	if c.cfg.unary {
		return api.NewKVClient(conn), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kv := c.kvs[addr]
	if kv == nil {
		kv = newMuxKV(conn)
		c.kvs[addr] = kv
	}
	return kv, nil
}

// withTimeout bounds ctx by d (0: no bound).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Meta says how a read was served.
type Meta struct {
	Partition int
	// Server, Zone, Type (FULL, READONLY) and Role (LEADER, FOLLOWER) of the replica that served.
	Server, Zone, Type, Role string
	// ReadVersion is the version the read saw: every write at or below it and none above.
	ReadVersion uint64
	// Staleness is how far ReadVersion was behind the serving server's clock (0 for strong
	// reads).
	Staleness time.Duration
	// ReadableVersion is the serving replica's readable version when it answered.
	ReadableVersion uint64
	// Tried is how many replicas the client tried, this one included.
	Tried int
}

func metaOf(p int, m *api.ReadMeta, tried int) Meta {
	sb := m.GetServedBy()
	return Meta{
		Partition: p,
		Server:    sb.GetServer(), Zone: sb.GetZone(), Type: sb.GetType(), Role: sb.GetRole(),
		ReadVersion:     m.GetReadVersion(),
		Staleness:       time.Duration(m.GetStalenessMs()) * time.Millisecond,
		ReadableVersion: m.GetReadableVersion(),
		Tried:           tried,
	}
}
