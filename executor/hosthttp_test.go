package executor

import (
	"strings"
	"testing"
)

func TestHostPattern(t *testing.T) {
	tests := []struct {
		pattern    string
		host, port string
		want       bool
	}{
		{"api.example.com", "api.example.com", "443", true},
		{"API.Example.com.", "api.example.com", "80", true},
		{"api.example.com", "example.com", "443", false},
		{"*.example.com", "a.b.example.com", "443", true},
		{"*.example.com", "example.com", "443", false},
		{"*.example.com", "evilexample.com", "443", false},
		{"127.0.0.1:8080", "127.0.0.1", "8080", true},
		{"127.0.0.1:8080", "127.0.0.1", "8081", false},
		{"[::1]:80", "::1", "80", true},
		{"[::1]", "::1", "9", true},
		{"*", "anything.at.all", "1", true},
		{"*:443", "x.org", "443", true},
		{"*:443", "x.org", "80", false},
	}
	for _, tt := range tests {
		p, err := parseHostPattern(tt.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tt.pattern, err)
		}
		if got := p.match(tt.host, tt.port); got != tt.want {
			t.Errorf("%q matches %s:%s = %v, want %v", tt.pattern, tt.host, tt.port, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a.com/x", "user@a.com", "a.com:0", "a.com:99999", "*.", "a*.com", "a b.com"} {
		if _, err := parseHostPattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzHostPattern parses any allow-list entry (a user writes them): never
// a panic, and an accepted pattern matches its own host.
func FuzzHostPattern(f *testing.F) {
	for _, s := range []string{"a.com", "*.a.com", "127.0.0.1:80", "[::1]:443", "*", "*:8080", "a.com/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseHostPattern(s)
		if err != nil || p.wildcard {
			return
		}
		if p.port == "" && !p.match(p.host, "80") {
			t.Fatalf("%q does not match its host %q", s, p.host)
		}
		if strings.ContainsAny(p.host, "/@ ") {
			t.Fatalf("%q accepted with host %q", s, p.host)
		}
	})
}
