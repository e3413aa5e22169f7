package api

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestFillBatch: a batch takes what is queued until its message count or BatchBytes, so that
// large messages (a replica catching up, 4 MiB values) never make a gRPC message over
// MaxMessageBytes, which would fail the stream and everything batched in it.
func TestFillBatch(t *testing.T) {
	envelope := func(dataBytes int) *Envelope {
		return &Envelope{Partition: 1, Msg: &PaxosMessage{Entries: []*Entry{{Index: 1, Data: make([]byte, dataBytes)}}}}
	}
	queue := make(chan *Envelope, 64)
	for range 40 {
		queue <- envelope(1 << 20)
	}
	var total int
	for len(queue) > 0 {
		batch := FillBatch([]*Envelope{<-queue}, queue, 1024)
		size := 0
		for _, e := range batch {
			size += proto.Size(e)
		}
		if size >= BatchBytes+(2<<20) || len(batch) > 5 {
			t.Fatalf("a batch of %d envelopes of 1 MiB: %d bytes, want it to stop at BatchBytes %d", len(batch), size, BatchBytes)
		}
		total += len(batch)
	}
	if total != 40 {
		t.Fatalf("batches carried %d envelopes, want the 40 queued", total)
	}

	for range 30 {
		queue <- envelope(10)
	}
	if batch := FillBatch([]*Envelope{<-queue}, queue, 8); len(batch) != 8 {
		t.Fatalf("a batch of small envelopes has %d, want the maximum 8", len(batch))
	}
	if batch := FillBatch([]*Envelope{envelope(8 << 20)}, queue, 8); len(batch) != 1 {
		t.Fatalf("a batch whose first envelope is over BatchBytes has %d, want it alone", len(batch))
	}
}
