package ipfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
)

var _ executor.Fetcher = (*Node)(nil)

// sha256Module builds testdata/sha256file.wat, the action that hashes a
// file it reads under /ipfs.
func sha256Module(t testing.TB) []byte {
	t.Helper()
	return wasmtest.SourceBytes(t, wasmtest.WAT, filepath.Join("testdata", "sha256file.wat"))
}

// sha256Executor is an executor on n, its code fetcher and /ipfs mount,
// closed when the test ends, and the sha256file action as module's CID.
func sha256Executor(ctx context.Context, t *testing.T, n *Node, module cid.Cid) (*executor.Executor, *activation.Action) {
	t.Helper()
	ex, err := executor.New(ctx, executor.WithFetcher(n), executor.WithMount("/ipfs", n.FS(ctx)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close(context.WithoutCancel(ctx)) })
	return ex, &activation.Action{
		Name: activation.FQN{Path: "guest", Name: "sha256file"}, Kind: "wasm:wasip1",
		Code:   activation.Code{CID: module.String()},
		Limits: whisk.Limits{Timeout: 30_000, Memory: 256, Logs: 10},
	}
}

// TestActionByCIDRunsOnAnotherNode adds a module and a data set on node A;
// node B's executor runs the module as ipfs://<CID> code, and the module
// reads the data through B's /ipfs mount. Every byte crosses bitswap.
func TestActionByCIDRunsOnAnotherNode(t *testing.T) {
	ctx := testCtx(t)
	a := newNode(t, p2p.Config{})
	module, err := a.Add(ctx, bytes.NewReader(sha256Module(t)), 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.AddFS(ctx, fixtureTree, ".", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Files whose lengths sit on SHA-256's padding boundaries, as roots.
	edges := map[int]string{}
	for _, size := range []int{55, 56, 64} {
		c, err := a.Add(ctx, bytes.NewReader(patternBytes("edge", size)), 0)
		if err != nil {
			t.Fatal(err)
		}
		edges[size] = "/ipfs/" + c.String()
	}

	b := newNode(t, p2p.Config{}, WithPeers(a.Host().FullAddrs()...))
	ex, action := sha256Executor(ctx, t, b, module)
	tests := []struct {
		name string
		path string
		want []byte
	}{
		{"one block", "/ipfs/" + data.String() + "/file", fixtureTree["file"].Data},
		{"several blocks", "/ipfs/" + data.String() + "/data/big.bin", fixtureTree["data/big.bin"].Data},
		{"empty", "/ipfs/" + data.String() + "/empty", fixtureTree["empty"].Data},
		{"nested", "/ipfs/" + data.String() + "/data/nested/b.json", fixtureTree["data/nested/b.json"].Data},
		{"55 bytes", edges[55], patternBytes("edge", 55)},
		{"56 bytes", edges[56], patternBytes("edge", 56)},
		{"64 bytes", edges[64], patternBytes("edge", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, _ := json.Marshal(map[string]string{"path": tt.path})
			res := ex.Run(ctx, action, activation.Invocation{Value: value})
			if res.Response.StatusCode != whisk.StatusSuccess {
				t.Fatalf("status %s: %s (logs %q)", res.Response.StatusCode, res.Response.Result, res.Logs)
			}
			var got struct {
				SHA256 string
				Size   int
			}
			if err := json.Unmarshal(res.Response.Result, &got); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tt.want)
			if got.SHA256 != hex.EncodeToString(sum[:]) || got.Size != len(tt.want) {
				t.Fatalf("function read %d bytes hashing to %s; file has %d bytes, %x", got.Size, got.SHA256, len(tt.want), sum)
			}
		})
	}
	// The executor's code fetch streamed the module from the peer.
	if fetches(b, methodStream) != 1 {
		t.Errorf("module fetched by stream %v times, want 1", fetches(b, methodStream))
	}
	t.Run("missing file", func(t *testing.T) {
		value, _ := json.Marshal(map[string]string{"path": "/ipfs/" + data.String() + "/nope"})
		res := ex.Run(ctx, action, activation.Invocation{Value: value})
		if !strings.Contains(strings.ToLower(string(res.Response.Result)), "no such file") {
			t.Fatalf("result %s", res.Response.Result)
		}
	})
}

func TestActionByUnreachableCIDIsDeveloperError(t *testing.T) {
	ctx := testCtx(t)
	n := newNode(t, p2p.Config{})
	ex, err := executor.New(ctx, executor.WithFetcher(n))
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.WithoutCancel(ctx))
	const nowhere = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"
	tests := []struct {
		name, code, want string
	}{
		// The run's deadline and the fetch's end together; either may
		// word the reason.
		{"unreachable", Scheme + nowhere, "could not fetch code ipfs://" + nowhere + ": "},
		{"malformed", Scheme + "not-a-cid", `could not fetch code ipfs://not-a-cid: malformed CID "not-a-cid"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action := &activation.Action{Name: activation.FQN{Path: "guest", Name: "f"}, Kind: "wasm:wasip1", Code: activation.ParseCode([]byte(tt.code), false),
				Limits: whisk.Limits{Timeout: 1000, Memory: 128, Logs: 10}}
			res := ex.Run(ctx, action, activation.Invocation{})
			if res.Response.StatusCode != whisk.StatusDeveloperError {
				t.Fatalf("status %s, want developer error", res.Response.StatusCode)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(res.Response.Result, &body); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(body.Error, tt.want) || tt.name == "unreachable" && !strings.Contains(body.Error, "deadline") {
				t.Fatalf("error %q, want %q", body.Error, tt.want)
			}
		})
	}
}

// delayedDAG is a block source that answers every request after delay,
// and counts the requests.
type delayedDAG struct {
	ipld.DAGService
	delay    time.Duration
	requests atomic.Int64
}

func (d *delayedDAG) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	d.requests.Add(1)
	time.Sleep(d.delay)
	return d.DAGService.Get(ctx, c)
}

func (d *delayedDAG) GetMany(ctx context.Context, cids []cid.Cid) <-chan *ipld.NodeOption {
	d.requests.Add(1)
	time.Sleep(d.delay)
	return d.DAGService.GetMany(ctx, cids)
}

// TestFetchTimeFromDelayedPeer runs an action that hashes a 1 MiB file
// (four leaves) added on node A, through node B's /ipfs mount, whose
// blocks come from A over bitswap and each request for them after 100
// ms: the run's Fetch counts the file's bytes and at least the two
// requests that must precede its first byte (the root, opening it; the
// leaves, on the first read), and lies within the run's duration, the
// rest of which is the execution proper.
func TestFetchTimeFromDelayedPeer(t *testing.T) {
	const size, delay = 1 << 20, 100 * time.Millisecond
	ctx := testCtx(t)
	a := newNode(t, p2p.Config{})
	module, err := a.Add(ctx, bytes.NewReader(sha256Module(t)), 0)
	if err != nil {
		t.Fatal(err)
	}
	data := patternBytes("fetch", size)
	file, err := a.Add(ctx, bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	b := newNode(t, p2p.Config{}, WithPeers(a.Host().FullAddrs()...))
	slow := &delayedDAG{DAGService: b.dag, delay: delay}
	b.dag = slow
	ex, action := sha256Executor(ctx, t, b, module)
	value, _ := json.Marshal(map[string]string{"path": "/ipfs/" + file.String()})
	for _, run := range []string{"blocks from the peer", "blocks in the store"} {
		res := ex.Run(ctx, action, activation.Invocation{Value: value})
		var got struct{ SHA256 string }
		sum := sha256.Sum256(data)
		if res.Response.StatusCode != whisk.StatusSuccess || json.Unmarshal(res.Response.Result, &got) != nil || got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: %s %s", run, res.Response.StatusCode, res.Response.Result)
		}
		duration := res.End.Sub(res.Start) - res.InitTime
		if res.Fetch.Bytes != size || res.Fetch.Time < 2*delay || res.Fetch.Time > duration {
			t.Errorf("%s: fetched %d bytes in %v of a %v run: want %d bytes in at least %v, within the run",
				run, res.Fetch.Bytes, res.Fetch.Time, duration, size, 2*delay)
		}
		t.Logf("%s: fetch %v of %v run (%d block requests so far)", run, res.Fetch.Time, duration, slow.requests.Load())
	}
}
