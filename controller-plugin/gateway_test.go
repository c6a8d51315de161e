package controllerplugin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// cluster is a stock controller (the emulator) with, optionally, one
// regular invoker (id 0), a gateway of virtual invokers on a scheduling
// node, and edge nodes.
type cluster struct {
	b     *backend
	ctl   *emulator.Controller
	sched *node
	edges []*node
	gw    *controllerplugin.Gateway
	user  whisk.Identity
}

type clusterSpec struct {
	local      bool  // a regular invoker 0 with 256 MB
	virtual    []int // virtual invoker ids
	capacityMB int
	edgesMB    []int // one edge node per entry
}

func startCluster(t testing.TB, spec clusterSpec) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{b: newBackend(t), user: emulator.NewUser("guest")}
	var err error
	c.ctl, err = emulator.Start(ctx, emulator.Config{Brokers: c.b.brokers, ActionsDB: c.b.whisks, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.ctl.Close)
	c.sched = startNode(t, nil)
	for _, mb := range spec.edgesMB {
		c.edges = append(c.edges, startNode(t, c.sched.Host().FullAddrs(), mb))
	}
	waitRouting(t, append([]*node{c.sched}, c.edges...)...)
	if spec.local {
		// The regular invoker resolves ipfs:// code from the scheduling
		// node's store, where the tests add their modules.
		ex, err := executor.New(ctx, executor.WithFetcher(c.sched.IPFS()), executor.WithLogger(testenv.Logger()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ex.Close(context.Background()) })
		startLocalInvoker(t, c.b, 0, 256, invoker.LocalRunner(ex, nil))
	}
	c.gw, err = controllerplugin.New(ctx, c.sched.Ring(), controllerplugin.Config{
		Invoker: c.b.config(), IDs: spec.virtual, CapacityMB: spec.capacityMB, MinClaimMB: 256,
		CheckInterval: 200 * time.Millisecond, Logger: testenv.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.gw.Shutdown(sctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return c
}

func (c *cluster) waitState(t testing.TB, s emulator.InvokerState, ids ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := c.ctl.WaitState(ctx, id, s); err != nil {
			t.Fatal(err)
		}
	}
}

// invokeAll publishes one blocking activation per name, as the controller
// does, and returns the activation ids with the invoker each went to.
func (c *cluster) invokeAll(t testing.TB, names []string, memoryMB int) map[string]int {
	t.Helper()
	ctx := context.Background()
	sent := map[string]int{}
	for i, name := range names {
		content := json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		msg, id, err := c.ctl.Invoke(ctx, emulator.ActionMeta{
			Name:     whisk.FullyQualifiedEntityName{Path: "guest", Name: name, Version: "0.0.1"},
			MemoryMB: memoryMB, TimeoutMs: 30000,
		}, emulator.Request{User: c.user, Content: content, Blocking: true})
		if err != nil {
			t.Fatal(err)
		}
		sent[msg.ActivationID] = id
	}
	return sent
}

// checkCompleted waits for every activation and checks that each got
// exactly one slot-freeing ack and succeeded with its parameters echoed.
func (c *cluster) checkCompleted(t testing.TB, sent map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for aid := range sent {
		acks, err := c.ctl.WaitCompleted(ctx, aid)
		if err != nil {
			t.Fatal(err)
		}
		var result *whisk.Activation
		for _, a := range acks {
			if act, _, err := a.ResponseActivation(); err == nil && act != nil {
				result = act
			}
		}
		if result == nil {
			t.Errorf("activation %s: no result in its acks", aid)
			continue
		}
		if result.Response.StatusCode != whisk.StatusSuccess || !strings.Contains(string(result.Response.Result), `"n":`) {
			t.Errorf("activation %s on invoker %d: %s %s", aid, sent[aid], result.Response.StatusCode, result.Response.Result)
		}
	}
	// A second slot-freeing ack would have found no slot left.
	time.Sleep(300 * time.Millisecond)
	for aid := range sent {
		n := 0
		for _, a := range c.ctl.Acks(aid) {
			if a.FreesSlot() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("activation %s: %d slot-freeing acks", aid, n)
		}
	}
	for _, a := range c.ctl.NoEntry() {
		aid := a.ActivationID
		if _, id, err := a.ResponseActivation(); err == nil && id != "" {
			aid = id
		}
		if _, ok := sent[aid]; ok {
			t.Errorf("activation %s: a slot-freeing ack after its slot was freed", aid)
		}
	}
	if f := c.ctl.Forced(); len(f) > 0 {
		t.Errorf("activations force-completed: %v", f)
	}
}

func (c *cluster) edgeRuns() int64 {
	var n int64
	for _, e := range c.edges {
		n += e.Executor().Runs()
	}
	return n
}

// metric sums a gateway series over its labels.
func (c *cluster) metric(t testing.TB, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	c.gw.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var sum float64
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

func (c *cluster) waitBacked(t testing.TB, v *controllerplugin.VirtualInvoker, mb int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v.BackedMB() != mb {
		if time.Now().After(deadline) {
			t.Fatalf("virtual invoker %d backs %d MB, want %d", v.ID(), v.BackedMB(), mb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until the invokers ids are healthy and every virtual
// invoker backs mb of capacity with edge claims.
func (c *cluster) waitReady(t testing.TB, mb int, ids ...int) {
	t.Helper()
	c.waitState(t, emulator.Healthy, ids...)
	for _, v := range c.gw.Invokers() {
		c.waitBacked(t, v, mb)
	}
}

// TestControllerDistributesOntoEdge: a controller that sees a regular
// invoker and two virtual invokers spreads activations over all three, and
// what reaches a virtual invoker runs on an edge node.
func TestControllerDistributesOntoEdge(t *testing.T) {
	c := startCluster(t, clusterSpec{local: true, virtual: []int{1, 2}, capacityMB: 512, edgesMB: []int{512, 512, 512}})
	c.waitReady(t, 512, 0, 1, 2)
	cid := addModule(t, c.sched, wasmtest.WATModule(t, "echo"))
	var names []string
	for i := range 4 {
		c.b.putAction(t, fmt.Sprintf("echo%d", i), cid, 128)
	}
	for i := range 24 {
		names = append(names, fmt.Sprintf("echo%d", i%4))
	}
	sent := c.invokeAll(t, names, 128)
	c.checkCompleted(t, sent)
	perInvoker := map[int]int{}
	for _, id := range sent {
		perInvoker[id]++
	}
	virtual := int64(perInvoker[1] + perInvoker[2])
	if perInvoker[0] == 0 || virtual == 0 {
		t.Fatalf("activations per invoker %v: want some on the regular and some on the virtual invokers", perInvoker)
	}
	if got := c.edgeRuns(); got != virtual {
		t.Errorf("edge nodes ran %d activations, the virtual invokers got %d", got, virtual)
	}
	if got := c.metric(t, "faasedge_gateway_remote_run_seconds_count"); got != float64(virtual) {
		t.Errorf("remote run latency observed %v times, want %d", got, virtual)
	}
	// Each granted claim was one scheduling that sent at least its claim
	// to at least one peer.
	claims := c.metric(t, "faasedge_gateway_claims_total")
	if n := c.metric(t, "faasedge_gateway_schedule_seconds_count"); n < claims || claims < 1 {
		t.Errorf("%v schedulings timed, %v claims", n, claims)
	}
	if msgs, peers := c.metric(t, "faasedge_gateway_schedule_messages_total"), c.metric(t, "faasedge_gateway_schedule_peers_total"); peers < claims || msgs < peers {
		t.Errorf("schedulings sent %v messages to %v peers for %v claims", msgs, peers, claims)
	}
}

// TestEdgeNodeDiesMidLoad kills an edge node while activations run on it:
// each still gets exactly one slot-freeing ack and succeeds (run again on
// another claim), and the virtual invoker backs its capacity again.
func TestEdgeNodeDiesMidLoad(t *testing.T) {
	c := startCluster(t, clusterSpec{virtual: []int{0, 1}, capacityMB: 512, edgesMB: []int{512, 512, 512}})
	c.waitReady(t, 512, 0, 1)
	invs := c.gw.Invokers()
	cid := addModule(t, c.sched, sleepModule(t))
	c.b.putAction(t, "sleep", cid, 128)
	names := make([]string, 16)
	for i := range names {
		names[i] = "sleep"
	}
	sent := c.invokeAll(t, names, 128)

	// Kill a node that backs a virtual invoker as soon as it runs something.
	claimed := map[string]bool{}
	for _, v := range invs {
		for _, p := range v.Suppliers() {
			claimed[p.String()] = true
		}
	}
	var victim *node
	deadline := time.Now().Add(30 * time.Second)
	for victim == nil {
		for _, e := range c.edges {
			if claimed[e.Host().ID().String()] && e.Executor().InFlight() > 0 {
				victim = e
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no claimed edge node ever ran an activation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	victim.kill()
	c.checkCompleted(t, sent)

	for _, v := range invs {
		c.waitBacked(t, v, 512)
		for _, p := range v.Suppliers() {
			if p == victim.Host().ID() {
				t.Errorf("virtual invoker %d still claims on the killed node", v.ID())
			}
		}
	}
	if got := c.metric(t, "faasedge_gateway_claims_lost_total"); got < 1 {
		t.Errorf("claims lost = %v, want >= 1", got)
	}
	if got := c.metric(t, "faasedge_gateway_reclaims_total"); got < 1 {
		t.Errorf("re-claims = %v, want >= 1", got)
	}
}

// TestEmptyRingDisablesVirtualInvokers: with no offers the virtual
// invokers ping disabled and the controller's selection skips them; once
// an edge node volunteers they come up, and they go down with it.
func TestEmptyRingDisablesVirtualInvokers(t *testing.T) {
	c := startCluster(t, clusterSpec{local: true, virtual: []int{1, 2}, capacityMB: 512})
	c.waitState(t, emulator.Healthy, 0)
	c.waitState(t, emulator.Offline, 1, 2)
	for _, v := range c.gw.Invokers() {
		if v.Engine().Enabled() || v.BackedMB() != 0 {
			t.Fatalf("virtual invoker %d: enabled %v, backed %d MB with an empty ring", v.ID(), v.Engine().Enabled(), v.BackedMB())
		}
	}
	cid := addModule(t, c.sched, wasmtest.WATModule(t, "echo"))
	c.b.putAction(t, "echo", cid, 128)
	check := func(phase string) {
		sent := c.invokeAll(t, []string{"echo", "echo", "echo", "echo", "echo", "echo"}, 128)
		c.checkCompleted(t, sent)
		for aid, id := range sent {
			if id != 0 {
				t.Errorf("%s: activation %s went to disabled invoker %d", phase, aid, id)
			}
		}
	}
	check("empty ring")

	// An activation that still reaches a virtual invoker holding nothing
	// (published before it went down) waits for a claim until its
	// deadline, then ends with one slot-freeing ack and the stock whisk
	// error for resources that could not be provisioned.
	c.b.putActionTimeout(t, "short", cid, 128, 500)
	msg := c.ctl.Message(emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "short", Version: "0.0.1"}, MemoryMB: 128, TimeoutMs: 500},
		emulator.Request{User: c.user, Content: json.RawMessage(`{}`), Blocking: true})
	if err := c.ctl.Send(context.Background(), 1, msg); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acks, err := c.ctl.WaitCompleted(wctx, msg.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	var got *whisk.Activation
	freeing := 0
	for _, a := range acks {
		if act, _, err := a.ResponseActivation(); err == nil && act != nil {
			got = act
		}
		if a.FreesSlot() {
			freeing++
		}
	}
	if freeing != 1 || got == nil || got.Response.StatusCode != whisk.StatusWhiskError || !strings.Contains(string(got.Response.Result), whisk.MsgProvisionFailed) {
		t.Errorf("activation on an empty virtual invoker: %d slot-freeing acks, activation %+v", freeing, got)
	}

	// An edge node volunteers: both virtual invokers back and come up.
	edge := startNode(t, c.sched.Host().FullAddrs(), 512, 512)
	waitRouting(t, c.sched, edge)
	c.waitState(t, emulator.Healthy, 1, 2)

	// It leaves: they hold nothing and go down again.
	edge.kill()
	c.waitState(t, emulator.Offline, 1, 2)
	for _, v := range c.gw.Invokers() {
		if v.BackedMB() != 0 {
			t.Errorf("virtual invoker %d backs %d MB on a departed node", v.ID(), v.BackedMB())
		}
	}
	check("after the edge node left")
}

// TestBacksCapacityInSmallestClaims: 768 MB over three 256 MB offers is
// backed by three claims of the smallest size, which halving 768 MB never
// reaches.
func TestBacksCapacityInSmallestClaims(t *testing.T) {
	c := startCluster(t, clusterSpec{virtual: []int{0}, capacityMB: 768, edgesMB: []int{256, 256, 256}})
	c.waitState(t, emulator.Healthy, 0)
	c.waitBacked(t, c.gw.Invokers()[0], 768)
}

// TestEdgeTimeoutKeepsLease: actions that run into their timeout on an edge
// node end with the stock timeout error, and the healthy node's claim is
// kept: no claim is dropped or replaced.
func TestEdgeTimeoutKeepsLease(t *testing.T) {
	c := startCluster(t, clusterSpec{virtual: []int{0}, capacityMB: 512, edgesMB: []int{512}})
	c.waitState(t, emulator.Healthy, 0)
	c.waitBacked(t, c.gw.Invokers()[0], 512)
	cid := addModule(t, c.sched, wasmtest.WATModule(t, "loop"))
	c.b.putActionTimeout(t, "loop", cid, 128, 500)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := range 3 {
		msg, _, err := c.ctl.Invoke(ctx, emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "loop", Version: "0.0.1"}, MemoryMB: 128, TimeoutMs: 500},
			emulator.Request{User: c.user, Content: json.RawMessage(`{}`), Blocking: true})
		if err != nil {
			t.Fatal(err)
		}
		acks, err := c.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			t.Fatal(err)
		}
		var got *whisk.Activation
		for _, a := range acks {
			if act, _, err := a.ResponseActivation(); err == nil && act != nil {
				got = act
			}
		}
		if got == nil || got.Response.StatusCode != whisk.StatusDeveloperError || !strings.Contains(string(got.Response.Result), whisk.MsgTimeout(500)) {
			t.Fatalf("activation %d: %+v", i, got)
		}
	}
	if got := c.edgeRuns(); got != 3 {
		t.Errorf("edge node ran %d activations, want 3", got)
	}
	for _, name := range []string{"faasedge_gateway_claims_lost_total", "faasedge_gateway_reclaims_total", "faasedge_gateway_reruns_total"} {
		if got := c.metric(t, name); got != 0 {
			t.Errorf("%s = %v after timeouts on a healthy node, want 0", name, got)
		}
	}
}
