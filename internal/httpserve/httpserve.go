// Package httpserve builds the project's HTTP servers with every phase of
// a connection bounded: a client that trickles its headers or body, never
// reads the response, or idles holds a connection only until a timeout.
// Request bodies are bounded by each route, which knows its own limit.
package httpserve

import (
	"net/http"
	"time"
)

// Limits bound one server's connections. Zero fields take the defaults.
type Limits struct {
	// ReadHeader bounds reading the request line and headers (10 s).
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included (2 min: a
	// 50 MB action upload at 0.5 MB/s).
	Read time.Duration
	// Write bounds the time from the end of the headers to the end of the
	// response (2 min: above the 60 s of a blocking invoke).
	Write time.Duration
	// Idle bounds a keep-alive connection between requests (2 min).
	Idle time.Duration
	// MaxHeaderBytes bounds the request line and headers (64 KiB); the
	// controller caps single header values further, as stock's 8 KB.
	MaxHeaderBytes int
}

func (l Limits) withDefaults() Limits {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&l.ReadHeader, 10 * time.Second}, {&l.Read, 2 * time.Minute}, {&l.Write, 2 * time.Minute}, {&l.Idle, 2 * time.Minute}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	return l
}

// Server is an http.Server for h with the limits l.
func Server(h http.Handler, l Limits) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}
