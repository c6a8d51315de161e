package controllerplugin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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
	}
	m.reg.MustRegister(m.advertised, m.backed, m.claims, m.lost, m.reclaims, m.reruns, m.runSeconds)
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
	}
}
