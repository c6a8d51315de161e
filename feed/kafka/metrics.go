package kafka

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the provider's Prometheus series, on a registry of its own
// so that a standalone stack can hold the provider beside other parts.
type metrics struct {
	reg      *prometheus.Registry
	fired    prometheus.Counter     // messages delivered in 2xx fires
	fires    *prometheus.CounterVec // fire attempts by status code ("error": no answer)
	fireTime prometheus.Histogram   // one fire attempt
}

// newMetrics registers the series; inState counts the consumers whose
// current state is the given one.
func newMetrics(inState func(string) float64) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "kafkafeed_consumers_running", Help: "Triggers whose consumer is assigned its partitions and firing."},
		func() float64 { return inState(stateRunning) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "kafkafeed_consumers_initializing", Help: "Triggers whose consumer is starting or waiting for its topic or brokers."},
		func() float64 { return inState(stateInitializing) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "kafkafeed_consumers_disabled", Help: "Disabled triggers assigned to this worker."},
		func() float64 { return inState(stateDisabled) })
	return &metrics{
		reg: reg,
		fired: f.NewCounter(prometheus.CounterOpts{
			Name: "kafkafeed_messages_fired_total", Help: "Messages delivered to triggers by fires answered with a 2xx.",
		}),
		fires: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kafkafeed_fires_total", Help: "Trigger fire attempts, by HTTP status code (\"error\" when there was no answer).",
		}, []string{"code"}),
		fireTime: f.NewHistogram(prometheus.HistogramOpts{
			Name: "kafkafeed_fire_duration_seconds", Help: "Duration of one trigger fire attempt.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
	}
}

func (m *metrics) observeFire(code int, err error, d time.Duration) {
	label := strconv.Itoa(code)
	if err != nil {
		label = "error"
	}
	m.fires.WithLabelValues(label).Inc()
	m.fireTime.Observe(d.Seconds())
}
