package standalone

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// BenchmarkInvokeBlocking measures one blocking invocation through the
// whole stack (REST API, Kafka, invoker, wazero, activation record), on the
// embedded document store and on pouchdb-server.
func BenchmarkInvokeBlocking(b *testing.B) {
	for _, backend := range []string{"embedded", "pouchdb"} {
		b.Run(backend, func(b *testing.B) {
			var cfg Config
			if backend == "pouchdb" {
				cfg.CouchURL = testenv.StartPouchDB(b).URL
			}
			s, _ := benchStack(b, cfg)
			url := s.APIHost() + "/api/v1/namespaces/_/actions/echo?blocking=true&result=true"
			invoke := func() {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"n":1}`))
				req.SetBasicAuth(controller.GuestUUID, controller.GuestKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%d %s", resp.StatusCode, body)
				}
			}
			invoke() // compile and cache the module
			for b.Loop() {
				invoke()
			}
		})
	}
}
