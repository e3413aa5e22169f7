# Sourced by the other scripts: where the measurement cluster lives.
# PERF_DIR (default /tmp/perf) holds c.yaml (a copy of examples/cluster-3.yaml on ports
# 2985x/2986x, cluster perf-3, data in $PERF_DIR/data) and wb/ (obctl, and an observer
# wrapper that adds --pprof 127.0.0.1:606N for server sN).
P=${PERF_DIR:-/tmp/perf}
C=$P/c.yaml
W=$P/wb
