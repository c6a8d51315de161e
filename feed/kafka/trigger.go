package kafka

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
)

// Trigger is a trigger document of <DB_PREFIX>ow_kafka_triggers, with the
// fields upstream's kafkaFeedWeb/messageHubFeedWeb write, so that the stock
// feed actions and this provider can share a database. Fields upstream
// does not know are extensions (SASL and TLS of kafkaFeed) and are left
// out when empty.
type Trigger struct {
	ID            string   `json:"_id"`
	Rev           string   `json:"_rev,omitempty"`
	TriggerName   string   `json:"triggerName"`
	Topic         string   `json:"topic"`
	Brokers       []string `json:"brokers"`
	IsJSONData    bool     `json:"isJSONData"`
	IsBinaryKey   bool     `json:"isBinaryKey"`
	IsBinaryValue bool     `json:"isBinaryValue"`
	IsMessageHub  bool     `json:"isMessageHub"`
	TriggerURL    string   `json:"triggerURL"`
	UUID          string   `json:"uuid"`
	Worker        string   `json:"worker,omitempty"`
	AuthKey       string   `json:"authKey,omitempty"`
	Status        *Status  `json:"status,omitempty"`

	// messageHubFeed's credentials, as upstream stores them.
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	KafkaAdminURL string `json:"kafka_admin_url,omitempty"`
	IsIamKey      bool   `json:"isIamKey,omitempty"`
	SecurityProto string `json:"security_protocol,omitempty"`
	SASLMechanism string `json:"sasl_mechanism,omitempty"`
	SSLCA         string `json:"ssl_ca,omitempty"`
}

// Status is a trigger's state as upstream records it. DateChanged is in
// milliseconds since the epoch.
type Status struct {
	Active      bool    `json:"active"`
	DateChanged int64   `json:"dateChanged"`
	Reason      *Reason `json:"reason,omitempty"`
}

// Reason says why a trigger is disabled (upstream's kind "AUTO") or, an
// extension of this provider, why an active trigger is not consuming
// (kind "ERROR": a missing topic, an unreachable broker, a fire that is
// being retried).
type Reason struct {
	Kind       string `json:"kind"`
	StatusCode int    `json:"statusCode,omitempty"`
	Message    string `json:"message"`
}

func (t *Trigger) active() bool { return t.Status == nil || t.Status.Active }

// assignedTo is upstream's rule: a document without a worker belongs to
// worker0.
func (t *Trigger) assignedTo(worker string) bool {
	if t.Worker != "" {
		return t.Worker == worker
	}
	return worker == "worker0"
}

// consumerConfig is what a running consumer depends on: a change to it
// restarts the consumer, while a change to the status alone (written by
// the consumer itself) does not.
func (t *Trigger) consumerConfig() string {
	c := *t
	c.Rev, c.Status, c.Worker = "", nil, ""
	b, _ := json.Marshal(c)
	return string(b)
}

func nowMillis() int64 { return time.Now().UnixMilli() }

// message is one entry of the fired payload's messages array.
type message struct {
	Value     any    `json:"value"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       any    `json:"key"`
}

// encode is upstream's __getMessagePayload: the value parsed as JSON
// (isJSONData), base64 (isBinaryValue) or as text, the key as base64
// (isBinaryKey) or text. Text is UTF-8 with each invalid byte replaced by
// U+FFFD, as upstream's unicode(errors='replace'). A null key or value
// stays null.
func (t *Trigger) encode(m *kafkago.Message) message {
	out := message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	switch {
	case m.Value == nil:
	case t.IsJSONData:
		out.Value = jsonValue(m.Value)
	case t.IsBinaryValue:
		out.Value = pythonBase64(m.Value)
	default:
		out.Value = utf8Text(m.Value)
	}
	switch {
	case m.Key == nil:
	case t.IsBinaryKey:
		out.Key = pythonBase64(m.Key)
	default:
		out.Key = utf8Text(m.Key)
	}
	return out
}

// jsonValue parses v as upstream does: any JSON value, with NaN, Infinity
// and numbers that overflow a double refused; on failure the text wrapped
// in double quotes, exactly as upstream's "\"{}\"".format(value).
func jsonValue(v []byte) any {
	text := utf8Text(v)
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var parsed any
	if err := dec.Decode(&parsed); err == nil && finiteNumbers(parsed) {
		if _, err := dec.Token(); err != nil { // nothing but spaces after the value
			return parsed
		}
	}
	return `"` + text + `"`
}

func finiteNumbers(v any) bool {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return err == nil && !math.IsInf(f, 0)
	case []any:
		for _, e := range v {
			if !finiteNumbers(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range v {
			if !finiteNumbers(e) {
				return false
			}
		}
	}
	return true
}

// pythonBase64 is Python 2's str.encode("base64").strip(): standard base64
// in lines of 76 characters joined by newlines. Decoders of base64 skip
// the newlines.
func pythonBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) <= 76 {
		return s
	}
	var buf bytes.Buffer
	for len(s) > 76 {
		buf.WriteString(s[:76])
		buf.WriteByte('\n')
		s = s[76:]
	}
	buf.WriteString(s)
	return buf.String()
}

// utf8Text replaces each byte that is not part of valid UTF-8 with U+FFFD.
func utf8Text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
