package controllerplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ow "github.com/apache/openwhisk-client-go/whisk"
	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faasedge/faasedge/activation"
	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/standalone/controller"
	"github.com/faasedge/faasedge/whisk"
)

// restStack is the standalone's REST controller with a gateway of one
// virtual invoker, a scheduling node serving the Function Manager and
// listed in the scheduler index, and two edge nodes.
type restStack struct {
	api   *httptest.Server
	ctl   *controller.Controller
	sched *node
	edges []*node
	gw    *controllerplugin.Gateway
	index ipns.Name // the scheduler index's IPNS name
}

// startRESTStack starts the stack; with local, a regular invoker 0 (256 MB,
// local executor) runs beside the virtual invoker, which then has id 1.
func startRESTStack(t *testing.T, local *countingRunner) *restStack {
	t.Helper()
	ctx := context.Background()
	b := newBackend(t)
	ctl, err := controller.New(controller.Config{
		KafkaBrokers: b.brokers, CouchURL: b.couch.URL, ManagedFraction: 0.9, BlackboxFraction: 0.1,
		Logger: testenv.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	s := &restStack{ctl: ctl, api: httptest.NewServer(ctl.Handler())}
	t.Cleanup(s.api.Close)

	s.sched = startNode(t, nil)
	for range 2 {
		s.edges = append(s.edges, startNode(t, s.sched.Host().FullAddrs(), 512))
	}
	waitRouting(t, append([]*node{s.sched}, s.edges...)...)

	vid := 0
	if local != nil {
		ex, err := executor.New(ctx, executor.WithFetcher(s.sched.IPFS()), executor.WithLogger(testenv.Logger()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ex.Close(context.Background()) })
		local.r = invoker.LocalRunner(ex, nil)
		startLocalInvoker(t, b, 0, 256, local)
		vid = 1
	}
	gw, err := controllerplugin.New(ctx, s.sched.Ring(), controllerplugin.Config{
		Invoker: b.config(), IDs: []int{vid}, CapacityMB: 512, MinClaimMB: 256,
		CheckInterval: 200 * time.Millisecond, Logger: testenv.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	})

	s.gw = gw
	fm, err := controllerplugin.NewFunctionManager(s.sched.Ring(), s.sched.IPFS(), controllerplugin.ManagerConfig{
		APIHost: s.api.URL, AuthKey: controller.GuestAuth, Gateway: gw,
	}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	fm.Register(s.sched.Transport())

	operator, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	name, err := ring.PublishIndex(ctx, s.sched.Host().DHT, operator, s.sched.Host().FullAddrs(), 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.index = name

	deadline := time.Now().Add(60 * time.Second)
	for !s.invokerUp(0) || !s.invokerUp(vid) {
		if time.Now().After(deadline) {
			t.Fatalf("invokers never came up: %v", ctl.Invokers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *restStack) invokerUp(id int) bool {
	return s.invokerIs(id, controller.Healthy)
}

func (s *restStack) invokerIs(id int, st controller.InvokerState) bool {
	for _, h := range s.ctl.Invokers() {
		if h.ID.Instance == id && h.Status == st {
			return true
		}
	}
	return false
}

func (s *restStack) client(t *testing.T) *ow.Client {
	t.Helper()
	c, err := ow.NewClient(http.DefaultClient, &ow.Config{Host: s.api.URL, AuthToken: controller.GuestAuth, Namespace: "guest"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFunctionManagerDeployAndInvoke: an edge client finds a scheduler
// through the IPNS index, deploys a module it holds, and the action then
// answers through the REST API from an edge node. The deploy had every
// edge node the virtual invoker runs on compile the module: the first
// activation finds it compiled (no initTime in its record).
func TestFunctionManagerDeployAndInvoke(t *testing.T) {
	s := startRESTStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	client := startNode(t, s.sched.Host().FullAddrs())
	waitRouting(t, s.sched, client)
	schedulers, err := controllerplugin.ResolveSchedulers(ctx, client.Host().DHT, "/ipns/"+s.index.String())
	if err != nil {
		t.Fatal(err)
	}
	cid := addModule(t, client, wasmtest.WATModule(t, "echo"))
	rep, err := controllerplugin.Deploy(ctx, client.Transport(), schedulers[0], controllerplugin.DeployRequest{Name: "hello", CID: cid, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Action != "/guest/hello" || rep.URL != s.api.URL+"/api/v1/namespaces/guest/actions/hello" {
		t.Errorf("deploy reply %+v", rep)
	}
	if rep.Supplier != s.edges[0].Host().ID().String() && rep.Supplier != s.edges[1].Host().ID().String() {
		t.Errorf("deployed on %s, not an edge node", rep.Supplier)
	}
	// The scheduler streamed the code from the client, the edge node
	// from the scheduler that claimed it.
	if got := streamFetches(t, s.sched); got != 1 {
		t.Errorf("the scheduler streamed %v fetches, want 1", got)
	}
	supplier := s.edges[0]
	if rep.Supplier == s.edges[1].Host().ID().String() {
		supplier = s.edges[1]
	}
	testenv.WaitFor(t, 30*time.Second, "the supplier's code fetch", func() bool { return streamFetches(t, supplier) == 1 })
	// The client leaves: the code now lives on the scheduler and the edge.
	client.kill()

	wc := s.client(t)
	act, _, err := wc.Actions.Get("hello", true)
	if err != nil {
		t.Fatal(err)
	}
	if act.Exec.Kind != whisk.KindWasm || act.Exec.Code == nil || *act.Exec.Code != "ipfs://"+cid || *act.Limits.Memory != 256 {
		t.Errorf("action as created: kind %s, code %v, limits %+v", act.Exec.Kind, act.Exec.Code, act.Limits)
	}
	suppliers := s.gw.Invokers()[0].Suppliers()
	if len(suppliers) == 0 {
		t.Fatal("the virtual invoker holds no claim")
	}
	for _, e := range s.edges {
		if slices.Contains(suppliers, e.Host().ID()) {
			testenv.WaitFor(t, time.Minute, "the deployed module compiled on "+e.Host().ID().String(), func() bool { return e.Executor().Ready(cid) })
		}
	}
	before := s.edges[0].Executor().Runs() + s.edges[1].Executor().Runs()
	res, _, err := wc.Actions.Invoke("hello", map[string]any{"name": "edge"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := res.(map[string]any)
	if got, _ := json.Marshal(rec["response"].(map[string]any)["result"]); string(got) != `{"name":"edge"}` {
		t.Errorf("result %s", got)
	}
	anns, _ := json.Marshal(rec["annotations"])
	if strings.Contains(string(anns), `"initTime"`) {
		t.Errorf("the first activation compiled the module: %s", anns)
	}
	if after := s.edges[0].Executor().Runs() + s.edges[1].Executor().Runs(); after != before+1 {
		t.Errorf("edge nodes ran %d activations, want 1", after-before)
	}
}

// streamFetches is how many code fetches n's IPFS node made by stream.
func streamFetches(t *testing.T, n *node) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.IPFS().Metrics())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if f.GetName() == "faasedge_ipfs_fetches_total" && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "stream" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestCreatedActionCompiledOnEdgeNodes: a wasm action created through the
// REST API (no deploy) is compiled on every edge node the virtual invoker
// runs on before its first activation: the gateway follows the actions
// database's _changes. The first activation finds it compiled.
func TestCreatedActionCompiledOnEdgeNodes(t *testing.T) {
	s := startRESTStack(t, nil)
	cid := addModule(t, s.sched, wasmtest.WATModule(t, "echo"))
	code, mem := "ipfs://"+cid, 256
	wc := s.client(t)
	if _, _, err := wc.Actions.Insert(&ow.Action{Name: "created", Exec: &ow.Exec{Kind: whisk.KindWasm, Code: &code}, Limits: &ow.Limits{Memory: &mem}}, false); err != nil {
		t.Fatal(err)
	}
	suppliers := s.gw.Invokers()[0].Suppliers()
	if len(suppliers) == 0 {
		t.Fatal("the virtual invoker holds no claim")
	}
	for _, e := range s.edges {
		if slices.Contains(suppliers, e.Host().ID()) {
			testenv.WaitFor(t, time.Minute, "the created module compiled on "+e.Host().ID().String(), func() bool { return e.Executor().Ready(cid) })
		}
	}
	res, _, err := wc.Actions.Invoke("created", map[string]any{"name": "edge"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := res.(map[string]any)
	if got, _ := json.Marshal(rec["response"].(map[string]any)["result"]); string(got) != `{"name":"edge"}` {
		t.Errorf("result %s", got)
	}
	if anns, _ := json.Marshal(rec["annotations"]); strings.Contains(string(anns), `"initTime"`) {
		t.Errorf("the first activation compiled the module: %s", anns)
	}
}

// TestFunctionManagerRefusesBadDeploys: bad requests get an error that
// says what is wrong, and no action is created.
func TestFunctionManagerRefusesBadDeploys(t *testing.T) {
	s := startRESTStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := startNode(t, s.sched.Host().FullAddrs())
	text := addModule(t, client, []byte("not a module\n"))
	wasm := addModule(t, client, wasmtest.WATModule(t, "echo"))
	sched := s.sched.Host().Peerstore().PeerInfo(s.sched.Host().ID())
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not JSON", `{"name":`, "bad deploy request"},
		{"unknown field", `{"name":"a","cid":"` + wasm + `","memory":256,"code":"x"}`, "bad deploy request"},
		{"bad CID", `{"name":"a","cid":"nope","memory":256}`, `cid "nope"`},
		{"not wasm", `{"name":"a","cid":"` + text + `","memory":256}`, "is not a WebAssembly module"},
		{"memory too small", `{"name":"a","cid":"` + wasm + `","memory":64}`, "memory 64 MB outside 128..512 MB"},
		{"memory too large", `{"name":"a","cid":"` + wasm + `","memory":4096}`, "memory 4096 MB outside"},
		{"bad name", `{"name":"a/b/c","cid":"` + wasm + `","memory":256}`, "at most package/name"},
		{"bad characters", `{"name":"a;b","cid":"` + wasm + `","memory":256}`, "not a valid OpenWhisk entity name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Transport().Call(ctx, sched, controllerplugin.ProtoDeploy, []byte(tc.body))
			if err == nil || !ring.IsRemote(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a remote error with %q", err, tc.want)
			}
		})
	}
	// The client side checks before sending, with the same texts.
	if _, err := controllerplugin.Deploy(ctx, client.Transport(), sched, controllerplugin.DeployRequest{Name: "a", CID: wasm, MemoryMB: 1}); err == nil || ring.IsRemote(err) {
		t.Errorf("client-side check: %v", err)
	}
	wc := s.client(t)
	acts, _, err := wc.Actions.List("", &ow.ActionListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 0 {
		t.Errorf("bad deploys created %d actions", len(acts))
	}
}

// countingRunner counts the activations a regular invoker ran.
type countingRunner struct {
	r    invoker.Runner
	runs atomic.Int64
}

var _ invoker.Runner = (*countingRunner)(nil)

func (c *countingRunner) Run(ctx context.Context, a *activation.Action, inv activation.Invocation) activation.Result {
	if strings.HasPrefix(a.Kind, "wasm") {
		c.runs.Add(1)
	}
	return c.r.Run(ctx, a, inv)
}

func (s *restStack) edgeRuns() int64 {
	var n int64
	for _, e := range s.edges {
		n += e.Executor().Runs()
	}
	return n
}

// invokeAll invokes each name once without waiting (the controller
// publishes them all at once, as under load), then waits for every
// activation record and checks its result.
func (s *restStack) invokeAll(t *testing.T, names []string) {
	t.Helper()
	wc := s.client(t)
	ids := make([]string, len(names))
	for i, name := range names {
		res, _, err := wc.Actions.Invoke(name, map[string]any{"n": i}, false, false)
		if err != nil {
			t.Fatalf("invoke %s: %v", name, err)
		}
		id, _ := res.(map[string]any)["activationId"].(string)
		if id == "" {
			t.Fatalf("invoke %s: reply %v", name, res)
		}
		ids[i] = id
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, id := range ids {
		for {
			act, _, err := wc.Activations.Get(id)
			if err == nil {
				if got, _ := json.Marshal(act.Response.Result); string(got) != fmt.Sprintf(`{"n":%d}`, i) || !act.Response.Success {
					t.Errorf("activation %s of %s: %s %s", id, names[i], act.Response.Status, got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("activation %s: %v", id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestStandaloneControllerUsesVirtualInvokers: the standalone's REST
// controller, seeing a regular invoker and a virtual one, runs work on
// both; when the edge nodes leave, the virtual invoker goes down and
// everything runs on the regular one.
func TestStandaloneControllerUsesVirtualInvokers(t *testing.T) {
	local := &countingRunner{}
	s := startRESTStack(t, local)
	wc := s.client(t)
	// 300 ms runs, so that concurrent invocations overflow the regular
	// invoker's two slots.
	code := "ipfs://" + addModule(t, s.sched, sleepModule(t))
	mem := 128
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("echo%d", i)
		if _, _, err := wc.Actions.Insert(&ow.Action{Name: name, Exec: &ow.Exec{Kind: whisk.KindWasm, Code: &code}, Limits: &ow.Limits{Memory: &mem}}, false); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			names = append(names, name)
		}
	}
	s.invokeAll(t, names)
	if local.runs.Load() == 0 || s.edgeRuns() == 0 {
		t.Fatalf("regular invoker ran %d, edge nodes %d: want both > 0", local.runs.Load(), s.edgeRuns())
	}
	if total := local.runs.Load() + s.edgeRuns(); total != int64(len(names)) {
		t.Errorf("%d runs for %d activations", total, len(names))
	}

	for _, e := range s.edges {
		e.kill()
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.invokerIs(1, controller.Offline) {
		if time.Now().After(deadline) {
			t.Fatalf("virtual invoker still %v with no edge node", s.ctl.Invokers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	edge, before := s.edgeRuns(), local.runs.Load()
	s.invokeAll(t, names[:6])
	if s.edgeRuns() != edge || local.runs.Load() != before+6 {
		t.Errorf("after the edge left: regular invoker ran %d of 6, edge %d", local.runs.Load()-before, s.edgeRuns()-edge)
	}
}
