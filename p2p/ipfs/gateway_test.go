package ipfs

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faasedge/faasedge/p2p"
)

// trustlessGateway serves n's blocks with boxo's gateway handler on
// loopback; lie flips a byte of every block it sends.
func trustlessGateway(t *testing.T, n *Node, lie bool) string {
	t.Helper()
	backend, err := gateway.NewBlocksBackend(blockservice.New(n.store, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := gateway.NewHandler(gateway.Config{MetricsRegistry: prometheus.NewRegistry()}, backend)
	if lie {
		honest := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			honest.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)-1] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGatewayFallback(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	want := patternBytes("gateway", 600<<10)
	c, err := src.Add(ctx, bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("honest", func(t *testing.T) {
		// No peer has it: only the gateway can deliver.
		n := newNode(t, p2p.Config{}, WithGateway(trustlessGateway(t, src, false), 0))
		mustFetch(t, n, c.String(), want)
	})
	t.Run("lying", func(t *testing.T) {
		n := newNode(t, p2p.Config{}, WithGateway(trustlessGateway(t, src, true), 0))
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := n.Fetch(fctx, c.String())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline: every block was refused", err)
		}
		if s := n.store.Size(); s != 0 {
			t.Fatalf("%d bytes of refused blocks were stored", s)
		}
	})
}
