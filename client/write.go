package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"obkv/api"
	obtenant "obkv/tenant"
)

// OpKind is the kind of one batch operation.
type OpKind uint32

const (
	// OpPut sets a key's value.
	OpPut OpKind = 1
	// OpDelete removes a key.
	OpDelete OpKind = 2
)

// Op is one operation of an atomic batch.
type Op struct {
	Kind       OpKind
	Key, Value []byte
}

// PutOp is a put of key to value, for Batch.
func PutOp(key, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// DeleteOp is a delete of key, for Batch.
func DeleteOp(key []byte) Op { return Op{Kind: OpDelete, Key: key} }

// Put writes key = value through the partition's leader and returns the write's commit
// version. An error wrapping ErrOutcomeUnknown means the write may or may not be applied.
func (c *Client) Put(ctx context.Context, tenantName, table string, key, value []byte) (uint64, error) {
	return c.Batch(ctx, tenantName, table, []Op{PutOp(key, value)})
}

// Delete removes key through the partition's leader and returns the delete's commit version.
func (c *Client) Delete(ctx context.Context, tenantName, table string, key []byte) (uint64, error) {
	return c.Batch(ctx, tenantName, table, []Op{DeleteOp(key)})
}

// Batch applies ops atomically (all or none, at one commit version, which it returns). Every
// key must hash to the same partition: a batch that spans partitions is refused before
// anything is sent (ErrCrossPartition).
func (c *Client) Batch(ctx context.Context, tenantName, table string, ops []Op) (uint64, error) {
	what := call{op: "write", tenant: tenantName, table: table, partition: -1}
	if len(ops) == 0 {
		return 0, fmt.Errorf("%s: a batch needs at least one op: %w", what, ErrInvalid)
	}
	for i, op := range ops {
		if op.Kind != OpPut && op.Kind != OpDelete {
			return 0, fmt.Errorf("%s: op %d on key %q: kind %d is neither put (1) nor delete (2): %w", what, i, op.Key, op.Kind, ErrInvalid)
		}
	}
	ctx, cancel := withTimeout(ctx, c.cfg.timeout)
	defer cancel()
	loc, err := c.location(ctx, tenantName, table, false)
	if err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	p := obtenant.PartitionOf(ops[0].Key, loc.partitions)
	wire := make([]*api.KVOp, len(ops))
	for i, op := range ops {
		if q := obtenant.PartitionOf(op.Key, loc.partitions); q != p {
			return 0, fmt.Errorf("%s: batch of %d ops: key %q hashes to partition %d but key %q to partition %d (of %d); an atomic batch must stay within one partition: %w",
				what, len(ops), ops[0].Key, p, op.Key, q, loc.partitions, ErrCrossPartition)
		}
		wire[i] = &api.KVOp{Kind: uint32(op.Kind), Key: op.Key, Value: op.Value}
	}
	return c.write(ctx, loc, p, wire, what.in(p))
}

// write sends one batch to partition p's leader. It retries only where nothing can have been
// applied: "not leader" (nothing was proposed), NotFound (the server has no such replica) and
// a connection that was never established. Any other failure after the request may have been
// delivered returns ErrOutcomeUnknown, and an InvalidArgument returns ErrInvalid.
func (c *Client) write(ctx context.Context, loc *tableLoc, p int, ops []*api.KVOp, what call) (uint64, error) {
	var errs []string
	hint := ""
	refresh := false
	// While a partition elects or hands over its leader (hundreds of milliseconds), "not
	// leader" and "no leader known" are safe to retry: nothing was proposed (leaderWait).
	var waits leaderWait
	// avoid holds the servers of this call that failed or did not know a leader: the next
	// attempt asks another FULL replica, whose "not leader: leader is X" names the new leader
	// as soon as it is elected, without waiting for the root service to learn of it (which can
	// be on the server that just died).
	avoid := map[string]bool{}
	// down holds the servers of this call whose dial failed: a "leader is X" naming one of them
	// is a follower still holding its lease from a dead leader.
	down := map[string]bool{}
	for tried := 0; tried < c.cfg.maxAttempts; {
		if refresh {
			// A failed refresh (the root service may be failing over with the server that
			// died) keeps the cached location: the replicas themselves name their new leader.
			refresh = false
			fresh, err := c.location(ctx, loc.tenant, loc.table, true)
			switch {
			case err == nil:
				loc = fresh
			case ctx.Err() != nil:
				return 0, fmt.Errorf("%s: after %d attempts (%s): %w", what, tried, strings.Join(errs, "; "), err)
			default:
				errs = append(errs, "location refresh: "+err.Error())
			}
		}
		target, ok := c.leaderOf(loc, p, hint, avoid)
		hint = ""
		if !ok {
			clear(avoid) // every replica was tried: start over after the pause
			if waits.n >= maxLeaderWaits {
				return 0, fmt.Errorf("%s: no leader is known after %d location refreshes (%s): %w", what, waits.n, lastErrs(errs), ErrNoReplica)
			}
			errs = append(errs, "no leader known")
			if err := waits.pause(ctx); err != nil {
				return 0, fmt.Errorf("%s: not sent, no leader known (%s): %w", what, lastErrs(errs), err)
			}
			refresh = true
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("%s: not sent: %w", what, err)
		}
		kv, err := c.kv(target.addr)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		tried++
		start := c.cfg.clock()
		resp, err := kv.Write(ctx, &api.WriteRequest{Tenant: loc.tenant, Table: loc.table, Partition: uint32(p), Ops: ops})
		if err == nil {
			c.observe(target.addr, c.cfg.clock().Sub(start))
			k := tableKey{loc.tenant, loc.table}
			c.mu.Lock()
			c.written[k] = max(c.written[k], resp.GetVersion())
			c.mu.Unlock()
			return resp.GetVersion(), nil
		}
		on := fmt.Sprintf("server %s at %s", target.server, target.addr)
		switch classify(err) {
		case classNotLeader:
			hint = leaderHint(err)
			if c.unreachable(loc, p, hint, down) {
				// The replica still follows a leader found down (its lease from it has not run
				// out): as good as no hint. Following it burnt the attempts in a few
				// milliseconds, hundreds of failed writes per failover (obctl bench failover).
				hint = ""
			}
			refresh = true
			if hint == "" {
				avoid[target.server] = true
			}
			if hint == "" && waits.n < maxLeaderWaits {
				tried-- // an election is running: wait for it instead of spending an attempt
				if err := waits.pause(ctx); err != nil {
					return 0, fmt.Errorf("%s: not sent, %s: not leader (%s): %w", what, on, lastErrs(errs), err)
				}
			}
		case classNotFound:
			refresh = true
		case classUndelivered:
			c.failed(target.addr)
			avoid[target.server], down[target.server] = true, true
			refresh = true
		case classInvalid:
			return 0, fmt.Errorf("%s: %s rejected it: %s: %w", what, on, statusText(err), ErrInvalid)
		case classRejected:
			return 0, fmt.Errorf("%s: %s refused it (not applied): %s", what, on, statusText(err))
		default:
			if classify(err) == classDown {
				c.failed(target.addr)
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return 0, fmt.Errorf("%s: %s: %s: %w: %w", what, on, statusText(err), ErrOutcomeUnknown, ctxErr)
			}
			return 0, fmt.Errorf("%s: %s: %s: the request may have been delivered: %w", what, on, statusText(err), ErrOutcomeUnknown)
		}
		errs = append(errs, on+": "+statusText(err))
	}
	return 0, fmt.Errorf("%s: no leader accepted it within %d attempts (%s): %w", what, c.cfg.maxAttempts, strings.Join(errs, "; "), ErrNoReplica)
}

// leaderOf is the replica a write to p goes to: the server a "not leader" answer named when it
// hosts a FULL replica of p; else the cached leader, unless this call avoids it or it failed
// within the cooldown; else another FULL replica not avoided, which either leads by now or
// names the leader (a write to a non-leader proposes nothing); else the cooling leader, then a
// cooling replica (a failure mark can be a refused Locate of a live server). None left: false.
func (c *Client) leaderOf(loc *tableLoc, p int, hint string, avoid map[string]bool) (replica, bool) {
	var leader, cooled, other, cooledOther *replica
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range loc.parts[p] {
		r := &loc.parts[p][i]
		failed := c.recentlyFailedLocked(r.addr)
		switch {
		case r.typ != typeFull:
		case hint != "" && r.server == hint:
			return *r, true
		case avoid[r.server]:
		case r.leader && failed:
			cooled = r
		case r.leader:
			leader = r
		case failed && cooledOther == nil:
			cooledOther = r
		case !failed && other == nil:
			other = r
		}
	}
	for _, r := range []*replica{leader, other, cooled, cooledOther} {
		if r != nil {
			return *r, true
		}
	}
	return replica{}, false
}

// unreachable reports whether server, named by a "not leader" answer, is one this call could
// not reach (down) or whose server failed within the cooldown.
func (c *Client) unreachable(loc *tableLoc, p int, server string, down map[string]bool) bool {
	if server == "" {
		return false
	}
	if down[server] {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range loc.parts[p] {
		if r.server == server {
			return c.recentlyFailedLocked(r.addr)
		}
	}
	return false
}

// maxLeaderPause caps the wait between attempts while no leader is known: an election takes
// tens of milliseconds once a lease has run out, and an attempt costs the servers little.
const maxLeaderPause = 50 * time.Millisecond

// maxLeaderWaits bounds one call's looks for a leader (leaderWait).
const maxLeaderWaits = 100

// leaderWait paces one call's attempts while its partition has no leader (an election, a
// handover, servers just started): 10 ms doubling to maxLeaderPause between looks, at most
// maxLeaderWaits of them (about 5 s); the caller's deadline bounds the whole.
type leaderWait struct{ n int }

func (w *leaderWait) pause(ctx context.Context) error {
	d := min(10*time.Millisecond<<min(w.n, 2), maxLeaderPause)
	w.n++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsOutcomeUnknown reports whether err says a write may or may not have been applied.
func IsOutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// lastErrs joins the last few errors of a retry loop (the whole list can be long).
func lastErrs(errs []string) string {
	if len(errs) > 4 {
		errs = append([]string{fmt.Sprintf("... %d earlier", len(errs)-4)}, errs[len(errs)-4:]...)
	}
	return strings.Join(errs, "; ")
}
