// Package kafkafeed_test drives Kafka-triggered functions end to end
// through `faasedge standalone`: the REST API and the real invokers, the
// feed actions on the JS runner, the provider on the stack's store, and
// the embedded broker; with openwhisk-client-go, and with the stock wsk
// CLI plus kcat as a user would.
package kafkafeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/feed/kafka"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/standalone/controller"
)

func startStack(t testing.TB) *standalone.Stack {
	t.Helper()
	return startStackWith(t, standalone.Config{})
}

// startStackWith starts a standalone with cfg on a fresh data directory
// and loopback ports.
func startStackWith(t testing.TB, cfg standalone.Config) *standalone.Stack {
	t.Helper()
	cfg.DataDir, cfg.APIAddr = t.TempDir(), "127.0.0.1:0"
	if os.Getenv("KAFKAFEED_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return testenv.StartServer(t, func(ctx context.Context) (*standalone.Stack, error) { return standalone.Start(ctx, cfg) })
}

func client(t testing.TB, s *standalone.Stack) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 90 * time.Second},
		&whisk.Config{Host: s.APIHost(), AuthToken: controller.GuestAuth, Namespace: "_"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor bounds a hang at three minutes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 3*time.Minute, what, cond)
}

// consumerHealth is one consumer's entry in the provider's /health.
type consumerHealth struct {
	CurrentState string `json:"currentState"`
	DesiredState string `json:"desiredState"`
	Reason       string `json:"reason"`
}

// healthOf is the consumer of uuid in the provider's /health (zero when
// it is not listed).
func healthOf(t testing.TB, s *standalone.Stack, uuid string) consumerHealth {
	t.Helper()
	_, b := testenv.Request(t, http.MethodGet, s.FeedEndpoint()+"/health", "", "")
	var h struct {
		Consumers []map[string]consumerHealth `json:"consumers"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.Consumers {
		if ch, ok := c[uuid]; ok {
			return ch
		}
	}
	return consumerHealth{}
}

// consumerRunning reports whether the provider's /health shows the
// consumer of uuid running (assigned and positioned).
func consumerRunning(t testing.TB, s *standalone.Stack, uuid string) bool {
	t.Helper()
	return healthOf(t, s, uuid).CurrentState == "Running"
}

// feed invokes /whisk.system/messaging/kafkaFeed blocking as the CLI does
// for `wsk trigger create/get/update/delete --feed` and returns the result.
func feed(t testing.TB, c *whisk.Client, event, trigger string, params map[string]any) map[string]any {
	t.Helper()
	p := map[string]any{"lifecycleEvent": event, "triggerName": "/_/" + trigger, "authKey": controller.GuestAuth}
	for k, v := range params {
		p[k] = v
	}
	// As the CLI, in the action's namespace; the activation is the caller's.
	c.Namespace = "whisk.system"
	res, _, err := c.Actions.Invoke("messaging/kafkaFeed", p, true, true)
	c.Namespace = "_"
	if err != nil {
		// A feed error is an application error: the CLI reads its result.
		if werr, ok := err.(*whisk.WskError); ok && werr.ApplicationError {
			return map[string]any{"error": werr.Error()}
		}
		t.Fatalf("invoke kafkaFeed %s: %v", event, err)
	}
	out := map[string]any{}
	b, _ := json.Marshal(res)
	_ = json.Unmarshal(b, &out)
	return out
}

// batchesOf are the messages of each activation of action (whose result
// echoes its parameters), ordered by their first offset: the batches of
// one partition are fired one after the other, but their activations may
// run at the same time.
func batchesOf(t testing.TB, c *whisk.Client, action string) [][]map[string]any {
	t.Helper()
	acts, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: action, Docs: true, Limit: 200})
	if err != nil {
		t.Fatalf("list activations of %s: %v", action, err)
	}
	var out [][]map[string]any
	for i := len(acts) - 1; i >= 0; i-- {
		var r struct {
			Messages []map[string]any `json:"messages"`
		}
		b, _ := json.Marshal(acts[i].Response.Result)
		_ = json.Unmarshal(b, &r)
		out = append(out, r.Messages)
	}
	first := func(b []map[string]any) float64 {
		if len(b) == 0 {
			return -1
		}
		o, _ := b[0]["offset"].(float64)
		return o
	}
	sort.SliceStable(out, func(i, j int) bool { return first(out[i]) < first(out[j]) })
	return out
}

// messagesOf are the messages of the activations of action, oldest first.
func messagesOf(t testing.TB, c *whisk.Client, action string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range batchesOf(t, c, action) {
		out = append(out, b...)
	}
	return out
}

const echo = `function main(params) { return params; }`

// TestKafkaTriggerThroughStandalone: the feed action creates triggers
// through the provider, rules run an action for every batch with the exact
// payload of each flag, and a bad parameter gives upstream's text.
func TestKafkaTriggerThroughStandalone(t *testing.T) {
	s := startStack(t)
	c := client(t, s)
	brokers := s.KafkaBrokers()

	if got := feed(t, c, "CREATE", "bad", map[string]any{"brokers": brokers}); fmt.Sprint(got["error"]) == "" ||
		!jsonHas(got["error"], "You must supply a 'topic' parameter.") {
		t.Errorf("CREATE without a topic: %v", got)
	}

	cases := []struct {
		name  string
		flags map[string]any
		key   any
		value any
	}{
		{"plain", nil, "k", `{"n":1}`},
		{"json", map[string]any{"isJSONData": true}, "k", map[string]any{"n": 1.0}},
		{"binary", map[string]any{"isBinaryKey": true, "isBinaryValue": true}, "aw==", "eyJuIjoxfQ=="},
	}
	uuids := map[string]string{}
	for _, tc := range cases {
		trig, act := "T"+tc.name, "A"+tc.name
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: act, Exec: &whisk.Exec{Kind: "nodejs:20", Code: &[]string{echo}[0]}}, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: trig, Annotations: whisk.KeyValueArr{{Key: "feed", Value: "/whisk.system/messaging/kafkaFeed"}}}, false); err != nil {
			t.Fatal(err)
		}
		params := map[string]any{"topic": "orders", "brokers": brokers}
		for k, v := range tc.flags {
			params[k] = v
		}
		res := feed(t, c, "CREATE", trig, params)
		uuid, _ := res["uuid"].(string)
		if len(uuid) != 36 {
			t.Fatalf("CREATE %s: %v", trig, res)
		}
		uuids[tc.name] = uuid
		if _, _, err := c.Rules.Insert(&whisk.Rule{Name: "R" + tc.name, Trigger: "/_/" + trig, Action: "/_/" + act}, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		waitFor(t, tc.name+" consumer running", func() bool { return consumerRunning(t, s, uuids[tc.name]) })
	}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte("k"), Value: []byte(`{"n":1}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		var msgs []map[string]any
		waitFor(t, "the rule's action of "+tc.name, func() bool { msgs = messagesOf(t, c, "A"+tc.name); return len(msgs) > 0 })
		want := map[string]any{"topic": "orders", "partition": 0.0, "offset": 0.0, "key": tc.key, "value": tc.value}
		if len(msgs) != 1 || !reflect.DeepEqual(msgs[0], want) {
			t.Errorf("%s: the action got %v, want [%v]", tc.name, msgs, want)
		}
	}

	// READ as `wsk trigger get` does; DELETE stops the consumer.
	read := feed(t, c, "READ", "Tjson", nil)
	if cfg, _ := read["config"].(map[string]any); cfg["isJSONData"] != true || cfg["topic"] != "orders" {
		t.Errorf("READ: %v", read)
	}
	if got := feed(t, c, "DELETE", "Tjson", nil); len(got) != 0 {
		t.Errorf("DELETE: %v", got)
	}
	waitFor(t, "the deleted trigger's consumer gone", func() bool { return !consumerRunning(t, s, uuids["json"]) })
}

// jsonHas reports whether v (a string or a JSON text holding {"error": s})
// carries s.
func jsonHas(v any, s string) bool {
	text := fmt.Sprint(v)
	if text == s {
		return true
	}
	var m map[string]any
	if json.Unmarshal([]byte(text), &m) == nil {
		return jsonHas(m["error"], s)
	}
	return false
}

// TestInstallCatalogREST installs the messaging package through the REST
// API with openwhisk-client-go, as `faasedge kafkafeed --install-catalog`
// does beside a stock OpenWhisk (here into guest, the standalone's only
// key), and creates a trigger through the installed feed action.
func TestInstallCatalogREST(t *testing.T) {
	s := startStack(t)
	cat := kafka.Catalog{APIHost: s.APIHost(), AuthKey: controller.GuestAuth, Endpoint: s.FeedEndpoint(), Namespace: "guest"}
	if err := cat.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := client(t, s)
	pkg, _, err := c.Packages.Get("messaging")
	if err != nil {
		t.Fatal(err)
	}
	if got := pkg.Parameters.GetValue("endpoint"); got != s.FeedEndpoint() || pkg.Publish == nil || !*pkg.Publish {
		t.Errorf("package: endpoint %v, publish %v", got, pkg.Publish)
	}
	for _, a := range kafka.FeedActions() {
		act, _, err := c.Actions.Get("messaging/"+a.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		if act.Annotations.GetValue("feed") != true || act.Exec == nil || act.Exec.Kind != "nodejs:20" || act.Exec.Code == nil || *act.Exec.Code != a.Code {
			t.Errorf("action %s: %+v", a.Name, act)
		}
	}
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: "viaREST"}, false); err != nil {
		t.Fatal(err)
	}
	res, _, err := c.Actions.Invoke("messaging/kafkaFeed", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/viaREST",
		"authKey": controller.GuestAuth, "topic": "t", "brokers": s.KafkaBrokers()}, true, true)
	if m, _ := res.(map[string]any); err != nil || len(fmt.Sprint(m["uuid"])) != 36 {
		t.Fatalf("CREATE through the installed feed: %v %v", res, err)
	}
}
