package controllerplugin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/faasedge/faasedge/p2p/ring"
)

// metrics are the gateway's Prometheus series, labelled by virtual
// invoker. Each engine keeps its own invoker_* series on its own registry.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics() *metrics { return &metrics{reg: prometheus.NewRegistry()} }

// invokerMetrics are one virtual invoker's series.
type invokerMetrics struct {
	backed     prometheus.Gauge
	claims     *prometheus.CounterVec
	lost       prometheus.Counter
	reclaims   prometheus.Counter
	reruns     prometheus.Counter
	runSeconds *prometheus.HistogramVec
	schedMsgs  *prometheus.CounterVec
	schedPeers prometheus.Counter
	schedTime  *prometheus.HistogramVec
}

// forInvoker registers virtual invoker id's series: each carries the
// label invoker="id", which the registry adds to every series registered
// through it, so the series of all virtual invokers share their names.
func (m *metrics) forInvoker(id, capacityMB int) *invokerMetrics {
	f := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"invoker": strconv.Itoa(id)}, m.reg))
	f.NewGauge(prometheus.GaugeOpts{
		Name: "faasedge_gateway_capacity_advertised_mb", Help: "Memory a virtual invoker advertises to the controller.",
	}).Set(float64(capacityMB))
	latency := prometheus.ExponentialBuckets(0.0005, 3, 12)
	return &invokerMetrics{
		backed: f.NewGauge(prometheus.GaugeOpts{
			Name: "faasedge_gateway_capacity_backed_mb", Help: "Memory a virtual invoker holds in claims on edge offers.",
		}),
		claims: f.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_claims_total", Help: "Claims on edge offers, by result (granted, failed).",
		}, []string{"result"}),
		lost: f.NewCounter(prometheus.CounterOpts{
			Name: "faasedge_gateway_claims_lost_total", Help: "Claims dropped because their supplier failed or left.",
		}),
		reclaims: f.NewCounter(prometheus.CounterOpts{
			Name: "faasedge_gateway_reclaims_total", Help: "Claims granted to replace lost ones.",
		}),
		reruns: f.NewCounter(prometheus.CounterOpts{
			Name: "faasedge_gateway_reruns_total", Help: "Activations run again on another edge node after their first node failed.",
		}),
		runSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faasedge_gateway_remote_run_seconds", Help: "Remote run latency, from sending the run to its answer, by outcome (ok, failed).",
			Buckets: latency,
		}, []string{"outcome"}),
		schedMsgs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_schedule_messages_total", Help: "Messages the ring's scheduling sent to claim edge memory, by kind (discovery: DHT lookups and finds; deploy: claims).",
		}, []string{"kind"}),
		schedPeers: f.NewCounter(prometheus.CounterOpts{
			Name: "faasedge_gateway_schedule_peers_total", Help: "Distinct peers each scheduling sent a find or a claim, summed over schedulings.",
		}),
		schedTime: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faasedge_gateway_schedule_seconds", Help: "Time from a scheduling's start to its granted claim (or to giving up), by result (granted, failed).",
			Buckets: latency,
		}, []string{"result"}),
	}
}

// scheduled counts one scheduling's messages, peers and time.
func (m *invokerMetrics) scheduled(st ring.Stats, err error) {
	result := "granted"
	if err != nil {
		result = "failed"
	}
	m.schedMsgs.WithLabelValues("discovery").Add(float64(st.DiscoveryMessages))
	m.schedMsgs.WithLabelValues("deploy").Add(float64(st.DeployMessages))
	m.schedPeers.Add(float64(st.Peers))
	m.schedTime.WithLabelValues(result).Observe(st.Deployment.Seconds())
}
