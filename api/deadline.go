package api

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is a context that ends at a deadline (or with its parent) but makes the timer and
// the link to its parent (context.WithDeadline) only when something first asks for Done or Err.
// Most stream calls never do: a weak read answers without waiting on anything, and a context
// with a deadline per call (a timer, an entry in the stream context's children under its lock)
// was 8% of a follower's CPU under weak reads spread over leader and followers.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time
	once     sync.Once
	ctx      context.Context // made by the first Done or Err, or ended by release
	cancel   context.CancelFunc
}

// endedCtx stands for a lazyDeadline released before anything asked for Done or Err: the call
// has returned, so a late look finds it canceled, as context.WithDeadline's cancel leaves it.
var endedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func withLazyDeadline(parent context.Context, d time.Duration) *lazyDeadline {
	return &lazyDeadline{parent: parent, deadline: time.Now().Add(d)}
}

func (l *lazyDeadline) real() context.Context {
	l.once.Do(func() { l.ctx, l.cancel = context.WithDeadline(l.parent, l.deadline) })
	return l.ctx
}

// release ends the context, as a CancelFunc does; call it once the call has returned.
func (l *lazyDeadline) release() {
	l.once.Do(func() { l.ctx, l.cancel = endedCtx, func() {} })
	l.cancel()
}

// Deadline is the earlier of the parent's deadline and this one's.
func (l *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := l.parent.Deadline(); ok && d.Before(l.deadline) {
		return d, true
	}
	return l.deadline, true
}

func (l *lazyDeadline) Done() <-chan struct{} { return l.real().Done() }
func (l *lazyDeadline) Err() error            { return l.real().Err() }
func (l *lazyDeadline) Value(key any) any     { return l.parent.Value(key) }
