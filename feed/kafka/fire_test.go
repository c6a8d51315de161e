package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/internal/testenv"
)

// committed is the group's committed offset of partition 0 of topic (-1
// when none).
func (e *env) committed(group, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(e.kcl).FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	if o, ok := resp.Lookup(topic, 0); ok {
		return o.At, nil
	}
	return -1, nil
}

func (e *env) waitCommitted(t testing.TB, group, topic string, want int64) {
	t.Helper()
	var got int64
	var err error
	waitFor(t, fmt.Sprintf("%s committed %d on %s", group, want, topic), func() bool {
		got, err = e.committed(group, topic)
		return err == nil && got == want
	})
}

func values(msgs []map[string]any) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprint(m["value"])
	}
	return out
}

func statuses(bs []firedBatch) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = b.status
	}
	return out
}

// readStatus is the status of trigger /guest/<name> as READ gives it.
func (rp *runningProvider) readStatus(t testing.TB, name string) map[string]any {
	t.Helper()
	code, body := rp.lifecycle(t, http.MethodGet, map[string]any{"triggerName": "/guest/" + name, "authKey": testKey})
	if code != http.StatusOK {
		t.Fatalf("READ %s: %d %s", name, code, body)
	}
	var r struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// TestFireOutcomes drives one trigger per answer of the fire endpoint.
func TestFireOutcomes(t *testing.T) {
	e := newEnv(t, "fire")
	rp := e.start(t, e.options("worker0"))
	type outcome struct {
		script   []int
		first    int   // attempts for the first message
		statuses []int // of every attempt
		disabled int   // status code the trigger is disabled with
	}
	cases := map[string]outcome{
		"ok200":     {nil, 1, []int{200, 200}, 0},
		"ok204":     {[]int{204, 204}, 1, []int{204, 204}, 0},
		"gone404":   {[]int{404}, 1, []int{404}, 404},
		"unauth401": {[]int{401}, 1, []int{401}, 401},
		"deny403":   {[]int{403}, 1, []int{403}, 403},
		"throttled": {[]int{429, 429, 429, 429, 429, 429, 429, 429, 429}, 10, []int{429, 429, 429, 429, 429, 429, 429, 429, 429, 200, 200}, 0},
		"busy":      {[]int{503, 502, 408, 409}, 5, []int{503, 502, 408, 409, 200, 200}, 0},
		// More failed attempts than the six retries of a 5xx: kept anyway.
		"down": {[]int{-1, -1, -1, -1, -1, -1, -1, -1}, 9, []int{-1, -1, -1, -1, -1, -1, -1, -1, 200, 200}, 0},
		"skip": {[]int{500, 500, 500, 500, 500, 500, 500}, 7, []int{500, 500, 500, 500, 500, 500, 500, 200}, 0},
	}
	uuids := map[string]string{}
	for name, c := range cases {
		e.api.setScript(name, c.script...)
		uuids[name] = rp.createTrigger(t, name, "fire", nil)
	}
	for name := range cases {
		rp.waitState(t, uuids[name], stateRunning)
	}
	e.produce(t, rec("fire", "", "first"))
	// One batch per trigger first, so the second message is its own batch.
	for name, c := range cases {
		waitFor(t, name+" first outcome", func() bool { return len(e.api.batches(name)) >= c.first })
	}
	e.produce(t, rec("fire", "", "second"))
	for name, c := range cases {
		if c.disabled != 0 {
			st := rp.readStatus(t, name)
			want := map[string]any{"kind": "AUTO", "statusCode": float64(c.disabled),
				"message": fmt.Sprintf("Automatically disabled after receiving a %d status code when firing the trigger.", c.disabled)}
			if st["active"] != false || !reflect.DeepEqual(st["reason"], want) {
				t.Errorf("%s: status %v, want inactive with reason %v", name, st, want)
			}
			rp.waitState(t, uuids[name], stateDisabled)
			continue
		}
		waitFor(t, name+" outcomes", func() bool { return len(e.api.batches(name)) >= len(c.statuses) })
		want := []string{"first", "second"}
		if name == "skip" {
			want = []string{"second"} // the first was skipped after six retries
		}
		if got := values(e.api.delivered(name)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: delivered %v, want %v", name, got, want)
		}
		e.waitCommitted(t, "/guest/"+name, "fire", 2)
	}
	// The key is in no log line and not in /health.
	_, secret, _ := strings.Cut(testKey, ":")
	resp, err := http.Get(rp.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(e.logs.String(), secret) || strings.Contains(string(health), secret) || e.logs.String() == "" {
		t.Errorf("the auth key leaked (or nothing was logged): logs %d bytes, health %s", len(e.logs.String()), health)
	}
	// Only now, after "second" reached every live trigger: the disabled
	// ones fired once and never again.
	for name, c := range cases {
		if got := statuses(e.api.batches(name)); !reflect.DeepEqual(got, c.statuses) {
			t.Errorf("%s: attempts answered %v, want %v", name, got, c.statuses)
		}
	}
}

// TestBatching checks the payload limit: batches stay under it, a message
// that would overflow goes to the next batch, and a single message over it
// is skipped and committed.
func TestBatching(t *testing.T) {
	e := newEnv(t, "batch")
	o := e.options("worker0")
	o.PayloadLimit = 1000
	rp := e.start(t, o)
	rp.waitState(t, rp.createTrigger(t, "b", "batch", nil), stateRunning)
	var recs []*kgo.Record
	var want []string
	for i := range 7 {
		v := fmt.Sprintf("%d-%s", i, strings.Repeat("v", 300))
		want = append(want, v)
		recs = append(recs, rec("batch", "", v))
	}
	e.produce(t, recs...)
	e.api.waitDelivered(t, "b", len(want))
	e.produce(t, rec("batch", "", strings.Repeat("x", 2000)))
	e.waitCommitted(t, "/guest/b", "batch", 8)
	e.produce(t, rec("batch", "", "after"))
	got := e.api.waitDelivered(t, "b", len(want)+1)
	if !reflect.DeepEqual(values(got), append(want, "after")) {
		t.Fatalf("delivered %v", values(got))
	}
	bs := e.api.batches("b")
	if len(bs) < 4 {
		t.Errorf("%d batches for 7 messages of ~370 bytes under a 1000-byte limit", len(bs))
	}
	for i, b := range bs {
		size := 0
		for _, m := range b.Messages {
			j, _ := json.Marshal(m)
			size += len(j)
		}
		if size > 1000 {
			t.Errorf("batch %d: %d bytes of messages", i, size)
		}
	}
	e.waitCommitted(t, "/guest/b", "batch", 9)
}

// TestMissingTopic shows a missing topic in READ and /health, then
// consumes once the topic exists.
func TestMissingTopic(t *testing.T) {
	e := newEnv(t)
	rp := e.start(t, e.options("worker0"))
	uuid := rp.createTrigger(t, "m", "later", nil)
	waitFor(t, "reason in READ", func() bool {
		r, _ := rp.readStatus(t, "m")["reason"].(map[string]any)
		return r != nil && strings.Contains(fmt.Sprint(r["message"]), `topic "later" does not exist`)
	})
	if h, _ := rp.consumerHealth(t, uuid); !strings.Contains(h.Reason, "does not exist") || h.CurrentState != stateInitializing {
		t.Errorf("health %+v", h)
	}
	// A topic that appeared after the trigger is read from its start: the
	// first message, produced before the consumer notices the topic, is
	// not lost.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(e.kcl).CreateTopic(ctx, 1, 1, nil, "later"); err != nil {
		t.Fatal(err)
	}
	e.produce(t, rec("later", "", "first"))
	rp.waitState(t, uuid, stateRunning)
	if st := rp.readStatus(t, "m"); st["reason"] != nil || st["active"] != true {
		t.Errorf("status after the topic appeared: %v", st)
	}
	e.produce(t, rec("later", "", "hello"))
	if got := values(e.api.waitDelivered(t, "m", 2)); !reflect.DeepEqual(got, []string{"first", "hello"}) {
		t.Fatalf("delivered %v", got)
	}
}

// TestDeleteAndRecreate: a deleted trigger's consumer stops; one deleted
// and created again at once fires exactly once per message.
func TestDeleteAndRecreate(t *testing.T) {
	e := newEnv(t, "d")
	rp := e.start(t, e.options("worker0"))
	gone := rp.createTrigger(t, "gone", "d", nil)
	again := rp.createTrigger(t, "again", "d", nil)
	control := rp.createTrigger(t, "control", "d", nil)
	for _, u := range []string{gone, again, control} {
		rp.waitState(t, u, stateRunning)
	}
	for _, name := range []string{"gone", "again"} {
		if code, body := rp.lifecycle(t, http.MethodDelete, map[string]any{"triggerName": "/guest/" + name, "authKey": testKey}); code != 200 {
			t.Fatalf("delete %s: %d %s", name, code, body)
		}
	}
	again2 := rp.createTrigger(t, "again", "d", nil)
	waitFor(t, "deleted consumer gone from /health", func() bool {
		_, ok := rp.consumerHealth(t, gone)
		_, ok2 := rp.consumerHealth(t, again)
		return !ok && !ok2
	})
	rp.waitState(t, again2, stateRunning)
	e.produce(t, rec("d", "", "one"), rec("d", "", "two"))
	e.api.waitDelivered(t, "control", 2)
	if got := values(e.api.waitDelivered(t, "again", 2)); !reflect.DeepEqual(got, []string{"one", "two"}) {
		t.Errorf("recreated trigger got %v", got)
	}
	e.produce(t, rec("d", "", "three"))
	e.api.waitDelivered(t, "control", 3)
	e.api.waitDelivered(t, "again", 3)
	if n := len(e.api.batches("gone")); n != 0 {
		t.Errorf("deleted trigger fired %d times", n)
	}
	if got := values(e.api.delivered("again")); len(got) != 3 {
		t.Errorf("recreated trigger got %v", got)
	}
}

// TestRestarts: the broker restarts mid-stream, then the provider; every
// message is delivered once (messages produced while the provider was down
// included).
func TestRestarts(t *testing.T) {
	dir := t.TempDir()
	port := testenv.FreePort(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(1, "r")}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kafka: cluster, pouch: testenv.StartPouchDB(t), api: newWhiskAPI(t)}
	if e.kcl, err = kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.kcl.Close(); e.kafka.Close() })
	rp := e.start(t, e.options("worker0"))
	rp.waitState(t, rp.createTrigger(t, "r", "r", nil), stateRunning)
	e.produce(t, rec("r", "", "m1"))
	e.api.waitDelivered(t, "r", 1)

	e.kafka.Close()
	if e.kafka, err = kfake.NewCluster(opts...); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	e.produce(t, rec("r", "", "m2"))
	e.api.waitDelivered(t, "r", 2)
	e.waitCommitted(t, "/guest/r", "r", 2)

	rp.stop()
	e.produce(t, rec("r", "", "m3"), rec("r", "", "m4"))
	rp2 := e.start(t, e.options("worker0"))
	_ = rp2
	e.api.waitDelivered(t, "r", 4)
	e.produce(t, rec("r", "", "m5"))
	got := e.api.waitDelivered(t, "r", 5)
	if !reflect.DeepEqual(values(got), []string{"m1", "m2", "m3", "m4", "m5"}) {
		t.Fatalf("delivered %v", values(got))
	}
}

// TestTwoWorkers: two providers share the database; new triggers go to
// the less loaded worker and each provider runs only its own.
func TestTwoWorkers(t *testing.T) {
	e := newEnv(t, "w")
	o0, o1 := e.options("worker0"), e.options("worker1")
	o0.Workers = []string{"worker0", "worker1"}
	o1.Workers = o0.Workers
	o1.Instance = "messageHubTrigger-1"
	p0, p1 := e.start(t, o0), e.start(t, o1)
	a := p0.createTrigger(t, "a", "w", nil)
	p0.waitState(t, a, stateRunning)
	b := p1.createTrigger(t, "b", "w", nil)
	p1.waitState(t, b, stateRunning)
	if _, ok := p0.consumerHealth(t, b); ok {
		t.Error("worker0 runs the trigger assigned to worker1")
	}
	if _, ok := p1.consumerHealth(t, a); ok {
		t.Error("worker1 runs the trigger assigned to worker0")
	}
	e.produce(t, rec("w", "", "x"))
	e.api.waitDelivered(t, "a", 1)
	e.api.waitDelivered(t, "b", 1)
}

// TestCouchDownAndBack: consumers keep firing while CouchDB is down; when
// it is back (here empty: pouchdb-server runs in memory) the provider
// recreates the database and follows its changes again.
func TestCouchDownAndBack(t *testing.T) {
	e := newEnv(t, "c")
	rp := e.start(t, e.options("worker0"))
	rp.waitState(t, rp.createTrigger(t, "before", "c", nil), stateRunning)
	e.pouch.Stop()
	e.produce(t, rec("c", "", "while down"))
	if got := values(e.api.waitDelivered(t, "before", 1)); !reflect.DeepEqual(got, []string{"while down"}) {
		t.Fatalf("delivered %v", got)
	}
	e.pouch.Restart(t)
	var uuid string
	waitFor(t, "a trigger created after CouchDB came back", func() bool {
		code, body := rp.lifecycle(t, http.MethodPost, map[string]any{"triggerName": "/guest/after", "topic": "c", "brokers": rp.brokers, "authKey": testKey})
		uuid = body
		return code == http.StatusOK
	})
	rp.waitState(t, uuid, stateRunning)
	e.produce(t, rec("c", "", "after"))
	if got := values(e.api.waitDelivered(t, "after", 1)); !reflect.DeepEqual(got, []string{"after"}) {
		t.Fatalf("delivered %v", got)
	}
	if got := values(e.api.waitDelivered(t, "before", 2)); !reflect.DeepEqual(got, []string{"while down", "after"}) {
		t.Fatalf("the first trigger got %v", got)
	}
}

// TestUpdateRestartsConsumer: UPDATE (upstream disables the document, then
// writes it active with the new flags) restarts the consumer with the new
// encoding, from where the old one stopped.
func TestUpdateRestartsConsumer(t *testing.T) {
	e := newEnv(t, "u")
	rp := e.start(t, e.options("worker0"))
	uuid := rp.createTrigger(t, "u", "u", nil)
	rp.waitState(t, uuid, stateRunning)
	e.produce(t, rec("u", "", `{"a":1}`))
	e.api.waitDelivered(t, "u", 1)
	if code, body := rp.lifecycle(t, http.MethodPut, map[string]any{"triggerName": "/guest/u", "authKey": testKey, "isJSONData": true}); code != 200 {
		t.Fatalf("UPDATE: %d %s", code, body)
	}
	waitFor(t, "the consumer running with the new flags", func() bool {
		h, ok := rp.consumerHealth(t, uuid)
		rp.mu.Lock()
		c := rp.consumers["/guest/u"]
		rp.mu.Unlock()
		return ok && h.CurrentState == stateRunning && c != nil && c.t.IsJSONData
	})
	e.produce(t, rec("u", "", `{"a":2}`))
	got := e.api.waitDelivered(t, "u", 2)
	if len(got) != 2 || got[0]["value"] != `{"a":1}` || !reflect.DeepEqual(got[1]["value"], map[string]any{"a": 2.0}) {
		t.Fatalf("delivered %v", got)
	}
}
