package controllerplugin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faasedge/faasedge/p2p/ring"
)

// metrics are the gateway's Prometheus series, labelled by virtual
// invoker. Each engine keeps its own invoker_* series on its own registry.
type metrics struct {
	reg        *prometheus.Registry
	advertised *prometheus.GaugeVec
	backed     *prometheus.GaugeVec
	claims     *prometheus.CounterVec
	lost       *prometheus.CounterVec
	reclaims   *prometheus.CounterVec
	reruns     *prometheus.CounterVec
	runSeconds *prometheus.HistogramVec
	schedMsgs  *prometheus.CounterVec
	schedPeers *prometheus.CounterVec
	schedTime  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		advertised: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faasedge_gateway_capacity_advertised_mb", Help: "Memory a virtual invoker advertises to the controller.",
		}, []string{"invoker"}),
		backed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "faasedge_gateway_capacity_backed_mb", Help: "Memory a virtual invoker holds in claims on edge offers.",
		}, []string{"invoker"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_claims_total", Help: "Claims on edge offers, by result (granted, failed).",
		}, []string{"invoker", "result"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_claims_lost_total", Help: "Claims dropped because their supplier failed or left.",
		}, []string{"invoker"}),
		reclaims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_reclaims_total", Help: "Claims granted to replace lost ones.",
		}, []string{"invoker"}),
		reruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_reruns_total", Help: "Activations run again on another edge node after their first node failed.",
		}, []string{"invoker"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faasedge_gateway_remote_run_seconds", Help: "Remote run latency, from sending the run to its answer, by outcome (ok, failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
		}, []string{"invoker", "outcome"}),
		schedMsgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_schedule_messages_total", Help: "Messages the ring's scheduling sent to claim edge memory, by kind (discovery: DHT lookups and finds; deploy: claims).",
		}, []string{"invoker", "kind"}),
		schedPeers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasedge_gateway_schedule_peers_total", Help: "Distinct peers each scheduling sent a find or a claim, summed over schedulings.",
		}, []string{"invoker"}),
		schedTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "faasedge_gateway_schedule_seconds", Help: "Time from a scheduling's start to its granted claim (or to giving up), by result (granted, failed).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 12),
		}, []string{"invoker", "result"}),
	}
	m.reg.MustRegister(m.advertised, m.backed, m.claims, m.lost, m.reclaims, m.reruns, m.runSeconds, m.schedMsgs, m.schedPeers, m.schedTime)
	return m
}

// invokerMetrics are one virtual invoker's series.
type invokerMetrics struct {
	backed     prometheus.Gauge
	claims     *prometheus.CounterVec
	lost       prometheus.Counter
	reclaims   prometheus.Counter
	reruns     prometheus.Counter
	runSeconds prometheus.ObserverVec
	schedMsgs  *prometheus.CounterVec
	schedPeers prometheus.Counter
	schedTime  prometheus.ObserverVec
}

func (m *metrics) forInvoker(id, capacityMB int) *invokerMetrics {
	l := prometheus.Labels{"invoker": strconv.Itoa(id)}
	m.advertised.With(l).Set(float64(capacityMB))
	return &invokerMetrics{
		backed:     m.backed.With(l),
		claims:     m.claims.MustCurryWith(l),
		lost:       m.lost.With(l),
		reclaims:   m.reclaims.With(l),
		reruns:     m.reruns.With(l),
		runSeconds: m.runSeconds.MustCurryWith(l),
		schedMsgs:  m.schedMsgs.MustCurryWith(l),
		schedPeers: m.schedPeers.With(l),
		schedTime:  m.schedTime.MustCurryWith(l),
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
