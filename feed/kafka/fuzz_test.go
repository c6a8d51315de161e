package kafka

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

// FuzzEncode feeds message keys and values, which come from anyone who can
// produce to the topic, through every flag: the payload must always be
// JSON, and never panic.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{`{"n":1}`, `[1e999]`, `NaN`, "\xff\xfe", `"str"`, ` 1 `, `{"a":`, strings76()} {
		f.Add([]byte(s), []byte("k"))
	}
	f.Fuzz(func(t *testing.T, value, key []byte) {
		for _, tr := range []Trigger{{}, {IsJSONData: true}, {IsBinaryValue: true, IsBinaryKey: true}} {
			m := tr.encode(&kafkago.Message{Topic: "t", Value: value, Key: key})
			b, err := json.Marshal(m)
			if err != nil || !json.Valid(b) {
				t.Fatalf("flags %+v: payload %q: %v", tr, b, err)
			}
		}
	})
}

func strings76() string { return string(bytes.Repeat([]byte("ab"), 60)) }

// FuzzLifecycleParams feeds request bodies to the lifecycle endpoint's
// parsing and validation, which anyone who can reach the provider calls.
func FuzzLifecycleParams(f *testing.F) {
	for _, s := range []string{
		`{"triggerName":"/ns/t","topic":"x","brokers":["a:1"],"authKey":"u:k"}`,
		`{"triggerName":"/ns/t","topic":"x","kafka_brokers_sasl":"a,b","user":"u","password":"p","kafka_admin_url":"x"}`,
		`{"topic":["x"],"brokers":[1,2],"isJSONData":"TRUE"}`, `[]`, `{"__bx_creds":{"messagehub":{}}}`, ``,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, messageHub bool) {
		r := httptest.NewRequest("POST", "/api/v1/web/whisk.system/messagingWeb/kafkaFeedWeb?topic=q", bytes.NewReader(body))
		prm, err := readParams(r)
		if err != nil {
			return
		}
		tr, err := validateCreate(prm, messageHub, "https://host")
		if err == nil && (tr.Topic == "" || len(tr.Brokers) == 0 || tr.UUID == "") {
			t.Fatalf("accepted an incomplete trigger: %+v", tr)
		}
		_ = validateUpdate(prm, &Trigger{})
	})
}
