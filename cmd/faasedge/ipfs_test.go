package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/ipfstest"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p/ipfs"
)

// faasedge runs the binary's main with args and returns its exit code,
// stdout and stderr.
func faasedge(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := runMain(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// kuboCID reads the CID Kubo gives for a fixture input of p2p/ipfs.
func kuboCID(t *testing.T, input string, version string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "p2p", "ipfs", "testdata", "kubo-cids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 3 && fs[0] == input && fs[1] == version {
			return fs[2]
		}
	}
	t.Fatalf("no Kubo CID for %s v%s", input, version)
	return ""
}

func TestIPFSAddPrintsKuboCIDs(t *testing.T) {
	tmp := t.TempDir()
	text := filepath.Join(tmp, "text17")
	if err := os.WriteFile(text, []byte("hello, faasedge!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tmp, "data")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"quiet v0", []string{"-Q", text}, kuboCID(t, "text17", "0") + "\n"},
		{"quiet v1", []string{"-Q", "--cid-version", "1", text}, kuboCID(t, "text17", "1") + "\n"},
		{"flags after the file", []string{text, "--cid-version=1", "-Q"}, kuboCID(t, "text17", "1") + "\n"},
		{"verbose", []string{empty}, "added " + kuboCID(t, "empty", "0") + " empty\n"},
		{"empty v1", []string{"-Q", "--cid-version", "1", empty}, kuboCID(t, "empty", "1") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := faasedge(append([]string{"ipfs", "add", "--data-dir", data}, tt.args...)...)
			if code != 0 || out != tt.want {
				t.Fatalf("exit %d, stdout %q (want %q), stderr %s", code, out, tt.want, errOut)
			}
		})
	}
	// Added content is pinned.
	code, out, _ := faasedge("ipfs", "pin", "ls", "--data-dir", data)
	if code != 0 || !strings.Contains(out, kuboCID(t, "text17", "1")+" recursive") {
		t.Fatalf("pin ls: exit %d, %q", code, out)
	}
}

func TestIPFSGetCatPinFromPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, src := ipfstest.Source(ctx, t)
	want := bytes.Repeat([]byte("faasedge "), 100_000)
	c, err := src.Add(ctx, bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := h.FullAddrs()[0]
	data := t.TempDir()
	out := filepath.Join(t.TempDir(), "got")

	code, stdout, stderr := faasedge("ipfs", "cat", "--data-dir", data, "--peer", peer, c.String())
	if code != 0 || stdout != string(want) {
		t.Fatalf("cat: exit %d, %d bytes, stderr %s", code, len(stdout), stderr)
	}
	code, _, stderr = faasedge("ipfs", "get", "--data-dir", data, c.String(), "-o", out)
	if code != 0 {
		t.Fatalf("get (from the cache): exit %d, stderr %s", code, stderr)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get wrote %d bytes (err %v)", len(got), err)
	}
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"pin", "add", "--peer", peer, c.String()}, "pinned " + c.String() + "\n"},
		{[]string{"pin", "ls"}, c.String() + " recursive\n"},
		{[]string{"pin", "rm", c.String()}, "unpinned " + c.String() + "\n"},
		{[]string{"pin", "ls"}, ""},
	} {
		code, stdout, stderr := faasedge(append(append([]string{"ipfs"}, step.args...), "--data-dir", data)...)
		if code != 0 || stdout != step.want {
			t.Fatalf("%v: exit %d, stdout %q, want %q, stderr %s", step.args, code, stdout, step.want, stderr)
		}
	}
}

func TestIPFSBadInput(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no subcommand", []string{"ipfs"}, 2, "missing subcommand"},
		{"unknown subcommand", []string{"ipfs", "frob"}, 2, `unknown subcommand "frob"`},
		{"add without file", []string{"ipfs", "add"}, 2, "takes one FILE"},
		{"add missing file", []string{"ipfs", "add", filepath.Join(data, "nope")}, 1, "no such file"},
		{"add a directory", []string{"ipfs", "add", data}, 1, "is a directory"},
		{"bad cid version", []string{"ipfs", "add", "--cid-version", "2", "x"}, 2, "--cid-version 2: want 0 or 1"},
		{"malformed cid", []string{"ipfs", "cat", "not-a-cid"}, 1, `could not fetch not-a-cid: malformed CID "not-a-cid"`},
		{"unreachable", []string{"ipfs", "cat", "--timeout", "500ms", "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"}, 1,
			"could not fetch ipfs://bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom: no peer delivered it before the deadline"},
		{"pin rm unpinned", []string{"ipfs", "pin", "rm", "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"}, 1, "not pinned"},
		{"pin nothing", []string{"ipfs", "pin"}, 2, "ipfs pin takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 1 {
				args = append(args, "--data-dir", data)
			}
			code, _, stderr := faasedge(args...)
			if code != tt.code || !strings.Contains(stderr, tt.err) {
				t.Fatalf("exit %d (want %d), stderr %q, want it to say %q", code, tt.code, stderr, tt.err)
			}
		})
	}
}

// TestExecByCIDFromPeer runs `faasedge exec ipfs://<CID>` for a module that
// another node added. (p2p/ipfs tests the /ipfs mount through the executor.)
func TestExecByCIDFromPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, src := ipfstest.Source(ctx, t)
	module, err := src.Add(ctx, bytes.NewReader(wasmtest.WATModule(t, "echo")), 0)
	if err != nil {
		t.Fatal(err)
	}
	exit, stdout, stderr := faasedge("exec", ipfs.Scheme+module.String(), "--peer", h.FullAddrs()[0], "--param", "name=World")
	if want := `{"name":"World"}` + "\n"; exit != 0 || stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q; stderr %s", exit, stdout, want, stderr)
	}
	// No peer has it: a developer error that names the CID.
	const nowhere = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"
	exit, stdout, _ = faasedge("exec", ipfs.Scheme+nowhere, "--timeout", "500ms")
	if exit != 1 || !strings.Contains(stdout, "could not fetch code ipfs://"+nowhere+": ") {
		t.Fatalf("unreachable: exit %d, stdout %q", exit, stdout)
	}
}
