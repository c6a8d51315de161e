package invoker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the engine's Prometheus series, on a registry of its own so
// that several engines (virtual invokers) can live in one process.
type metrics struct {
	reg             *prometheus.Registry
	activations     *prometheus.CounterVec   // by status
	duration        *prometheus.HistogramVec // by start: cold, warm
	waitTime        prometheus.Histogram
	fetchTime       prometheus.Histogram // of activations that read mounted data
	fetchBytes      prometheus.Counter
	queued          prometheus.Gauge // waiting for memory
	running         prometheus.Gauge
	unparseable     prometheus.Counter
	kafkaErrors     *prometheus.CounterVec // by operation
	couchErrors     prometheus.Counter
	recordsPending  prometheus.Gauge
	recordsWritten  prometheus.Counter
	recordsRejected prometheus.Counter
	acks            *prometheus.CounterVec // by kind
	acksDropped     *prometheus.CounterVec // by kind, reason
	pingsWithheld   prometheus.Counter
	lockedArgs      prometheus.Counter // activations whose locked argument did not decrypt
	blacklisted     prometheus.Gauge
	blacklistErrors prometheus.Counter
}

func newMetrics(lag func() float64) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "invoker_kafka_lag", Help: "Messages on invoker{N} not yet taken."}, lag)
	latency := prometheus.ExponentialBuckets(0.0001, 4, 12)
	return &metrics{
		reg: reg,
		activations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "invoker_activations_total", Help: "Activations finished, by status.",
		}, []string{"status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "invoker_activation_duration_seconds", Help: "Activation duration (init and run), by cold or warm start.",
			Buckets: latency,
		}, []string{"start"}),
		waitTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "invoker_activation_wait_seconds", Help: "Time from the controller's transaction start to the start of the activation.",
			Buckets: latency,
		}),
		fetchTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "invoker_activation_fetch_seconds", Help: "Time activations that read mounted data (/ipfs, /data) waited for it: their fetchTime annotation.",
			Buckets: latency,
		}),
		fetchBytes:      f.NewCounter(prometheus.CounterOpts{Name: "invoker_activation_fetch_bytes_total", Help: "Bytes activations read from their data mounts (/ipfs, /data)."}),
		queued:          f.NewGauge(prometheus.GaugeOpts{Name: "invoker_queue_length", Help: "Activations waiting for memory."}),
		running:         f.NewGauge(prometheus.GaugeOpts{Name: "invoker_activations_running", Help: "Activations running."}),
		unparseable:     f.NewCounter(prometheus.CounterOpts{Name: "invoker_unparseable_messages_total", Help: "Kafka messages skipped because they are not activation messages."}),
		kafkaErrors:     f.NewCounterVec(prometheus.CounterOpts{Name: "invoker_kafka_errors_total", Help: "Kafka operations that failed and were retried, by operation."}, []string{"op"}),
		couchErrors:     f.NewCounter(prometheus.CounterOpts{Name: "invoker_couchdb_errors_total", Help: "Activation record writes that failed and were retried."}),
		recordsPending:  f.NewGauge(prometheus.GaugeOpts{Name: "invoker_records_pending", Help: "Activation records not yet written."}),
		recordsWritten:  f.NewCounter(prometheus.CounterOpts{Name: "invoker_records_written_total", Help: "Activation records written."}),
		recordsRejected: f.NewCounter(prometheus.CounterOpts{Name: "invoker_records_rejected_total", Help: "Activation records CouchDB refused."}),
		acks:            f.NewCounterVec(prometheus.CounterOpts{Name: "invoker_acks_total", Help: "Acknowledgements sent, by kind."}, []string{"kind"}),
		acksDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "invoker_acks_dropped_total", Help: "Acknowledgements not delivered within max.block.ms, by kind and reason (no_topic: the controller's completed topic does not exist; timeout: anything else).",
		}, []string{"kind", "reason"}),
		pingsWithheld: f.NewCounter(prometheus.CounterOpts{
			Name: "invoker_pings_withheld_total", Help: "Health pings not sent because the last ack was dropped and a retry of it failed too.",
		}),
		lockedArgs:      f.NewCounter(prometheus.CounterOpts{Name: "invoker_locked_argument_failures_total", Help: "Activations ended with a whisk error because a locked argument did not decrypt."}),
		blacklisted:     f.NewGauge(prometheus.GaugeOpts{Name: "invoker_blacklisted_namespaces", Help: "Namespaces in the last blacklist read."}),
		blacklistErrors: f.NewCounter(prometheus.CounterOpts{Name: "invoker_blacklist_errors_total", Help: "Blacklist refreshes that failed; the last list was kept."}),
	}
}
