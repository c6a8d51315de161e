package executor

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
)

// reportP50 runs f b.N times and reports the median in microseconds.
func reportP50(b *testing.B, f func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		f()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
}

// BenchmarkSDKWarm is a warm activation of the Go SDK's test action
// answering typed parameters: built as a reactor (the pooled instance is
// reused) and, from the same source, as a command (a fresh instance and Go
// runtime start per activation).
func BenchmarkSDKWarm(b *testing.B) {
	for _, m := range []testModule{goSDKReactor, goSDKCommand} {
		b.Run(m.kind.String(), func(b *testing.B) {
			e := newExecutor(b, WithKeyValue(openPebble(b)), WithPublisher(nopPublisher{}))
			a := benchAction(b, m, "0.0.1")
			a.Capabilities = activation.CapabilitiesOf(allGranted("example.com"))
			mustRun(b, e, a, `{"name":"World"}`)
			reportP50(b, func() { mustRun(b, e, a, `{"name":"World"}`) })
		})
	}
}

// BenchmarkHostHTTP is one GET to a loopback server: from Go natively,
// and from the SDK action through the host import (the activation's own
// cost, measured with a greeting-only run, is reported apart so the
// added latency is the difference).
func BenchmarkHostHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("pong"))
	}))
	b.Cleanup(srv.Close)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	b.Run("native-go", func(b *testing.B) {
		c := &http.Client{}
		reportP50(b, func() {
			resp, err := c.Get(srv.URL + "/ping")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	})
	e := newExecutor(b, WithKeyValue(openPebble(b)), WithPublisher(nopPublisher{}))
	a := benchAction(b, goSDKReactor, "0.0.1")
	a.Capabilities = activation.CapabilitiesOf(allGranted("127.0.0.1:" + port))
	for name, value := range map[string]string{
		"activation-only":      `{"name":"World"}`,
		"activation-with-http": httpParams("GET", srv.URL+"/ping", ""),
	} {
		b.Run(name, func(b *testing.B) {
			res := mustRun(b, e, a, value)
			if name == "activation-with-http" && string(res.Response.Result) != `{"status":200,"body":"pong"}` {
				b.Fatalf("%s", res.Response.Result)
			}
			reportP50(b, func() { mustRun(b, e, a, value) })
		})
	}
}
