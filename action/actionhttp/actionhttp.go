// Package actionhttp adapts the Go SDK's outbound HTTP (action.Fetch) to
// net/http, for actions that want an http.Client or a library that takes
// one. It costs about 2 MB of wasm more than action.Fetch.
package actionhttp

import (
	"bytes"
	"io"
	"net/http"

	"github.com/faasedge/faasedge/action"
)

// Transport is an http.RoundTripper over action.Fetch: the action's
// allow-list and budgets apply, and its errors match action's sentinels
// (ErrNotAllowed, ErrTimeout, ...) with errors.Is. http.Client follows
// redirects, each hop checked against the allow-list.
type Transport struct{}

// RoundTrip implements http.RoundTripper.
func (Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	resp, err := action.Fetch(action.Request{Method: req.Method, URL: req.URL.String(), Header: req.Header, Body: body})
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status: http.StatusText(resp.Status), StatusCode: resp.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)), Request: req,
	}, nil
}

// Client returns an http.Client over Transport.
func Client() *http.Client { return &http.Client{Transport: Transport{}} }
