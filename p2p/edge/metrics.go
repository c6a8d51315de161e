package edge

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Collector is the node's Prometheus series, read when scraped: the bytes
// of its libp2p streams by protocol and direction (libp2p's bandwidth
// counter, before encryption and multiplexing overhead), the bytes of all
// its connections, the runs it served and holds, what they waited for on
// their data mounts, and its code fetches (ipfs.Node.Metrics).
func (n *Node) Collector() prometheus.Collector { return collector{n} }

// MetricsHandler serves the node's series at /metrics, as `faasedge node
// --metrics` does: Collector, on a registry of its own. It is the one
// place the node's series meet, each collector registered once (its
// IPFS node's registry is part of Collector, never registered beside it,
// which would collect those series twice and fail every scrape).
func (n *Node) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector())
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	streamBytesDesc = prometheus.NewDesc("faasedge_p2p_stream_bytes_total",
		"Bytes of libp2p streams by protocol and direction (in, out).", []string{"protocol", "direction"}, nil)
	totalBytesDesc = prometheus.NewDesc("faasedge_p2p_bytes_total",
		"Bytes of every libp2p stream by direction, those not yet negotiated a protocol included.", []string{"direction"}, nil)
	runsDesc = prometheus.NewDesc("faasedge_edge_runs_total",
		"Activations this node ran.", nil, nil)
	inFlightDesc = prometheus.NewDesc("faasedge_edge_runs_in_flight",
		"Activations running on this node now.", nil, nil)
	fetchSecondsDesc = prometheus.NewDesc("faasedge_edge_fetch_seconds_total",
		"Time the activations run here waited for data from their mounts (/ipfs, /data).", nil, nil)
	fetchBytesDesc = prometheus.NewDesc("faasedge_edge_fetch_bytes_total",
		"Bytes the activations run here read from their mounts (/ipfs, /data).", nil, nil)
)

type collector struct{ n *Node }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- streamBytesDesc
	ch <- totalBytesDesc
	ch <- runsDesc
	ch <- inFlightDesc
	ch <- fetchSecondsDesc
	ch <- fetchBytesDesc
	c.n.code.Metrics().Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for proto, st := range c.n.bw.GetBandwidthByProtocol() {
		ch <- prometheus.MustNewConstMetric(streamBytesDesc, prometheus.CounterValue, float64(st.TotalIn), string(proto), "in")
		ch <- prometheus.MustNewConstMetric(streamBytesDesc, prometheus.CounterValue, float64(st.TotalOut), string(proto), "out")
	}
	t := c.n.bw.GetBandwidthTotals()
	ch <- prometheus.MustNewConstMetric(totalBytesDesc, prometheus.CounterValue, float64(t.TotalIn), "in")
	ch <- prometheus.MustNewConstMetric(totalBytesDesc, prometheus.CounterValue, float64(t.TotalOut), "out")
	if r := c.n.runner; r != nil {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.CounterValue, float64(r.Runs()))
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(r.InFlight()))
		f := r.Fetched()
		ch <- prometheus.MustNewConstMetric(fetchSecondsDesc, prometheus.CounterValue, f.Time.Seconds())
		ch <- prometheus.MustNewConstMetric(fetchBytesDesc, prometheus.CounterValue, float64(f.Bytes))
	}
	c.n.code.Metrics().Collect(ch)
}
