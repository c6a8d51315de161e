package kafkafeed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// feedTrigger creates trigger through the feed on topic (plain data) and,
// when action is not empty, an echo action and the rule R<trigger> from
// the trigger to it; it waits until the consumer runs and returns its
// uuid.
func feedTrigger(t testing.TB, s *standalone.Stack, c *whisk.Client, trigger, topic, action string) string {
	t.Helper()
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: trigger, Annotations: whisk.KeyValueArr{{Key: "feed", Value: "/whisk.system/messaging/kafkaFeed"}}}, false); err != nil {
		t.Fatal(err)
	}
	res := feed(t, c, "CREATE", trigger, map[string]any{"topic": topic, "brokers": s.KafkaBrokers()})
	uuid, _ := res["uuid"].(string)
	if len(uuid) != 36 {
		t.Fatalf("CREATE %s: %v", trigger, res)
	}
	if action != "" {
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: action, Exec: &whisk.Exec{Kind: "nodejs:20", Code: &[]string{echo}[0]}}, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Rules.Insert(&whisk.Rule{Name: "R" + trigger, Trigger: "/_/" + trigger, Action: "/_/" + action}, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, trigger+"'s consumer running", func() bool { return consumerRunning(t, s, uuid) })
	return uuid
}

// produce writes records to the embedded broker in one request.
func produce(t testing.TB, s *standalone.Stack, rs ...*kgo.Record) {
	t.Helper()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaBrokers()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kcl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed is the offset the consumer group of trigger (its document id,
// /<namespace>/<trigger>) has committed on partition 0 of topic (-1 when
// none).
func committed(t testing.TB, s *standalone.Stack, trigger, topic string) int64 {
	t.Helper()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaBrokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, "/guest/"+trigger)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// fires is how many fires the provider's /metrics counts answered with
// code since it started.
func fires(t testing.TB, s *standalone.Stack, code int) int {
	t.Helper()
	_, b := testenv.Request(t, http.MethodGet, s.FeedEndpoint()+"/metrics", "", "")
	prefix := fmt.Sprintf("kafkafeed_fires_total{code=%q} ", fmt.Sprint(code))
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("metrics: %q", line)
			}
			return n
		}
	}
	return 0
}

// msg is the payload entry of a plain (not JSON, not binary) message.
func msg(topic string, offset int, key, value string) map[string]any {
	return map[string]any{"topic": topic, "partition": 0.0, "offset": float64(offset), "key": key, "value": value}
}

// TestBatchingThroughStandalone: messages produced together are fired as
// one trigger activation up to the payload limit, the rest overflows to
// the next batch, and a single message over the limit is skipped; the
// rule's action gets each batch exactly.
func TestBatchingThroughStandalone(t *testing.T) {
	// 1000 bytes hold three of these 250-byte messages (about 310 bytes of
	// JSON each) but not four, nor the 1200-byte one alone.
	s := startStackWith(t, standalone.Config{FeedPayloadLimit: 1000})
	c := client(t, s)
	feedTrigger(t, s, c, "Tbatch", "batch", "Abatch")

	small := func(i int) string { return fmt.Sprintf("%03d", i) + strings.Repeat("s", 247) }
	var rs []*kgo.Record
	for i := range 5 {
		rs = append(rs, &kgo.Record{Topic: "batch", Key: []byte(fmt.Sprint("k", i)), Value: []byte(small(i))})
	}
	rs = append(rs, &kgo.Record{Topic: "batch", Key: []byte("big"), Value: bytes.Repeat([]byte("b"), 1200)},
		&kgo.Record{Topic: "batch", Key: []byte("k6"), Value: []byte(small(6))})
	produce(t, s, rs...)

	want := [][]map[string]any{
		{msg("batch", 0, "k0", small(0)), msg("batch", 1, "k1", small(1)), msg("batch", 2, "k2", small(2))},
		{msg("batch", 3, "k3", small(3)), msg("batch", 4, "k4", small(4))},
		{msg("batch", 6, "k6", small(6))},
	}
	var got [][]map[string]any
	waitFor(t, "three batches", func() bool { got = batchesOf(t, c, "Abatch"); return len(got) >= len(want) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the action got batches %v\nwant %v", got, want)
	}
	waitFor(t, "the skipped message committed", func() bool { return committed(t, s, "Tbatch", "batch") == 7 })
	if n := fires(t, s, http.StatusAccepted); n != len(want) {
		t.Errorf("%d fires, want %d (the oversized message is never fired)", n, len(want))
	}
}

// TestNoActiveRuleCommits: with the trigger's only rule disabled the
// controller answers the fire 204; the provider commits, so the message is
// not fired again when the rule is enabled, and the next one is.
func TestNoActiveRuleCommits(t *testing.T) {
	s := startStack(t)
	c := client(t, s)
	feedTrigger(t, s, c, "Tidle", "idle", "Aidle")
	if _, _, err := c.Rules.SetState("RTidle", "inactive"); err != nil {
		t.Fatal(err)
	}
	produce(t, s, &kgo.Record{Topic: "idle", Key: []byte("k"), Value: []byte("unheard")})
	waitFor(t, "the unheard message committed", func() bool { return committed(t, s, "Tidle", "idle") == 1 })
	if n := fires(t, s, http.StatusNoContent); n != 1 {
		t.Errorf("%d fires answered 204, want 1", n)
	}

	if _, _, err := c.Rules.SetState("RTidle", "active"); err != nil {
		t.Fatal(err)
	}
	produce(t, s, &kgo.Record{Topic: "idle", Key: []byte("k"), Value: []byte("heard")})
	var got []map[string]any
	waitFor(t, "the rule's action", func() bool { got = messagesOf(t, c, "Aidle"); return len(got) > 0 })
	// The activations are listed once recorded: wait for the commit of the
	// second message, after which nothing more can be fired.
	waitFor(t, "the heard message committed", func() bool { return committed(t, s, "Tidle", "idle") == 2 })
	got = messagesOf(t, c, "Aidle")
	if want := []map[string]any{msg("idle", 1, "k", "heard")}; !reflect.DeepEqual(got, want) {
		t.Errorf("the action got %v, want %v", got, want)
	}
	if n := fires(t, s, http.StatusAccepted); n != 1 {
		t.Errorf("%d fires answered 202, want 1", n)
	}
}

// TestDisabledByController: a trigger deleted through the REST API behind
// the provider's back (404), one whose stored key the controller refuses
// (401) and one whose stored key is another namespace's (403) are
// disabled, with the reason readable through the feed's
// READ as `wsk trigger get` shows it. The stack runs on pouchdb-server so
// that the test can edit documents as an operator would.
func TestDisabledByController(t *testing.T) {
	db := testenv.StartPouchDB(t)
	s := startStackWith(t, standalone.Config{CouchURL: db.URL})
	c := client(t, s)

	gone := feedTrigger(t, s, c, "Tgone", "gone", "")
	if _, _, err := c.Triggers.Delete("Tgone"); err != nil {
		t.Fatal(err)
	}
	produce(t, s, &kgo.Record{Topic: "gone", Value: []byte("to nobody")})
	waitFor(t, "Tgone disabled", func() bool { return healthOf(t, s, gone).DesiredState == "Disabled" })
	// The user creates the trigger again (not through the feed) and reads
	// it: the feed's READ needs a trigger the caller may read.
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: "Tgone", Annotations: whisk.KeyValueArr{{Key: "feed", Value: "/whisk.system/messaging/kafkaFeed"}}}, false); err != nil {
		t.Fatal(err)
	}
	checkDisabled(t, c, "Tgone", 404)

	// Another namespace's subject, added as an operator would: its key is
	// valid but may not fire guest's triggers.
	putDoc(t, db.URL+"/"+fw.DatabasesFor("").Subjects+"/other", func(doc map[string]any) {
		doc["subject"] = "other"
		doc["namespaces"] = []map[string]string{{"name": "other", "uuid": otherUUID, "key": "other-key-other-key"}}
	})
	guestUUID, _, _ := strings.Cut(controller.GuestAuth, ":")
	for _, tc := range []struct {
		trigger, authKey string
		code             int
	}{
		{"Tbadkey", guestUUID + ":not-the-key", http.StatusUnauthorized},
		{"Tforeign", otherUUID + ":other-key-other-key", http.StatusForbidden},
	} {
		uuid := feedTrigger(t, s, c, tc.trigger, tc.trigger, "")
		// A first message, fired with the right key (204: no rule),
		// positions the group so that the consumer restarted on the edit
		// reads the next.
		produce(t, s, &kgo.Record{Topic: tc.trigger, Value: []byte("first")})
		waitFor(t, tc.trigger+"'s first message committed", func() bool { return committed(t, s, tc.trigger, tc.trigger) == 1 })
		putDoc(t, db.URL+"/ow_kafka_triggers/"+url.PathEscape("/guest/"+tc.trigger), func(doc map[string]any) { doc["authKey"] = tc.authKey })
		produce(t, s, &kgo.Record{Topic: tc.trigger, Value: []byte("second")})
		waitFor(t, tc.trigger+" disabled", func() bool { return healthOf(t, s, uuid).DesiredState == "Disabled" })
		checkDisabled(t, c, tc.trigger, tc.code)
	}
	for _, code := range []int{http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden} {
		if n := fires(t, s, code); n != 1 {
			t.Errorf("%d fires answered %d, want 1 (a disabled trigger is not fired again)", n, code)
		}
	}
}

const otherUUID = "6c9f6a5e-2b1d-4c43-9e4e-0a9c5b0f7d21"

// checkDisabled reads trigger through the feed and checks it is disabled
// with upstream's reason for code.
func checkDisabled(t testing.TB, c *whisk.Client, trigger string, code int) {
	t.Helper()
	var read map[string]any
	waitFor(t, trigger+" disabled in its document", func() bool {
		read = feed(t, c, "READ", trigger, nil)
		st, _ := read["status"].(map[string]any)
		return st["active"] == false
	})
	want := map[string]any{"kind": "AUTO", "statusCode": float64(code),
		"message": fmt.Sprintf("Automatically disabled after receiving a %d status code when firing the trigger.", code)}
	if got := read["status"].(map[string]any)["reason"]; !reflect.DeepEqual(got, want) {
		t.Errorf("READ %s: reason %v, want %v", trigger, got, want)
	}
}

// putDoc writes the document at u (a CouchDB document URL) after edit,
// which gets the current one (empty when there is none).
func putDoc(t testing.TB, u string, edit func(map[string]any)) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{}
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&doc)
	}
	resp.Body.Close()
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound) {
		t.Fatalf("get %s: %d %v", u, resp.StatusCode, err)
	}
	edit(doc)
	b, _ := json.Marshal(doc)
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("put %s: %s", u, resp.Status)
	}
}

// TestProviderRestartThroughStandalone: the provider restarted alone
// inside a running standalone resumes from its commits: a message
// produced while it restarts is fired, and none already fired is fired
// again, also when it restarts in the middle of a stream.
func TestProviderRestartThroughStandalone(t *testing.T) {
	s := startStack(t)
	c := client(t, s)
	uuid := feedTrigger(t, s, c, "Tboot", "boot", "Aboot")
	produce(t, s, &kgo.Record{Topic: "boot", Key: []byte("k"), Value: []byte("before")})
	waitFor(t, "the first message committed", func() bool { return committed(t, s, "Tboot", "boot") == 1 })

	if err := s.RestartKafkaFeed(context.Background()); err != nil {
		t.Fatal(err)
	}
	produce(t, s, &kgo.Record{Topic: "boot", Key: []byte("k"), Value: []byte("during")})
	waitFor(t, "the consumer running again", func() bool { return consumerRunning(t, s, uuid) })
	produce(t, s, &kgo.Record{Topic: "boot", Key: []byte("k"), Value: []byte("after")})
	waitFor(t, "all committed", func() bool { return committed(t, s, "Tboot", "boot") == 3 })

	// A restart while messages stream in: each is fired exactly once, the
	// fires under way when the provider stops included.
	const streamed = 40
	kcl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaBrokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	produced := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for i := range streamed {
			if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: "boot", Key: []byte("k"), Value: []byte(fmt.Sprint("s", i))}).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(50 * time.Millisecond) // spreads the stream over the restart
		}
		produced <- nil
	}()
	waitFor(t, "part of the stream committed", func() bool { return committed(t, s, "Tboot", "boot") > 3+streamed/4 })
	if err := s.RestartKafkaFeed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream committed", func() bool { return committed(t, s, "Tboot", "boot") == 3+streamed })

	want := []map[string]any{msg("boot", 0, "k", "before"), msg("boot", 1, "k", "during"), msg("boot", 2, "k", "after")}
	for i := range streamed {
		want = append(want, msg("boot", 3+i, "k", fmt.Sprint("s", i)))
	}
	var got []map[string]any
	waitFor(t, "the rule's action", func() bool { got = messagesOf(t, c, "Aboot"); return len(got) >= len(want) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the action got %v, want %v", got, want)
	}
}
