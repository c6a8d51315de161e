package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestKafkaFeedUsage checks the provider's start-up errors: upstream's
// variables are named, and nothing is started without them.
func TestKafkaFeedUsage(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no DB_URL", nil, nil, 2, "DB_URL is required"},
		{"no API_HOST", map[string]string{"DB_URL": "http://127.0.0.1:1"}, nil, 2, "API_HOST (or --api-host) is required"},
		{"bad PAYLOAD_LIMIT", map[string]string{"DB_URL": "http://127.0.0.1:1", "PAYLOAD_LIMIT": "lots"}, nil, 1, `PAYLOAD_LIMIT="lots" is not a positive number of bytes`},
		{"catalog without key", map[string]string{"DB_URL": "http://127.0.0.1:1", "API_HOST": "127.0.0.1:1"}, []string{"--install-catalog"}, 2, "--install-catalog needs --auth"},
		{"extra argument", map[string]string{"DB_URL": "http://127.0.0.1:1", "API_HOST": "127.0.0.1:1"}, []string{"now"}, 2, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"DB_URL", "DB_USER", "DB_PASS", "DB_PREFIX", "API_HOST", "LOCAL_DEV", "PAYLOAD_LIMIT", "WORKER", "PORT", "CATALOG_AUTH"} {
				t.Setenv(k, tt.env[k])
			}
			var stdout, stderr bytes.Buffer
			if code := runMain(append([]string{"kafkafeed"}, tt.args...), &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
		})
	}
}
