package server

import (
	"time"

	"google.golang.org/grpc"

	"obkv/api"
)

// workerIdle is how long an idle call worker waits for more work before it exits.
const workerIdle = 10 * time.Second

// Stream serves many Write and Get calls over one stream (api.ServeStream), on the server's
// call workers.
func (k kvService) Stream(st grpc.BidiStreamingServer[api.StreamRequest, api.StreamResponse]) error {
	return api.ServeStream(st, k, k.s.workers.run)
}

// workers runs functions on reusable goroutines. A fresh goroutine per call starts on a small
// stack and grows it by copying on the way into the replica and the storage; profiles showed
// that as a tenth of a server's CPU. Idle workers exit after workerIdle.
type workers struct {
	tasks chan func()
}

func newWorkers() *workers { return &workers{tasks: make(chan func())} }

// run hands fn to an idle worker, or starts a new one.
func (w *workers) run(fn func()) {
	select {
	case w.tasks <- fn:
	default:
		go w.loop(fn)
	}
}

func (w *workers) loop(fn func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(workerIdle)
		select {
		case fn = <-w.tasks:
		case <-idle.C:
			return
		}
	}
}
