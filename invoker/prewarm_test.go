package invoker_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// prewarmEnv is an env whose engine prewarms on an executor of its own
// (the one its wasm actions run on), reaching CouchDB through a proxy the
// test can cut.
type prewarmEnv struct {
	*env
	ex    *executor.Executor
	proxy *cutProxy
}

func newPrewarmEnv(t *testing.T, budget executor.CompileBudget, opts ...func(*invoker.Config)) *prewarmEnv {
	t.Helper()
	ex, err := executor.New(context.Background(), executor.WithLogger(testenv.Logger()), executor.WithCompileBudget(budget))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close(context.Background()) })
	p := &prewarmEnv{ex: ex}
	p.env = newEnv(t, withPouchOnDisk(), withoutEngine())
	p.proxy = startCutProxy(t, p.pouch.Host+":"+strconv.Itoa(p.pouch.Port))
	p.engOpts = append([]func(*invoker.Config){func(c *invoker.Config) {
		c.Couch.URL = "http://" + p.proxy.addr
		c.Runner = invoker.LocalRunner(ex, nil)
		c.Prewarm = invoker.PrewarmConfig{Compiler: ex, Heartbeat: 200 * time.Millisecond}
	}}, opts...)
	p.startEngine(ctxFor(t))
	return p
}

// prewarmed reads invoker_prewarm_actions_total{outcome} from /metrics.
func (p *prewarmEnv) prewarmed(outcome string) int {
	return int(metricValue(p.t, "http://"+p.eng.HTTPAddr()+"/metrics", `invoker_prewarm_actions_total{outcome="`+outcome+`"}`))
}

func (p *prewarmEnv) waitPrewarmed(outcome string, n int) {
	p.t.Helper()
	testenv.WaitFor(p.t, 5*time.Minute, strconv.Itoa(n)+" actions "+outcome+" by prewarming", func() bool { return p.prewarmed(outcome) >= n })
}

// warmInvoke runs a blocking activation and checks it did not wait to
// compile: no initTime in its record.
func (p *prewarmEnv) warmInvoke(ctx context.Context, a action, rev string) {
	p.t.Helper()
	msg, _ := p.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser(a.path), Blocking: true, Content: []byte(`{"n":1}`)})
	rec := p.record(ctx, msg)
	if rec.Response.StatusCode != whisk.StatusSuccess {
		p.t.Fatalf("%s: status %s result %s", a.name, rec.Response.StatusCode, rec.Response.Result)
	}
	if v := annotation(p.t, rec.Annotations, "initTime"); v != nil {
		p.t.Errorf("%s: the first activation compiled its module (initTime %v)", a.name, v)
	}
}

func metricValue(t testing.TB, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestPrewarmCompilesWasmActions creates actions of every code form while
// the invoker runs: each wasm one is compiled before anything invokes it
// (its first activation is warm), other kinds are left alone, a module
// that does not compile is counted and still fails its activation as it
// would have, and a document over the size limit is skipped unread while
// the feed goes on.
func TestPrewarmCompilesWasmActions(t *testing.T) {
	p := newPrewarmEnv(t, executor.CompileBudget{Concurrent: 1}, func(c *invoker.Config) { c.Prewarm.MaxBytes = 256 << 10 })
	ctx := ctxFor(t)
	echo := wasmtest.WATModule(t, "echo")
	wasm := []action{
		{path: "guest", name: "inline", kind: whisk.KindWasm, code: echo, binary: true},
		{path: "guest", name: "mem", kind: whisk.KindWasm, code: echo, attach: "mem", binary: true},
		{path: "guest", name: "couch", kind: whisk.KindWasm, code: echo, attach: "couch", binary: true},
	}
	// base64 of inline binary code, as the stock controller stores it
	for i := range wasm {
		if wasm[i].attach == "" {
			wasm[i].code = []byte(b64(echo))
		}
	}
	revs := map[string]string{}
	for _, a := range wasm {
		revs[a.name] = p.put(ctx, a)
	}
	p.put(ctx, action{path: "guest", name: "js", kind: "nodejs:20", code: []byte(`function main(a) { return a }`)})
	bad := action{path: "guest", name: "bad", kind: whisk.KindWasm, code: []byte(b64([]byte("\x00asm\x01\x00\x00\x00\x99"))), binary: true}
	p.put(ctx, bad)
	huge := action{path: "guest", name: "huge", kind: whisk.KindWasm, code: []byte(b64(append(echo, make([]byte, 300<<10)...))), binary: true}
	p.put(ctx, huge)
	last := action{path: "guest", name: "after-huge", kind: whisk.KindWasm, code: []byte(b64(echo)), binary: true}
	revs[last.name] = p.put(ctx, last)

	p.waitPrewarmed("compiled", len(wasm)+1)
	p.waitPrewarmed("failed", 1)
	p.waitPrewarmed("skipped", 2) // the nodejs action and the huge one
	for _, a := range append(wasm, last) {
		p.warmInvoke(ctx, a, revs[a.name])
	}
	msg, _ := p.invoke(ctx, bad, nil, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: []byte(`{}`)})
	if rec := p.record(ctx, msg); rec.Response.StatusCode != whisk.StatusDeveloperError ||
		!strings.Contains(string(rec.Response.Result), "WebAssembly module is invalid") {
		t.Errorf("bad module: status %s result %s", rec.Response.StatusCode, rec.Response.Result)
	}
}

// TestPrewarmUsesOnlyMatchingCode updates a prewarmed action with other
// code: the activation runs the new code, compiled anew, never the
// module compiled for the old revision.
func TestPrewarmUsesOnlyMatchingCode(t *testing.T) {
	p := newPrewarmEnv(t, executor.CompileBudget{Concurrent: 1})
	ctx := ctxFor(t)
	a := action{path: "guest", name: "changing", kind: whisk.KindWasm, code: []byte(b64(wasmtest.WATModule(t, "echo"))), binary: true}
	p.put(ctx, a)
	p.waitPrewarmed("compiled", 1)
	a.code = []byte(b64(wasmtest.WATModule(t, "trap")))
	rev := p.put(ctx, a)
	p.waitPrewarmed("compiled", 2)
	msg, _ := p.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: []byte(`{"n":1}`)})
	if rec := p.record(ctx, msg); rec.Response.StatusCode == whisk.StatusSuccess {
		t.Errorf("the updated action ran the old revision's module: %s", rec.Response.Result)
	}
}

// TestPrewarmResumesAfterFeedLoss cuts the connection to CouchDB, creates
// an action meanwhile and restores the connection; then kills
// pouchdb-server, restarts it on the same data and creates another. The
// feed resumes from the last sequence it handled each time: both actions
// are compiled before their first activation.
func TestPrewarmResumesAfterFeedLoss(t *testing.T) {
	p := newPrewarmEnv(t, executor.CompileBudget{Concurrent: 1})
	ctx := ctxFor(t)
	wat := func(name string) action {
		return action{path: "guest", name: name, kind: whisk.KindWasm, code: []byte(b64(wasmtest.WATModule(t, "echo"))), binary: true}
	}
	p.put(ctx, wat("before"))
	p.waitPrewarmed("compiled", 1)
	restarts := func() int {
		return int(metricValue(t, "http://"+p.eng.HTTPAddr()+"/metrics", "invoker_prewarm_feed_restarts_total"))
	}

	p.proxy.cut()
	testenv.WaitFor(t, time.Minute, "the feed to notice the cut", func() bool { return restarts() >= 1 })
	during := wat("during-cut")
	rev := p.put(ctx, during) // straight to CouchDB, not through the proxy
	p.proxy.restore(t)
	p.waitPrewarmed("compiled", 2)
	p.warmInvoke(ctx, during, rev)

	n := restarts()
	p.pouch.Restart(t)
	testenv.WaitFor(t, time.Minute, "the feed to notice the restart", func() bool { return restarts() > n })
	after := wat("after-restart")
	rev = p.put(ctx, after)
	p.waitPrewarmed("compiled", 3)
	p.warmInvoke(ctx, after, rev)
}

// TestPrewarmBudgetUnderBurst creates a burst of Go actions: prewarming
// never compiles more at once than the executor's budget, and an action
// already warm runs meanwhile.
func TestPrewarmBudgetUnderBurst(t *testing.T) {
	counter := &countingCompiler{}
	p := newPrewarmEnv(t, executor.CompileBudget{Concurrent: 1}, func(c *invoker.Config) {
		counter.next = c.Prewarm.Compiler
		c.Prewarm.Compiler = counter
	})
	ctx := ctxFor(t)
	warm := action{path: "guest", name: "warm", kind: whisk.KindWasm, code: []byte(b64(wasmtest.WATModule(t, "echo"))), binary: true}
	warmRev := p.put(ctx, warm)
	p.waitPrewarmed("compiled", 1)
	goEcho := wasmtest.GoCommand(t, "echo")
	const burst = 4
	for i := range burst {
		// A custom section makes each module new to wazero's caches.
		code := append(append([]byte{}, goEcho...), 0, 2, 1, byte('a'+i))
		p.put(ctx, action{path: "guest", name: "go" + strconv.Itoa(i), kind: whisk.KindWasm, code: []byte(b64(code)), binary: true})
	}
	p.warmInvoke(ctx, warm, warmRev)
	p.waitPrewarmed("compiled", 1+burst)
	if peak := counter.peakValue(); peak != 1 {
		t.Errorf("%d compiles at once, budget 1", peak)
	}
}

// countingCompiler counts the compiles under way.
type countingCompiler struct {
	next      invoker.Precompiler
	mu        sync.Mutex
	now, peak int
}

func (c *countingCompiler) Compile(ctx context.Context, a *activation.Action) error {
	c.mu.Lock()
	c.now++
	c.peak = max(c.peak, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	return c.next.Compile(ctx, a)
}

func (c *countingCompiler) peakValue() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

// cutProxy forwards TCP connections to a target until cut: then it closes
// every connection and refuses new ones until restored.
type cutProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
	wg           sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was just closed; the kernel may hold it briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
