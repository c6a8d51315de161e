package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/internal/testenv"
)

const testKey = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// whiskAPI stands in for OpenWhisk's trigger routes on loopback: GET
// answers 200 to the right key (the feed's auth check) and POST records the
// fire and answers with the next scripted status (200 when the script is
// empty).
type whiskAPI struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	count  bool                    // keep only the number of messages delivered (benchmarks)
	total  int                     // messages delivered, when count
	fires  map[string][]firedBatch // by trigger path
	script map[string][]int
	notify chan struct{}
}

type firedBatch struct {
	Messages []map[string]any `json:"messages"`
	status   int
}

func newWhiskAPI(t testing.TB) *whiskAPI {
	a := &whiskAPI{t: t, fires: map[string][]firedBatch{}, script: map[string][]int{}, notify: make(chan struct{}, 1)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *whiskAPI) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user+":"+pass != testKey {
		http.Error(w, `{"error":"The supplied authentication is invalid"}`, http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/") {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if strings.Contains(r.URL.Path, "/triggers/missing") {
			http.Error(w, `{"error":"The requested resource does not exist."}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"name":"t"}`))
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		var b firedBatch
		if err := json.Unmarshal(body, &b); err != nil {
			a.t.Errorf("fire body is not JSON: %v: %s", err, body)
		}
		a.mu.Lock()
		code := http.StatusOK
		if s := a.script[r.URL.Path]; len(s) > 0 {
			code, a.script[r.URL.Path] = s[0], s[1:]
		}
		b.status = code
		if a.count {
			a.total += len(b.Messages)
		} else {
			a.fires[r.URL.Path] = append(a.fires[r.URL.Path], b)
		}
		a.mu.Unlock()
		select {
		case a.notify <- struct{}{}:
		default:
		}
		if code == controllerDown {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if code == http.StatusNoContent {
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"activationId":"0123456789abcdef0123456789abcdef"}`))
	}
}

// controllerDown in a script closes the connection without an answer, as
// a controller that is down or restarting.
const controllerDown = -1

func (a *whiskAPI) setScript(trigger string, codes ...int) {
	a.mu.Lock()
	a.script["/api/v1/namespaces/guest/triggers/"+trigger] = codes
	a.mu.Unlock()
}

// batches are the fires of trigger (all attempts, with their status).
func (a *whiskAPI) batches(trigger string) []firedBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]firedBatch(nil), a.fires["/api/v1/namespaces/guest/triggers/"+trigger]...)
}

// delivered are the messages of trigger's fires answered with a 2xx.
func (a *whiskAPI) delivered(trigger string) []map[string]any {
	var out []map[string]any
	for _, b := range a.batches(trigger) {
		if b.status >= 200 && b.status < 300 {
			out = append(out, b.Messages...)
		}
	}
	return out
}

// waitDelivered waits until trigger has at least n delivered messages.
func (a *whiskAPI) waitDelivered(t testing.TB, trigger string, n int) []map[string]any {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d messages delivered to %s", n, trigger), func() bool { return len(a.delivered(trigger)) >= n })
	return a.delivered(trigger)
}

// waitFor bounds a hang at two minutes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 2*time.Minute, what, cond)
}

// env is one test's real parts: kfake, pouchdb-server, the stand-in API.
type env struct {
	logs  *testenv.LockedBuffer // every provider's log lines
	kafka *kfake.Cluster
	pouch *testenv.PouchDB
	api   *whiskAPI
	kcl   *kgo.Client
}

func newEnv(t *testing.T, topics ...string) *env {
	t.Helper()
	e := &env{logs: &testenv.LockedBuffer{}, kafka: testenv.Kafka(t, topics...), pouch: testenv.StartPouchDB(t), api: newWhiskAPI(t)}
	var err error
	e.kcl, err = kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.kcl.Close)
	return e
}

func (e *env) options(worker string) Options {
	var w io.Writer = e.logs
	if e.logs == nil {
		e.logs = &testenv.LockedBuffer{}
		w = e.logs
	}
	if os.Getenv("KAFKAFEED_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
	}
	return Options{
		DBURL: e.pouch.URL, APIHost: e.api.srv.URL, Worker: worker, Listen: "127.0.0.1:0",
		RetryBase: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// runningProvider is a provider started by startProvider.
type runningProvider struct {
	*Provider
	brokers []string
	url     string
	cancel  context.CancelFunc
	done    chan error
}

func (e *env) start(t *testing.T, o Options) *runningProvider {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rp := &runningProvider{Provider: p, brokers: e.kafka.ListenAddrs(), url: "http://" + p.Addr(), cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- p.Run(ctx) }()
	t.Cleanup(rp.stop)
	return rp
}

func (rp *runningProvider) stop() {
	rp.cancel()
	<-rp.done
	rp.done <- nil // a second stop returns at once
}

// lifecycle calls the provider's kafkaFeedWeb endpoint as the feed action
// does and returns the status and body.
func (rp *runningProvider) lifecycle(t testing.TB, method string, body map[string]any) (int, string) {
	t.Helper()
	return rp.call(t, method, "kafkaFeedWeb", body)
}

func (rp *runningProvider) call(t testing.TB, method, action string, body map[string]any) (int, string) {
	t.Helper()
	u := rp.url + "/api/v1/web/whisk.system/messagingWeb/" + action
	var b []byte
	if method == http.MethodGet {
		q := []string{}
		for k, v := range body {
			q = append(q, k+"="+fmt.Sprint(v))
		}
		u += "?" + strings.Join(q, "&")
	} else {
		b, _ = json.Marshal(body)
	}
	resp, out := testenv.Request(t, method, u, "", string(b))
	return resp.StatusCode, string(out)
}

// createTrigger records trigger /guest/<name> on topic and waits until its
// consumer runs (assigned and positioned at the latest offset); it returns
// the uuid.
func (rp *runningProvider) createTrigger(t testing.TB, name, topic string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"triggerName": "/guest/" + name, "topic": topic, "brokers": rp.brokers, "authKey": testKey}
	for k, v := range extra {
		body[k] = v
	}
	code, uuid := rp.lifecycle(t, http.MethodPost, body)
	if code != http.StatusOK {
		t.Fatalf("create %s: %d %s", name, code, uuid)
	}
	return uuid
}

func (rp *runningProvider) waitState(t testing.TB, uuid, state string) consumerHealth {
	t.Helper()
	var h consumerHealth
	waitFor(t, "consumer "+uuid+" "+state, func() bool {
		var ok bool
		h, ok = rp.consumerHealth(t, uuid)
		return ok && h.CurrentState == state
	})
	return h
}

func (rp *runningProvider) consumerHealth(t testing.TB, uuid string) (consumerHealth, bool) {
	t.Helper()
	_, b := testenv.Request(t, http.MethodGet, rp.url+"/health", "", "")
	var h struct {
		Consumers []map[string]consumerHealth `json:"consumers"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.Consumers {
		if v, ok := c[uuid]; ok {
			return v, true
		}
	}
	return consumerHealth{}, false
}

// produce writes records synchronously.
func (e *env) produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func rec(topic, key, value string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}
