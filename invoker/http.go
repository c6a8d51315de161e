package invoker

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faasedge/faasedge/internal/httpserve"
)

// HTTPLimits bound the invoker's HTTP connections. Its endpoints take no
// body and answer at once, so reading a request gets 10 s and writing a
// response 30 s; headers are capped at 8 KB as pekko-http caps them.
var HTTPLimits = httpserve.Limits{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, MaxHeaderBytes: 8 << 10}

// maxBodyBytes bounds a request body: the endpoints read none.
const maxBodyBytes = 1 << 10

// Handler serves the stock invoker's endpoints (DefaultInvokerServer):
// GET /ping, GET /metrics, and, behind basic auth, POST /enable,
// POST /disable and GET /isEnabled with the stock texts.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write([]byte("pong"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /enable", e.auth(func(w http.ResponseWriter, r *http.Request) {
		e.toggle(w, r, true)
	}))
	mux.HandleFunc("POST /disable", e.auth(func(w http.ResponseWriter, r *http.Request) {
		e.toggle(w, r, false)
	}))
	mux.HandleFunc("GET /isEnabled", e.auth(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]bool{"enabled": e.Enabled()})
	}))
	return http.MaxBytesHandler(mux, maxBodyBytes)
}

func (e *Engine) toggle(w http.ResponseWriter, r *http.Request, on bool) {
	state := "disabled"
	if on {
		state = "enabled"
	}
	text := e.id.String() + " is already " + state + "."
	if e.SetEnabled(r.Context(), on) {
		text = e.id.String() + " is now " + state + "."
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write([]byte(text))
}

func (e *Engine) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(e.cfg.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(e.cfg.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="invoker"`)
			http.Error(w, "The supplied authentication is invalid", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}
