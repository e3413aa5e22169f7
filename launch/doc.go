// Package launch starts and stops the servers of a cluster file on this
// machine: what `obctl cluster up|down|status|start|stop` do. It runs
// `observer -c FILE --server NAME` processes and tracks them with pid files;
// it knows nothing of the servers' protocol (whether a server answers is
// decided by an injected probe).
//
// # Contract
//
//   - Up and Start start each server that is not running as a background
//     process in its own session (setsid: its own process group, no
//     controlling terminal), so it outlives obctl, Ctrl-C in obctl's terminal
//     and the terminal itself. Its working directory is its data_dir; stdout
//     and stderr are appended to <data_dir>/observer.log (each start writes a
//     marker line first); its pid goes to <data_dir>/observer.pid (written to
//     a temporary file and renamed, so a reader never sees half a pid) after
//     the process has started.
//   - Up and Start then poll (Options.PollInterval) until every server, also
//     those already running, answers Options.Probe, each call bounded by
//     Options.ProbeTimeout; ctx bounds the whole wait and never the servers'
//     lives. A server that exits first fails the call with ErrExited and the
//     tail of its log; servers already started keep running.
//   - A pid file is trusted only if /proc/<pid>/cmdline shows a live process
//     with --server NAME (or -server NAME, --server=NAME) for that server.
//     Otherwise it is stale: removed, reported as EventStalePID and the
//     server counts as stopped. So a recycled pid is never signalled.
//   - Up, Start, Down and Stop refuse (ErrOtherCluster) a server whose
//     data_dir's SERVER file (written by the observer at its first start)
//     names another cluster: a second cluster file sharing data_dirs with a
//     running cluster would otherwise stop that cluster's observers.
//   - Down and Stop send SIGTERM (Stop with kill: SIGKILL), wait up to
//     Options.StopTimeout for the process to exit, then send SIGKILL with an
//     EventKilled warning, and remove the pid file once the process is gone.
//     ctx bounds the wait: when it ends first they return ErrStillRunning and
//     leave the pid files of the survivors.
//   - Status never signals and never waits; it only removes stale pid files.
//   - Progress events are delivered synchronously on the calling goroutine.
//
// Nothing serialises two obctl processes working on the same cluster at
// once; observer's own lock on its data_dir is what prevents two servers
// over one directory. Linux only: without /proc no pid file is trusted
// (proc_other.go), so nothing is ever signalled.
package launch
