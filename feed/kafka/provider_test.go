package kafka

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPayloadPerFlag fires one trigger per flag combination with the same
// records, and checks each payload against upstream's encoding.
func TestPayloadPerFlag(t *testing.T) {
	e := newEnv(t, "flags")
	rp := e.start(t, e.options("worker0"))
	cases := []struct {
		name  string
		flags map[string]any
		want  []map[string]any
	}{
		{"plain", nil, []map[string]any{
			{"key": "k1", "value": `{"n":1}`},
			{"key": "k2", "value": "not json"},
			{"key": nil, "value": "bad \ufffd\ufffd utf8"},
			{"key": "\ufffdk", "value": nil},
		}},
		{"json", map[string]any{"isJSONData": true}, []map[string]any{
			{"key": "k1", "value": map[string]any{"n": 1.0}},
			{"key": "k2", "value": `"not json"`},
			{"key": nil, "value": "\"bad \ufffd\ufffd utf8\""},
			{"key": "\ufffdk", "value": nil},
		}},
		{"binary", map[string]any{"isBinaryValue": "true", "isBinaryKey": true}, []map[string]any{
			{"key": "azE=", "value": "eyJuIjoxfQ=="},
			{"key": "azI=", "value": "bm90IGpzb24="},
			{"key": nil, "value": "YmFkIP/+IHV0Zjg="},
			{"key": "/2s=", "value": nil},
		}},
	}
	uuids := map[string]string{}
	for _, c := range cases {
		uuids[c.name] = rp.createTrigger(t, c.name, "flags", c.flags)
	}
	for _, c := range cases {
		rp.waitState(t, uuids[c.name], stateRunning)
	}
	e.produce(t,
		rec("flags", "k1", `{"n":1}`),
		rec("flags", "k2", "not json"),
		rec("flags", "", "bad \xff\xfe utf8"),
		&kgo.Record{Topic: "flags", Key: []byte("\xffk")},
	)
	for _, c := range cases {
		got := e.api.waitDelivered(t, c.name, len(c.want))
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d messages delivered, want %d: %v", c.name, len(got), len(c.want), got)
		}
		for i, m := range got {
			if m["topic"] != "flags" || m["partition"] != 0.0 || m["offset"] != float64(i) {
				t.Errorf("%s: message %d at %v/%v/%v", c.name, i, m["topic"], m["partition"], m["offset"])
			}
			if !reflect.DeepEqual(m["key"], c.want[i]["key"]) || !reflect.DeepEqual(m["value"], c.want[i]["value"]) {
				t.Errorf("%s: message %d: key %#v value %#v, want key %#v value %#v", c.name, i, m["key"], m["value"], c.want[i]["key"], c.want[i]["value"])
			}
		}
	}
	if got := rp.metric(t, "kafkafeed_messages_fired_total"); got != "12" {
		t.Errorf("kafkafeed_messages_fired_total %q, want 12", got)
	}
	if got := rp.metric(t, "kafkafeed_consumers_running"); got != "3" {
		t.Errorf("kafkafeed_consumers_running %q, want 3", got)
	}
}

// metric is the value of a series of the provider's /metrics.
func (rp *runningProvider) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get(rp.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestLongBinaryValueLines checks upstream's base64 of long values: lines
// of 76 characters.
func TestLongBinaryValueLines(t *testing.T) {
	got := pythonBase64([]byte(strings.Repeat("x", 100)))
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || len(lines[0]) != 76 {
		t.Fatalf("got %q", got)
	}
}

// TestLifecycleValidation checks the lifecycle endpoint's answers to bad
// requests: upstream's texts, in upstream's order, with its status codes.
func TestLifecycleValidation(t *testing.T) {
	e := newEnv(t)
	rp := e.start(t, e.options("worker0"))
	full := func(drop string, set map[string]any) map[string]any {
		b := map[string]any{"triggerName": "/guest/v", "topic": "t", "brokers": []string{"127.0.0.1:1"}, "authKey": testKey}
		delete(b, drop)
		for k, v := range set {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name   string
		action string
		body   map[string]any
		code   int
		want   string
	}{
		{"no topic", "kafkaFeedWeb", full("topic", nil), 400, "You must supply a 'topic' parameter."},
		{"no topic nor trigger", "kafkaFeedWeb", full("topic", map[string]any{"triggerName": ""}), 400, "You must supply a 'topic' parameter."},
		{"no trigger", "kafkaFeedWeb", full("triggerName", nil), 400, "You must supply a 'triggerName' parameter."},
		{"json and binary", "kafkaFeedWeb", full("", map[string]any{"isJSONData": "TRUE ", "isBinaryValue": true}), 400, "isJSONData and isBinaryValue cannot both be enabled."},
		{"json and binary before brokers", "kafkaFeedWeb", full("brokers", map[string]any{"isJSONData": true, "isBinaryValue": true}), 400, "isJSONData and isBinaryValue cannot both be enabled."},
		{"no brokers", "kafkaFeedWeb", full("brokers", nil), 400, "You must supply a 'brokers' parameter."},
		{"empty brokers", "kafkaFeedWeb", full("", map[string]any{"brokers": []string{}}), 400, "You must supply a 'brokers' parameter as an array of Message Hub brokers."},
		{"number brokers", "kafkaFeedWeb", full("", map[string]any{"brokers": 9092}), 400, "You must supply a 'brokers' parameter as an array of Message Hub brokers."},
		{"bad key", "kafkaFeedWeb", full("", map[string]any{"authKey": "a:b"}), 401, "You are not authorized for this trigger."},
		{"no key", "kafkaFeedWeb", full("authKey", nil), 401, "You are not authorized for this trigger."},
		{"bad protocol", "kafkaFeedWeb", full("", map[string]any{"security_protocol": "TLS"}), 400, "The 'security_protocol' parameter must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."},
		{"sasl without password", "kafkaFeedWeb", full("", map[string]any{"security_protocol": "SASL_SSL", "user": "u"}), 400, "You must supply 'user' and 'password' parameters for SASL."},
		{"bad mechanism", "kafkaFeedWeb", full("", map[string]any{"user": "u", "password": "p", "sasl_mechanism": "GSSAPI"}), 400, "The 'sasl_mechanism' parameter must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."},
		{"mh no brokers", "messageHubFeedWeb", full("brokers", nil), 400, "You must supply a 'kafka_brokers_sasl' parameter."},
		{"mh bad brokers", "messageHubFeedWeb", full("", map[string]any{"kafka_brokers_sasl": true}), 400, "You must supply a 'kafka_brokers_sasl' parameter as an array of Message Hub brokers."},
		{"mh no user", "messageHubFeedWeb", full("", map[string]any{"kafka_brokers_sasl": "a:1,b:2"}), 400, "You must supply a 'user' parameter to authenticate with Message Hub."},
		{"mh no password", "messageHubFeedWeb", full("", map[string]any{"kafka_brokers_sasl": "a:1", "user": "u"}), 400, "You must supply a 'password' parameter to authenticate with Message Hub."},
		{"mh no admin url", "messageHubFeedWeb", full("", map[string]any{"kafka_brokers_sasl": "a:1", "user": "u", "password": "p"}), 400, "You must supply a 'kafka_admin_url' parameter."},
		{"mh topic first", "messageHubFeedWeb", full("topic", nil), 400, "You must supply a 'topic' parameter."},
	}
	for _, c := range cases {
		code, body := rp.call(t, http.MethodPost, c.action, c.body)
		if code != c.code || body != c.want {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, body, c.code, c.want)
		}
	}

	// A trigger that exists: READ gives upstream's body; UPDATE's checks.
	uuid := rp.createTrigger(t, "v", "nosuchtopic", map[string]any{"isJSONData": "true"})
	if len(uuid) != 36 {
		t.Fatalf("uuid %q", uuid)
	}
	code, body := rp.lifecycle(t, http.MethodGet, map[string]any{"triggerName": "/guest/v", "authKey": testKey})
	var read struct {
		Config map[string]any `json:"config"`
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &read); code != 200 || err != nil {
		t.Fatalf("READ: %d %s", code, body)
	}
	wantConfig := map[string]any{"triggerName": "/guest/v", "topic": "nosuchtopic", "isJSONData": true, "isBinaryValue": false,
		"isBinaryKey": false, "brokers": []any{rp.brokers[0]}}
	if !reflect.DeepEqual(read.Config, wantConfig) {
		t.Errorf("READ config %v, want %v", read.Config, wantConfig)
	}
	if read.Status["active"] != true || read.Status["dateChanged"] == nil || !strings.HasSuffix(read.Status["dateChangedISO"].(string), "Z") {
		t.Errorf("READ status %v", read.Status)
	}
	updates := []struct {
		body map[string]any
		code int
		want string
	}{
		{map[string]any{}, 400, "At least one of isJsonData, isBinaryKey, or isBinaryValue must be supplied."},
		{map[string]any{"isBinaryValue": true}, 400, "isJSONData and isBinaryValue cannot both be enabled."},
		{map[string]any{"authKey": "x:y", "isBinaryKey": true}, 401, "You are not authorized for this trigger."},
		{map[string]any{"isJSONData": false, "isBinaryKey": "true"}, 200, "updated trigger"},
	}
	for _, u := range updates {
		b := map[string]any{"triggerName": "/guest/v", "authKey": testKey}
		for k, v := range u.body {
			b[k] = v
		}
		if code, body := rp.lifecycle(t, http.MethodPut, b); code != u.code || body != u.want {
			t.Errorf("UPDATE %v: %d %q, want %d %q", u.body, code, body, u.code, u.want)
		}
	}
	_, body = rp.lifecycle(t, http.MethodGet, map[string]any{"triggerName": "/guest/v", "authKey": testKey})
	if !strings.Contains(body, `"isBinaryKey":true`) || !strings.Contains(body, `"isJSONData":false`) {
		t.Errorf("READ after UPDATE: %s", body)
	}
	if code, body := rp.lifecycle(t, http.MethodDelete, map[string]any{"triggerName": "/guest/v", "authKey": testKey}); code != 200 || body != "deleted trigger" {
		t.Errorf("DELETE: %d %q", code, body)
	}
	if code, body := rp.lifecycle(t, http.MethodDelete, map[string]any{"triggerName": "/guest/v", "authKey": testKey}); code != 500 || body != "Error: missing" {
		t.Errorf("second DELETE: %d %q", code, body)
	}
	if code, body := rp.lifecycle(t, http.MethodGet, map[string]any{"triggerName": "/guest/v", "authKey": testKey}); code != 500 || body != "Error: missing" {
		t.Errorf("READ of a deleted trigger: %d %q", code, body)
	}
	if code, body := rp.lifecycle(t, http.MethodPatch, map[string]any{}); code != 400 || body != "unsupported lifecycleEvent" {
		t.Errorf("PATCH: %d %q", code, body)
	}
}
