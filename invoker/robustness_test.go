package invoker_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// TestBadInput: messages that are not activations are logged and skipped;
// the consumer goes on.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	for _, bad := range []string{`not json`, `{"activationId":""}`, `[]`, `{"transid":["x",1],"activationId":"00112233445566778899aabbccddeeff"}`} {
		if err := e.ctl.SendRaw(ctx, 0, []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	a := jsAction("echo", `function main(p) { return p; }`, 0)
	e.put(ctx, a)
	_, acks := e.invoke(ctx, a, nil, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"ok":true}`)})
	if r := combinedResult(t, acks); r != `{"ok":true}` {
		t.Fatalf("after bad input: %s", r)
	}
	if m := metric(t, e, "invoker_unparseable_messages_total"); m != "4" {
		t.Errorf("unparseable messages counted %s, want 4", m)
	}
}

func metric(t *testing.T, e *env, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + e.eng.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s not exported", name)
	return ""
}

// TestHTTPEndpoints checks the stock paths, texts and auth, and that
// /disable and /enable move the invoker down and up in the controller.
func TestHTTPEndpoints(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	base := "http://" + e.eng.HTTPAddr()
	call := func(method, path string, auth bool) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		if auth {
			req.SetBasicAuth("invoker.user", "invoker.pass")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		method, path string
		auth         bool
		code         int
		body         string
		state        emulator.InvokerState
	}{
		{"GET", "/ping", false, 200, "pong", emulator.Healthy},
		{"GET", "/isEnabled", false, 401, "", emulator.Healthy},
		{"POST", "/disable", false, 401, "", emulator.Healthy},
		{"GET", "/isEnabled", true, 200, `{"enabled":true}`, emulator.Healthy},
		{"POST", "/enable", true, 200, "invoker0/0 is already enabled.", emulator.Healthy},
		{"POST", "/disable", true, 200, "invoker0/0 is now disabled.", emulator.Offline},
		{"POST", "/disable", true, 200, "invoker0/0 is already disabled.", emulator.Offline},
		{"GET", "/isEnabled", true, 200, `{"enabled":false}`, emulator.Offline},
		{"POST", "/enable", true, 200, "invoker0/0 is now enabled.", emulator.Healthy},
	} {
		code, body := call(tc.method, tc.path, tc.auth)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Fatalf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
		if err := e.ctl.WaitState(ctx, 0, tc.state); err != nil {
			t.Fatalf("after %s %s: %v", tc.method, tc.path, err)
		}
	}
	code, body := call("GET", "/metrics", false)
	for _, m := range []string{"invoker_activations_total", "invoker_queue_length", "invoker_kafka_lag", "invoker_activation_duration_seconds", "process_resident_memory_bytes"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestBrokerRestart restarts the broker (same port, persisted data) while
// the invoker is idle and again while activations are in flight: every
// activation still gets its slot-freeing ack and the invoker is up again.
func TestBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	port := testenv.FreePort(t)
	kopts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir)}
	e := newEnv(t, withKafka(kopts...))
	ctx := ctxFor(t)
	a := jsAction("sleepy", `function main(p) { var end = Date.now() + 50; while (Date.now() < end) {} return p; }`, 0)
	rev := e.put(ctx, a)
	restart := func() {
		e.kafka.Close()
		c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, kopts...)...)
		if err != nil {
			t.Fatal(err)
		}
		e.kafka = c
	}

	restart() // idle
	if err := e.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatal(err)
	}
	_, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"n":0}`)})
	if r := combinedResult(t, acks); r != `{"n":0}` {
		t.Fatalf("after an idle restart: %s", r)
	}

	const n = 24
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, _, err := e.ctl.Invoke(ctx, emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "sleepy"}, Rev: &rev, MemoryMB: 256, TimeoutMs: 60000},
				emulator.Request{User: emulator.NewUser("guest"), Content: json.RawMessage(`{"i":` + string(rune('0'+i%10)) + `}`)})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- msg.ActivationID
		}()
		if i == n/2 {
			restart() // under load
		}
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if _, err := e.ctl.WaitCompleted(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatal(err)
	}
}

// TestCouchDBDownThenBack: records of activations that finish while
// CouchDB is down are kept and written once it is back.
func TestCouchDBDownThenBack(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	a := jsAction("echo", `function main(p) { return p; }`, 0)
	rev := e.put(ctx, a)
	e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true}) // caches the action

	e.pouch.Stop()
	var msgs []*whisk.ActivationMessage
	for i := range 5 {
		msg, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`)})
		if r := combinedResult(t, acks); !strings.HasPrefix(r, `{"i":`) {
			t.Fatalf("run while CouchDB is down: %s", r)
		}
		msgs = append(msgs, msg)
	}
	e.pouch.Restart(t) // in memory: it comes back empty
	e.createDBs(ctx)
	for _, msg := range msgs {
		rec := e.record(ctx, msg)
		if rec.Response.StatusCode != whisk.StatusSuccess {
			t.Errorf("record %s", mustJSON(rec))
		}
	}
}

// TestShutdownWithWorkInFlight: Shutdown lets running activations finish,
// sends all their acks and writes all their records; activations still
// running when the grace period ends are cancelled, acked and recorded.
func TestShutdownWithWorkInFlight(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) { c.ShutdownTimeout = 3 * time.Second }))
	ctx := ctxFor(t)
	slow := jsAction("slow", `function main(p) { var end = Date.now() + 1500; while (Date.now() < end) {} return {done: true}; }`, 0)
	forever := jsAction("forever", `function main(p) { while (true) {} }`, 0)
	slow.limits.Memory, forever.limits.Memory = 128, 128 // all five fit in 1024 MB
	rs, rf := e.put(ctx, slow), e.put(ctx, forever)
	var msgs []*whisk.ActivationMessage
	send := func(a action, rev string, blocking bool) {
		msg, _, err := e.ctl.Invoke(ctx, emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: a.path, Name: a.name}, Rev: &rev, MemoryMB: 128, TimeoutMs: 60000},
			emulator.Request{User: emulator.NewUser("guest"), Blocking: blocking})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	if err := e.ctl.WaitHealthIdle(ctx); err != nil {
		t.Fatal(err)
	}
	before := metricSum(t, e, "invoker_activations_total{") // health test activations
	for i := range 4 {
		send(slow, rs, i%2 == 0)
	}
	send(forever, rf, true)
	// Shut down once the invoker has taken all five and some still run
	// (at least the endless one; on a busy machine slow ones may be done).
	for {
		running := metricFloat(t, e, "invoker_activations_running")
		if running >= 1 && running+metricSum(t, e, "invoker_activations_total{")-before >= 5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("activations never ran: %v", ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := e.eng.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for i, msg := range msgs {
		acks, err := e.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			t.Fatal(err)
		}
		rec := e.record(ctx, msg)
		want := whisk.StatusSuccess
		if i == 4 {
			want = whisk.StatusWhiskError // cancelled at the end of the grace period
		}
		if rec.Response.StatusCode != want {
			t.Errorf("activation %d: %s; acks %s", i, mustJSON(rec.Response), ackKinds(acks))
		}
	}
}

// metricSum adds up the series whose lines start with prefix.
func metricSum(t *testing.T, e *env, prefix string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.eng.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			var f float64
			_ = json.Unmarshal([]byte(line[strings.LastIndex(line, " ")+1:]), &f)
			sum += f
		}
	}
	return sum
}

func metricFloat(t *testing.T, e *env, name string) float64 {
	var f float64
	_ = json.Unmarshal([]byte(metric(t, e, name)), &f)
	return f
}

type panicRunner struct{}

var _ invoker.Runner = panicRunner{}

func (panicRunner) Run(context.Context, *activation.Action, activation.Invocation) activation.Result {
	panic("runner bug")
}

// TestRunnerPanic: a runner that panics still yields exactly one
// slot-freeing ack, a system error, and a record.
func TestRunnerPanic(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) {
		c.Runner = invoker.Kinds{"nodejs": &invoker.JSRunner{}, "wasm": panicRunner{}}
	}))
	ctx := ctxFor(t)
	a := action{path: "guest", name: "p", kind: "wasm:wasip1", code: []byte("AGFzbQEAAAA="), limits: whisk.Limits{Timeout: 1000, Memory: 128, Logs: 0, Concurrency: 1}}
	rev := e.put(ctx, a)
	msg, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true})
	if ackKinds(acks) != "Combined" || !*acks[0].IsSystemError {
		t.Fatalf("acks %s", ackKinds(acks))
	}
	if rec := e.record(ctx, msg); rec.Response.StatusCode != whisk.StatusWhiskError {
		t.Errorf("record %s", mustJSON(rec))
	}
}

// An engine disabled before Start (the controller plugin's virtual invokers
// start so, holding no edge capacity yet) announces itself disabled only
// once its topic exists, without a failed ping, and comes up when enabled.
func TestDisabledBeforeStart(t *testing.T) {
	e := newEnv(t, withoutEngine())
	ctx := ctxFor(t)
	eng, err := invoker.New(ctx, e.engineConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !eng.SetEnabled(ctx, false) || eng.Enabled() {
		t.Fatal("SetEnabled(false) before Start did not change the state")
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	t.Cleanup(func() { _ = eng.Shutdown(context.WithoutCancel(ctx)) })
	if err := e.ctl.WaitState(ctx, 0, emulator.Offline); err != nil {
		t.Fatal(err)
	}
	if n := metricSum(t, e, `invoker_kafka_errors_total{op="ping"}`); n != 0 {
		t.Errorf("%v failed pings", n)
	}
	eng.SetEnabled(ctx, true)
	if err := e.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPTrickledRequestClosed: a client that trickles a request body one
// byte at a time, or sends headers over the 8 KB cap, does not keep its
// connection: the server closes it after its read timeout.
func TestHTTPTrickledRequestClosed(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", e.eng.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /disable HTTP/1.1\r\nHost: invoker\r\nContent-Length: 100000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
	}()
	deadline := time.After(waitLong)
trickle:
	for {
		select {
		case <-closed:
			break trickle
		case <-deadline:
			t.Fatal("a trickled request kept its connection")
		case <-time.After(200 * time.Millisecond):
			_, _ = conn.Write([]byte("x"))
		}
	}
	req, _ := http.NewRequest("GET", "http://"+e.eng.HTTPAddr()+"/ping", nil)
	req.Header.Set("X-Big", strings.Repeat("h", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KB header: status %d, want 431", resp.StatusCode)
	}
}
