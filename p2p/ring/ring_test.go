package ring

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"go.uber.org/goleak"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOpts()...)
}

// leakOpts ignores libp2p's process-wide background goroutines, which
// outlive every host by design.
func leakOpts() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
	}
}

// member is one real ring node on loopback.
type member struct {
	host *p2p.Host
	node *Node
	tr   *HostTransport
	exec *codeExecutor
}

func (m *member) stop(t testing.TB) {
	t.Helper()
	m.tr.Close()
	if err := m.host.Close(); err != nil {
		t.Logf("close %s: %v", m.host.ID(), err)
	}
}

// testLog keeps test output quiet unless -v.

// startRing starts n hosts on loopback bootstrapped from the first, each
// with a ring node built with opts. Members are closed at test end.
func startRing(t testing.TB, n int, hostCfg func(i int) p2p.Config, opts ...Option) []*member {
	t.Helper()
	// Bootstrapping 20+ hosts on a loaded 2-core machine can take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ms []*member
	var boot []string
	for i := range n {
		cfg := p2p.Config{Bootstrap: boot}
		if hostCfg != nil {
			cfg = hostCfg(i)
			if i > 0 && len(cfg.Bootstrap) == 0 {
				cfg.Bootstrap = boot
			}
		}
		m := newMember(t, ctx, cfg, opts...)
		if i == 0 {
			boot = m.host.FullAddrs()
		}
		ms = append(ms, m)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(t)
		}
	})
	// Every DHT must know a few peers before lookups agree on traders.
	deadline := time.Now().Add(20 * time.Second)
	for _, m := range ms[1:] {
		for m.host.DHT.RoutingTable().Size() < min(n-1, 5) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ms
}

func newMember(t testing.TB, ctx context.Context, cfg p2p.Config, opts ...Option) *member {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Key = key
	h, err := p2p.NewHost(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewHostTransport(h, testenv.Logger())
	ex := &codeExecutor{code: map[string][]byte{}}
	all := append([]Option{WithLogger(testenv.Logger()), WithExecutor(ex), WithFreeMemory(func() int { return 1 << 20 })}, opts...)
	n, err := New(tr, key, all...)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	return &member{host: h, node: n, tr: tr, exec: ex}
}

// codeExecutor is a small real Executor: it holds code blocks by CID
// (sha256, raw codec, as `ipfs add --raw-leaves` of a small file gives),
// refuses CIDs it cannot verify, and runs the "echo" program: the result
// is the parameters plus the code's digest. block, when set, makes runs
// wait for their context, as a long-running action does.
type codeExecutor struct {
	mu    sync.Mutex
	code  map[string][]byte
	runs  int
	block chan struct{}
}

func rawCID(b []byte) string {
	h, _ := mh.Sum(b, mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h).String()
}

func (e *codeExecutor) add(code []byte) string {
	c := rawCID(code)
	e.mu.Lock()
	e.code[c] = code
	e.mu.Unlock()
	return c
}

var _ Executor = (*codeExecutor)(nil)

func (e *codeExecutor) Run(ctx context.Context, req RunRequest) (activation.Result, error) {
	e.mu.Lock()
	code, ok := e.code[req.Action.Code.CID]
	e.runs++
	block := e.block
	e.mu.Unlock()
	if !ok || rawCID(code) != req.Action.Code.CID {
		return activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusDeveloperError, Result: json.RawMessage(`{"error":"code not found"}`)}}, nil
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return activation.Result{}, ctx.Err()
		}
	}
	var params map[string]any
	if err := json.Unmarshal(req.Invocation.Value, &params); err != nil {
		return activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusDeveloperError}}, nil
	}
	sum := sha256.Sum256(code)
	params["digest"] = fmt.Sprintf("%x", sum[:4])
	params["activation"] = string(req.Invocation.ID)
	res, _ := json.Marshal(params)
	return activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: res}, Logs: []string{"stdout: ran " + req.Action.Name.String()}}, nil
}

// publishAll publishes every supplier's offers.
func publishAll(t testing.TB, ms []*member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.node.Publish(ctx); err != nil {
			t.Fatalf("publish %s: %v", m.node.ID(), err)
		}
	}
}

// pushBackups makes sched the scheduler the suppliers push their free
// offers to, as a deployment's scheduler index does, and pushes them: the
// backup list a scheduling falls back to when the few keys it tried all
// miss.
func pushBackups(t testing.TB, sched *member, suppliers []*member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to := []peer.AddrInfo{{ID: sched.node.ID(), Addrs: sched.host.Addrs()}}
	for _, m := range suppliers {
		m.node.SetSchedulers(to)
		if err := m.node.PushBackup(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRingPublishDiscoverClaimRun(t *testing.T) {
	// One key per region: each region has one trader, so discovery finds
	// every offer without the backup list (none is configured).
	ms := startRing(t, 20, nil, oneKeyRegions())
	for i, m := range ms[1:] {
		if err := m.node.Supply(256 + 64*i); err != nil {
			t.Fatal(err)
		}
	}
	publishAll(t, ms)
	held := 0
	for _, m := range ms {
		held += m.node.HeldOffers()
	}
	if held != 19 {
		t.Fatalf("traders hold %d offers, want %d", held, 19)
	}
	sched := ms[0].node
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := []byte("(module) ;; echo")
	for _, m := range ms {
		m.exec.add(code)
	}
	c := rawCID(code)
	tests := []struct {
		name string
		mem  int
	}{
		{"small", 128},
		{"medium", 300},
		{"large", 1200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := sched.Schedule(ctx, c, tc.mem)
			if err != nil {
				t.Fatalf("schedule: %v (stats %+v)", err, p.Stats)
			}
			if p.Offer.AvailableMB < tc.mem || p.LeaseID == "" {
				t.Fatalf("placement %+v does not fit %d MB", p, tc.mem)
			}
			if p.FromBackup || p.Stats.Tries < 1 || p.Stats.DeployMessages < 1 || p.Stats.Peers < 1 || p.Stats.Peers > p.Stats.DiscoveryMessages+p.Stats.DeployMessages {
				t.Fatalf("stats not counted: %+v", p.Stats)
			}
			resp, err := sched.Run(ctx, p, RunRequest{
				Action: activation.Action{
					Name:   activation.FQN{Path: "guest", Name: "echo"},
					Limits: whisk.Limits{Timeout: 10000, Memory: int64(tc.mem), Logs: 10, Concurrency: 1},
				},
				Invocation: activation.Invocation{
					ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", TransID: whisk.TransID{ID: "tid"},
					Value: json.RawMessage(`{"name":"edge"}`), Deadline: time.Now().Add(20 * time.Second),
				},
			})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			var res map[string]string
			if err := json.Unmarshal(resp.Response.Result, &res); err != nil || resp.Response.StatusCode != whisk.StatusSuccess {
				t.Fatalf("result %s status %d: %v", resp.Response.Result, resp.Response.StatusCode, err)
			}
			sum := sha256.Sum256(code)
			if res["name"] != "edge" || res["digest"] != fmt.Sprintf("%x", sum[:4]) {
				t.Fatalf("result %v", res)
			}
			// The supplier's books show the lease until it is released.
			sup := memberOf(t, ms, p.Supplier())
			_, used := sup.node.Capacity()
			if used < tc.mem {
				t.Fatalf("supplier used %d MB after a claim of %d", used, tc.mem)
			}
			if err := sched.Release(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, after := sup.node.Capacity(); after != used-tc.mem {
				t.Fatalf("release left %d MB used, want %d", after, used-tc.mem)
			}
			if _, err := sched.Run(ctx, p, RunRequest{Invocation: activation.Invocation{ID: "x", Value: json.RawMessage(`{}`)}}); !IsRemote(err) {
				t.Fatalf("run after release: %v, want a refusal", err)
			}
		})
	}
}

func memberOf(t testing.TB, ms []*member, id peer.ID) *member {
	t.Helper()
	for _, m := range ms {
		if m.node.ID() == id {
			return m
		}
	}
	t.Fatalf("no member %s", id)
	return nil
}
