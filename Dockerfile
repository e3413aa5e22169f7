# The obkv observer image: FROM scratch, so it builds with no registry access.
# Build the static binaries on the host first, then the image:
#
#   CGO_ENABLED=0 go build -o build/ ./cmd/observer ./cmd/obctl && docker build -t obkv .
#
# Run one server of a cluster file (see docker-compose.yml and docs/faults.md):
#
#   docker run -v $PWD/cluster.yaml:/etc/obkv/cluster.yaml:ro obkv -c /etc/obkv/cluster.yaml --server s1
#
# The image has no shell, libc or CA bundle: observer and obctl are static Go binaries and need none.
FROM scratch
COPY build/observer build/obctl /usr/local/bin/
# Data dirs in cluster files for containers live under /data (a volume in docker-compose.yml).
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/observer"]
