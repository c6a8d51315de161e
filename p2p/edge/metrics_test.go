package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
)

// TestCollectorCountsProtocolBytes sends a known number of bytes on a
// test protocol between two nodes: the sender's metrics count exactly
// them (and multistream-select's header) out on that protocol, the
// receiver's exactly them in, and the
// totals count at least them.
func TestCollectorCountsProtocolBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const proto, size = "/faasedge-test/bytes/1.0.0", 123457
	recv := start(t, edge.Config{})
	got := make(chan int64, 1)
	recv.Host().SetStreamHandler(proto, func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Close()
		got <- n
	})
	send := start(t, edge.Config{Host: p2p.Config{Bootstrap: recv.Host().FullAddrs()}})
	s, err := send.Host().NewStream(ctx, recv.Host().ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != size {
		t.Fatalf("received %d bytes, sent %d", n, size)
	}
	s.Close()

	// The sender's first write carries multistream-select's proposal
	// (libp2p negotiates lazily), each line a length byte and the text:
	// counted on the stream's protocol too.
	header := int64(1+len("/multistream/1.0.0\n")) + int64(1+len(proto+"\n"))
	for _, tc := range []struct {
		node *edge.Node
		dir  string
		want int64
	}{{send, "out", size + header}, {recv, "in", size}} {
		// libp2p's meters fold what streams wrote into their totals about
		// once a second.
		key := `faasedge_p2p_stream_bytes_total{direction="` + tc.dir + `",protocol="` + proto + `"}`
		testenv.WaitFor(t, 30*time.Second, "the stream's bytes counted", func() bool { return scrape(t, tc.node)[key] > 0 })
		m := scrape(t, tc.node)
		if v := m[`faasedge_p2p_stream_bytes_total{direction="`+tc.dir+`",protocol="`+proto+`"}`]; v != float64(tc.want) {
			t.Errorf("%s: %v bytes on %s, want %d", tc.dir, v, proto, tc.want)
		}
		if v := m[`faasedge_p2p_bytes_total{direction="`+tc.dir+`"}`]; v < size {
			t.Errorf("%s: %v bytes in all, want at least %d", tc.dir, v, size)
		}
	}
	if m := scrape(t, recv); m["faasedge_edge_runs_total"] != 0 || len(m) == 0 {
		t.Errorf("a node that supplies nothing reports runs: %v", m)
	}
}

// scrape reads a node's /metrics as `faasedge node --metrics` serves it
// (MetricsHandler), keyed by series. The scrape must succeed: a series
// collected twice fails it; and its collector must collect what it
// describes, as a pedantic registry checks.
func scrape(t *testing.T, n *edge.Node) map[string]float64 {
	t.Helper()
	pedantic := prometheus.NewPedanticRegistry()
	pedantic.MustRegister(n.Collector())
	if _, err := pedantic.Gather(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				key += "{" + strings.Join(ls, ",") + "}"
			}
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}
