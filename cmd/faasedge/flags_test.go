package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

// parseAs parses args as the command name does, into its options *T.
func parseAs[T any](t *testing.T, name string, args ...string) (*T, []string) {
	t.Helper()
	var stderr bytes.Buffer
	o, pos, err := lookup(name).parse(args, &stderr)
	if err != nil {
		t.Fatal(err, stderr.String())
	}
	return any(o).(*T), pos
}

// TestFlagSpellings: -name, --name and --name=value all set a flag, before,
// between and after positional arguments, as the flag package took them.
func TestFlagSpellings(t *testing.T) {
	n, _ := parseAs[nodeOptions](t, "node", "-memory", "512", "--vnodes=4", "--peer", "/a", "-peer=/b")
	if n.memoryMB != 512 || n.vnodes != 4 || !slices.Equal(n.host.peers, []string{"/a", "/b"}) {
		t.Fatalf("memory %d, vnodes %d, peers %q", n.memoryMB, n.vnodes, n.host.peers)
	}
	if i, pos := parseAs[ipfsOptions](t, "ipfs", "-Q", "add", "--cid-version", "1", "file", "-timeout=5s"); !i.quiet || i.cidVersion != 1 || i.timeout.Seconds() != 5 || !slices.Equal(pos, []string{"add", "file"}) {
		t.Fatalf("options %+v, positional %q", i, pos)
	}
}

// TestSizeFlags: sizes take OpenWhisk's configuration syntax; one that
// does not parse is a usage error naming the flag.
func TestSizeFlags(t *testing.T) {
	s, _ := parseAs[standaloneOptions](t, "standalone", "--user-memory", "1g", "--edge-memory", "512m", "--compile-disk", "100MB")
	if s.memory != size(whisk.GB) || s.edgeMemory != size(512*whisk.MB) || s.compile.disk != size(100e6) {
		t.Fatalf("user memory %d, edge memory %d, compile disk %d", s.memory, s.edgeMemory, s.compile.disk)
	}
	var stderr bytes.Buffer
	if code := runMain([]string{"standalone", "--user-memory", "lots"}, &stderr, &stderr); code != 2 || !strings.Contains(stderr.String(), `invalid value "lots" for flag -user-memory: invalid size "lots"`) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestEnvDefaults: the stock deployment's variables give the invoker's
// flags their defaults; the command line overrides them, and adds to a
// repeated flag's comma list. A value the flag refuses names the variable
// (exit code 1, as the stock environment's errors).
func TestEnvDefaults(t *testing.T) {
	t.Setenv("FAASEDGE_PEERS", " /a, /b ,")
	t.Setenv("FAASEDGE_REDIS", "redis://127.0.0.1:1")
	t.Setenv("FAASEDGE_COMPILE_DISK", "1g")
	t.Setenv("FAASEDGE_DATA_DIR", "/from/env")
	inv, _ := parseAs[invokerOptions](t, "invoker", "--id", "0", "--peer", "/c", "--data-dir", "/from/flag")
	if !slices.Equal(inv.node.peers, []string{"/a", "/b", "/c"}) || inv.redis != "redis://127.0.0.1:1" ||
		inv.compile.disk != size(whisk.GB) || inv.node.dataDir != "/from/flag" || len(inv.node.listen) != 0 {
		t.Fatalf("peers %q, redis %q, compile disk %d, data dir %q, listen %q", inv.node.peers, inv.redis, inv.compile.disk, inv.node.dataDir, inv.node.listen)
	}

	t.Setenv("FAASEDGE_COMPILE_CONCURRENCY", "many")
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"invoker", "--id", "0"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), `FAASEDGE_COMPILE_CONCURRENCY: "many"`) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestUsage: -h lists every flag as --name (-x for one letter) with its
// type, the variable that sets it and its default, and exits 0.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"standalone", "-h"}, []string{"usage: faasedge standalone [flags]", "\n  --compile-disk size\n", "(default 2048m)", "\n  --addr string\n", `(default "127.0.0.1:3233")`, "\n  --log-level level\n"}},
		{[]string{"invoker", "--help"}, []string{"\n  --peer multiaddr\n", "($FAASEDGE_PEERS, comma-separated)", "($FAASEDGE_COMPILE_CONCURRENCY) (default 1)"}},
		{[]string{"ipfs", "-h"}, []string{"usage: faasedge ipfs <subcommand>", "\n  -Q\n", "\n  --cid-version int\n"}},
	} {
		var stdout, stderr bytes.Buffer
		code := runMain(tc.args, &stdout, &stderr)
		for _, w := range tc.want {
			if code != 0 || !strings.Contains(stderr.String(), w) {
				t.Errorf("%q: exit %d, usage lacks %q:\n%s", tc.args, code, w, stderr.String())
			}
		}
	}
}
