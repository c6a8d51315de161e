package controller

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/docstore"
	"github.com/faasedge/faasedge/whisk"
)

// scriptedInvoker speaks the invoker side of the Kafka protocol with
// answers chosen per message, to drive the controller down paths a
// well-behaved invoker rarely takes (shrunk results, missing acks, altered
// transaction ids). It pings and writes activation records like the real
// invoker.
type scriptedInvoker struct {
	id      whisk.InvokerInstanceID
	cl      *kgo.Client
	records *kivik.DB
	answer  func(*whisk.ActivationMessage) (acks []whisk.Ack, record *whisk.Activation)
}

func startScriptedInvoker(t *testing.T, brokers []string, records *kivik.DB, answer func(*whisk.ActivationMessage) ([]whisk.Ack, *whisk.Activation)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, "invoker0"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("invoker0"),
		kgo.ConsumerGroup("invoker0"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedInvoker{id: whisk.NewInvokerInstanceID(0, 1024*whisk.MB, "0", "", nil), cl: cl, records: records, answer: answer}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // pings
		defer wg.Done()
		for ctx.Err() == nil {
			b, _ := json.Marshal(whisk.PingMessage{Name: s.id})
			cl.Produce(ctx, &kgo.Record{Topic: "health", Value: b}, nil)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { s.handle(ctx, t, r.Value) })
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); cl.Close() })
}

func (s *scriptedInvoker) handle(ctx context.Context, t *testing.T, b []byte) {
	msg, err := whisk.ParseActivationMessage(b)
	if err != nil {
		t.Errorf("scripted invoker: %v", err)
		return
	}
	acks, rec := s.answer(msg)
	if rec != nil {
		doc := whisk.NewActivationDoc(*rec, time.Now().UnixMilli())
		if _, err := s.records.Put(ctx, doc.ID, doc); err != nil {
			t.Errorf("scripted invoker: record: %v", err)
		}
	}
	for _, a := range acks {
		v, _ := json.Marshal(a)
		if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: "completed0", Value: v}).FirstErr(); err != nil && ctx.Err() == nil {
			t.Errorf("scripted invoker: ack: %v", err)
		}
	}
}

type harness struct {
	ctrl    *Controller
	api     string
	brokers []string
	records *kivik.DB
	logs    *testenv.LockedBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := docstore.Open(t.TempDir(), docstore.WithCredentials("admin", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	db := httptest.NewServer(st)
	t.Cleanup(func() { db.Close(); st.Close() })
	k := testenv.Kafka(t)
	logs := &testenv.LockedBuffer{}
	c, err := New(Config{KafkaBrokers: k.ListenAddrs(), CouchURL: db.URL, CouchUser: "admin", CouchPassword: "pw",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	api := httptest.NewServer(c.Handler())
	t.Cleanup(api.Close)
	couch, err := kivik.New("couch", db.URL, couchdb.BasicAuth("admin", "pw"), couchdb.OptionNoRequestCompression())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{ctrl: c, api: api.URL, brokers: k.ListenAddrs(), records: couch.DB("activations"), logs: logs}
}

func (h *harness) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.api+path, strings.NewReader(body))
	req.SetBasicAuth(GuestUUID, GuestKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *harness) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) status(i int) InvokerState {
	list := h.ctrl.Invokers()
	if i >= len(list) {
		return Offline
	}
	return list[i].Status
}

func activationOf(msg *whisk.ActivationMessage, result string) whisk.Activation {
	size := int64(len(result))
	return whisk.Activation{
		Namespace: msg.User.Namespace.Name, Name: msg.Action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Start: time.Now().UnixMilli(), End: time.Now().UnixMilli(),
		Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(result), Size: &size},
		Logs:     []string{}, Version: msg.Action.Version, Annotations: whisk.Annotations{},
	}
}

// TestControllerProtocol drives the controller against a scripted invoker.
func TestControllerProtocol(t *testing.T) {
	h := newHarness(t)
	const put = `{"exec":{"kind":"nodejs:default","code":"function main(p) { return p; }"}}`
	for _, name := range []string{"shrunk", "silent"} {
		if code, b := h.do(t, "PUT", "/api/v1/namespaces/_/actions/"+name, put); code != 200 {
			t.Fatalf("create %s: %d %s", name, code, b)
		}
	}

	t.Run("no invokers is 503", func(t *testing.T) {
		code, b := h.do(t, "POST", "/api/v1/namespaces/_/actions/shrunk?blocking=true", "{}")
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "unavailable") {
			t.Fatalf("%d %s", code, b)
		}
	})

	var mu sync.Mutex
	alterTransID := true
	startScriptedInvoker(t, h.brokers, h.records, func(msg *whisk.ActivationMessage) ([]whisk.Ack, *whisk.Activation) {
		id := whisk.NewInvokerInstanceID(0, 1024*whisk.MB, "0", "", nil)
		switch {
		case msg.TransID.ID == "sid_invokerHealth":
			mu.Lock()
			defer mu.Unlock()
			tid := msg.TransID
			if alterTransID { // same id, another start: not the controller's
				tid = whisk.NewTransID(msg.TransID.ID, msg.TransID.Start+1)
			}
			return []whisk.Ack{whisk.CombinedAck(tid, whisk.ShrunkResponse(msg.ActivationID), false, id)}, nil
		case msg.Action.Name == "shrunk":
			// The record goes to the database and the result ack is shrunk,
			// as when the full ack is too large for the topic.
			a := activationOf(msg, `{"from":"database"}`)
			return []whisk.Ack{whisk.CombinedAck(msg.TransID, whisk.ShrunkResponse(msg.ActivationID), false, id)}, &a
		}
		return nil, nil // silent: no ack at all
	})

	t.Run("health needs the transid echoed byte for byte", func(t *testing.T) {
		h.waitFor(t, "the altered health ack to be seen", func() bool {
			return strings.Contains(h.logs.String(), "received completion ack which has no entry")
		})
		if s := h.status(0); s != Unhealthy {
			t.Fatalf("after an altered transid the invoker is %v, want unhealthy", s)
		}
		mu.Lock()
		alterTransID = false
		mu.Unlock()
		// The next test action comes a minute later, or at once after a
		// ping that follows an Offline spell; the second is quicker to get:
		// a disabled ping then an enabled one.
		disabled, enabled := false, true
		for _, on := range []*bool{&disabled, &enabled} {
			h.ctrl.lb.pool.Ping(whisk.PingMessage{Name: whisk.NewInvokerInstanceID(0, 1024*whisk.MB, "0", "", nil), IsEnabled: on})
		}
		h.waitFor(t, "invoker0 to be up", func() bool { return h.status(0) == Healthy })
	})

	t.Run("shrunk result falls back to the database", func(t *testing.T) {
		code, b := h.do(t, "POST", "/api/v1/namespaces/_/actions/shrunk?blocking=true&result=true", `{"x":1}`)
		if code != 200 || string(b) != `{"from":"database"}` {
			t.Fatalf("%d %s", code, b)
		}
	})

	t.Run("blocking wait ends with 202 and the id", func(t *testing.T) {
		code, b := h.do(t, "POST", "/api/v1/namespaces/_/actions/silent?blocking=true&timeout=300", `{}`)
		var r struct{ ActivationID string }
		if err := json.Unmarshal(b, &r); err != nil || code != http.StatusAccepted || len(r.ActivationID) != 32 {
			t.Fatalf("%d %s", code, b)
		}
	})
}
