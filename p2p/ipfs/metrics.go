package ipfs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// How a fetch got its DAG: from the local store, by a CAR stream from one
// peer, or by bitswap (after any stream attempt failed).
const (
	methodLocal   = "local"
	methodStream  = "stream"
	methodBitswap = "bitswap"
)

// metrics are the node's fetch series, on a registry of its own that the
// process exposing them adds to its /metrics.
type metrics struct {
	reg         *prometheus.Registry
	fetches     *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	streamBytes prometheus.Counter
	fallbacks   *prometheus.CounterVec
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	return &metrics{
		reg: reg,
		fetches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_ipfs_fetches_total", Help: "Files fetched by CID, by how they were got (local, stream, bitswap).",
		}, []string{"method"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_ipfs_fetch_bytes_total", Help: "Bytes of the files fetched by CID, by how they were got (local, stream, bitswap).",
		}, []string{"method"}),
		streamBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "faasedge_ipfs_stream_block_bytes_total", Help: "Bytes of the blocks received and verified on CAR streams, failed streams included.",
		}),
		fallbacks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_ipfs_stream_fallbacks_total",
			Help: "CAR stream attempts that failed, so the fetch went on with another peer or bitswap, by reason (not_held, busy, stalled, refused, failed).",
		}, []string{"reason"}),
	}
}

// fallbackReason is the label of a failed stream: the peer said it has
// not the DAG or is busy; it stopped sending; it sent something refused (a
// tampered, unexpected, oversize or malformed block); or the stream failed
// otherwise (reset, truncated, unreachable).
func fallbackReason(err error) string {
	switch {
	case errors.Is(err, ErrNotHeld):
		return "not_held"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.Is(err, ErrHashMismatch), errors.Is(err, ErrUnexpected), errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrMalformed):
		return "refused"
	}
	return "failed"
}

// Metrics is the node's fetch metrics (faasedge_ipfs_*), to register on the
// registry a process serves at /metrics.
func (n *Node) Metrics() prometheus.Collector { return n.metrics.reg }
