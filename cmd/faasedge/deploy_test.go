package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/internal/wasmtest"
)

// TestDeployAndGatewayUsage: command-line mistakes get exit code 2 and a
// line that says what is wrong, before any network is touched.
func TestDeployAndGatewayUsage(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notwasm.wasm")
	if err := os.WriteFile(text, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm := wasmtest.Path(t, wasmtest.WAT, "echo")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"deploy without scheduler", []string{"deploy", "f", wasm}, 2, "--scheduler is required"},
		{"deploy one argument", []string{"deploy", "--scheduler", "/ipns/x", "f"}, 2, "want NAME FILE.wasm"},
		{"deploy not wasm", []string{"deploy", "--scheduler", "/ip4/127.0.0.1/tcp/1", "f", text, "--memory", "256"}, 1, "is not a WebAssembly module"},
		{"deploy missing file", []string{"deploy", "--scheduler", "/ip4/127.0.0.1/tcp/1", "f", filepath.Join(dir, "nope.wasm")}, 1, "no such file"},
		{"deploy bad scheduler", []string{"deploy", "--scheduler", "/ip4/127.0.0.1/tcp/1", "f", wasm}, 1, "--scheduler"},
		{"deploy bad IPNS name", []string{"deploy", "--scheduler", "/ipns/nope", "f", wasm}, 1, "neither a multiaddr nor an IPNS name"},
		{"gateway without ids", []string{"gateway"}, 2, "--ids: required"},
		{"gateway bad range", []string{"gateway", "--ids", "11-8"}, 2, `"11-8" is not a range`},
		{"gateway bad id", []string{"gateway", "--ids", "8,x"}, 2, `"x" is not an invoker id`},
		{"gateway bad policy", []string{"gateway", "--ids", "8", "--policy", "random"}, 2, "unknown policy"},
		{"deploy help", []string{"deploy", "-h"}, 0, "usage: faasedge deploy --scheduler"},
		{"ipfs help", []string{"ipfs", "cat", "-h"}, 0, "usage: faasedge ipfs <subcommand>"},
		{"exec help", []string{"exec", "-h"}, 0, "usage: faasedge exec FILE.wasm"},
		{"exec two files", []string{"exec", wasm, "--memory", "128", wasm}, 2, "give either a FILE.wasm or --proxy"},
		{"new help", []string{"new", "-h"}, 0, "usage: faasedge new NAME"},
		{"new two names", []string{"new", "a", "--lang", "go", "b"}, 2, "want one NAME, got 2 arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := faasedge(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"8-11", []int{8, 9, 10, 11}},
		{"3", []int{3}},
		{"0,2, 5", []int{0, 2, 5}},
		{"4-4", []int{4}},
	} {
		got, err := parseIDs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseIDs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
