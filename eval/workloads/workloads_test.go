package workloads

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/standalone/controller"
	"github.com/faasedge/faasedge/whisk"
)

// testbed is the evaluation's testbed in small, in one process: the
// standalone with three edge nodes on loopback that share one /data
// directory, and a data owner, an IPFS node that runs nothing, connected
// to every node that does.
type testbed struct {
	stack *standalone.Stack
	env   Env
}

func startTestbed(t testing.TB, redisURL string) *testbed {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	// Edge only: every activation runs on one of the three edge nodes.
	s := testenv.StartServer(t, func(ctx context.Context) (*standalone.Stack, error) {
		return standalone.Start(ctx, standalone.Config{
			APIAddr: "127.0.0.1:0", DataDir: t.TempDir(), ModulesDir: wasmtest.CompilationCacheDir(),
			RedisURL: redisURL, DataMount: data,
			EdgeOnly: true, EdgeNodes: 3, EdgeMemory: 1024 * whisk.MB,
			Logger: testenv.Logger(),
		})
	})

	peers := s.IPFS().Host().FullAddrs()
	for _, n := range s.EdgeNodes() {
		peers = append(peers, n.Host().FullAddrs()...)
	}
	h, err := p2p.NewHost(ctx, p2p.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DHTClient: true})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := ipfs.New(ctx, h, ipfs.WithPeers(peers...), ipfs.WithLogger(testenv.Logger()))
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		owner.Close()
		h.Close()
	})
	add := func(ctx context.Context, fsys fs.FS, root string) (string, error) {
		fi, err := fs.Stat(fsys, root)
		if err != nil {
			return "", err
		}
		if fi.IsDir() {
			c, err := owner.AddFS(ctx, fsys, root, 1)
			return c.String(), err
		}
		f, err := fsys.Open(root)
		if err != nil {
			return "", err
		}
		defer f.Close()
		c, err := owner.Add(ctx, f, 1)
		return c.String(), err
	}
	return &testbed{stack: s, env: Env{APIHost: s.APIHost(), Auth: controller.GuestAuth, DataDirs: []string{data}, AddIPFS: add}}
}

// perNode is the number of activations each edge node has run.
func (tb *testbed) perNode() []int64 {
	var n []int64
	for _, e := range tb.stack.EdgeNodes() {
		n = append(n, e.Executor().Runs())
	}
	return n
}

// run deploys w for p, sends n requests, three at a time, and checks every
// answer.
func (tb *testbed) run(t *testing.T, w Workload, p Placement, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := tb.env
	env.Requests = n
	if err := w.Deploy(ctx, env, p); err != nil {
		t.Fatal(err)
	}
	before := tb.perNode()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec, err := invoke(ctx, tb.env, w.Request(p, i))
			if err == nil {
				err = w.Check(p, i, rec.Response.Result)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s/%s request %d: %v", w.Name(), p, i, err)
		}
	}
	after, ran := tb.perNode(), int64(0)
	for k := range after {
		after[k] -= before[k]
		ran += after[k]
	}
	if ran < int64(n) {
		t.Errorf("%s/%s: the edge nodes ran %d of %d activations", w.Name(), p, ran, n)
	}
	t.Logf("%s/%s: activations per edge node %v", w.Name(), p, after)
}

// TestWorkloads runs a short version of every workload, with its data on
// the executing nodes and in IPFS (the hash workload's cold and warm),
// through the standalone's REST API onto three edge nodes, and checks
// every answer.
func TestWorkloads(t *testing.T) {
	mnist, err := NewMNIST(200, 10)
	if err != nil {
		t.Fatal(err)
	}
	video, err := NewVideo(24, 160, 120, 3)
	if err != nil {
		t.Fatal(err)
	}
	tb := startTestbed(t, testenv.StartRedis(t))
	tests := []struct {
		w Workload
		n int // requests per placement
	}{
		{NewHash(4<<10, 1<<20, 3<<20+5), 6},
		{NewREST(60, 600), 20},
		{mnist, 3},
		{video, 3},
	}
	for _, tc := range tests {
		for _, p := range Placements(tc.w, []Placement{Local, IPFS}) {
			t.Run(tc.w.Name()+"/"+string(p), func(t *testing.T) { tb.run(t, tc.w, p, tc.n) })
		}
	}
	// The model gets 98.7% of the whole test set right.
	if acc, n := mnist.Accuracy(); n != 2*3*10 || acc < 0.95 {
		t.Errorf("mnist: %.3f of %d images classified right", acc, n)
	}
}
