package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// TestStandalonePortInUse: an API address that is taken is a one-line
// error and exit code 1, not a panic.
func TestStandalonePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"standalone", "--addr", ln.Addr().String(), "--data-dir", t.TempDir(), "--edge-nodes", "0"}, &stdout, &stderr)
	out := stderr.String()
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "address already in use") || strings.Contains(out, "panic") {
		t.Fatalf("exit %d, stderr:\n%s", code, out)
	}
}

// TestStandaloneCompileBudgetFlags: a compile budget that does not parse
// is a usage error (exit code 2) naming the flag.
func TestStandaloneCompileBudgetFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"standalone", "--data-dir", t.TempDir(), "--compile-disk", "lots"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--compile-disk") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
