package kafka

import (
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
)

// params are the lifecycle request's parameters: the query's, then the
// JSON body's on top, as a web action receives them.
type params map[string]any

// validationError is a bad parameter; its text is upstream's, returned
// with a 400.
type validationError string

func (e validationError) Error() string { return string(e) }

// truthy is JavaScript's truthiness, which upstream's checks use.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case float64:
		return v != 0 && !math.IsNaN(v)
	}
	return true
}

// boolean is upstream's getBooleanFromArgs: true, or a string that trims
// and lowercases to "true".
func (p params) boolean(key string) bool {
	switch v := p[key].(type) {
	case bool:
		return v
	case string:
		return strings.ToLower(strings.TrimSpace(v)) == "true"
	}
	return false
}

func (p params) str(key string) string {
	s, _ := p[key].(string)
	return s
}

// brokers is upstream's validateBrokerParam: a non-empty array as is, a
// string split on commas; anything else is refused (nil).
func brokerList(v any) []string {
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	case string:
		return strings.Split(v, ",")
	}
	return nil
}

// triggerURL is upstream's getTriggerURL for "/namespace/name".
func triggerURL(apiBase, fqn string) string {
	parts := strings.Split(fqn, "/")
	ns, name := "", ""
	if len(parts) > 1 {
		ns = parts[1]
	}
	if len(parts) > 2 {
		name = parts[2]
	}
	return fmt.Sprintf("%s/api/v1/namespaces/%s/triggers/%s", apiBase, encodeURIComponent(ns), encodeURIComponent(name))
}

// encodeURIComponent escapes as JavaScript's function of that name.
func encodeURIComponent(s string) string {
	const keep = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// validateCreate is upstream's performCommonParameterValidation followed
// by the feed's own checks, in upstream's order and with its texts, then
// this provider's SASL/TLS extensions of kafkaFeed.
func validateCreate(p params, messageHub bool, apiBase string) (*Trigger, error) {
	t := &Trigger{}
	if topic, ok := p["topic"].(string); ok && topic != "" {
		t.Topic = topic
	} else {
		return nil, validationError("You must supply a 'topic' parameter.")
	}
	if !truthy(p["triggerName"]) {
		return nil, validationError("You must supply a 'triggerName' parameter.")
	}
	name, ok := p["triggerName"].(string)
	if !ok || strings.Count(name, "/") != 2 || !strings.HasPrefix(name, "/") {
		return nil, validationError("The 'triggerName' parameter must be a fully qualified trigger name, /namespace/trigger.")
	}
	t.TriggerName, t.ID = name, name
	t.IsJSONData = p.boolean("isJSONData")
	t.IsBinaryValue = p.boolean("isBinaryValue")
	if t.IsJSONData && t.IsBinaryValue {
		return nil, validationError("isJSONData and isBinaryValue cannot both be enabled.")
	}
	t.IsBinaryKey = p.boolean("isBinaryKey")
	t.AuthKey = p.str("authKey")
	t.TriggerURL = triggerURL(apiBase, name)
	t.UUID = uuid.NewString()

	if messageHub {
		return t, validateMessageHub(t, p)
	}
	if !truthy(p["brokers"]) {
		return nil, validationError("You must supply a 'brokers' parameter.")
	}
	if t.Brokers = brokerList(p["brokers"]); t.Brokers == nil {
		return nil, validationError("You must supply a 'brokers' parameter as an array of Message Hub brokers.")
	}
	return t, validateSecurity(t, p)
}

func validateMessageHub(t *Trigger, p params) error {
	t.IsMessageHub = true
	t.IsIamKey = p.boolean("isIamKey")
	if t.IsIamKey {
		return validationError("IAM API keys are not supported by this provider; use an OpenWhisk API key.")
	}
	creds := p
	if bx, ok := p["__bx_creds"].(map[string]any); ok {
		if mh, ok := bx["messagehub"].(map[string]any); ok {
			creds = mh
		}
	}
	if !truthy(creds["kafka_brokers_sasl"]) {
		return validationError("You must supply a 'kafka_brokers_sasl' parameter.")
	}
	if t.Brokers = brokerList(creds["kafka_brokers_sasl"]); t.Brokers == nil {
		return validationError("You must supply a 'kafka_brokers_sasl' parameter as an array of Message Hub brokers.")
	}
	if t.Username = creds.str("user"); t.Username == "" {
		return validationError("You must supply a 'user' parameter to authenticate with Message Hub.")
	}
	if t.Password = creds.str("password"); t.Password == "" {
		return validationError("You must supply a 'password' parameter to authenticate with Message Hub.")
	}
	if t.KafkaAdminURL = creds.str("kafka_admin_url"); t.KafkaAdminURL == "" {
		return validationError("You must supply a 'kafka_admin_url' parameter.")
	}
	// An extension: brokers whose certificate the system does not trust.
	t.SSLCA = p.str("ssl_ca")
	return nil
}

// validateSecurity reads kafkaFeed's optional security parameters:
// security_protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; SASL_PLAINTEXT
// when only user is given), sasl_mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), user, password and ssl_ca (PEM).
func validateSecurity(t *Trigger, p params) error {
	t.SecurityProto = strings.ToUpper(p.str("security_protocol"))
	t.SASLMechanism = strings.ToUpper(p.str("sasl_mechanism"))
	t.Username, t.Password, t.SSLCA = p.str("user"), p.str("password"), p.str("ssl_ca")
	if t.SecurityProto == "" && t.Username != "" {
		t.SecurityProto = "SASL_PLAINTEXT"
	}
	switch t.SecurityProto {
	case "", "PLAINTEXT", "SSL":
		if t.SASLMechanism != "" {
			return validationError("The 'sasl_mechanism' parameter needs security_protocol SASL_PLAINTEXT or SASL_SSL.")
		}
	case "SASL_PLAINTEXT", "SASL_SSL":
		if t.SASLMechanism == "" {
			t.SASLMechanism = "PLAIN"
		}
		if _, err := saslMechanism(t.SASLMechanism, "u", "p"); err != nil {
			return validationError("The 'sasl_mechanism' parameter must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
		}
		if t.Username == "" || t.Password == "" {
			return validationError("You must supply 'user' and 'password' parameters for SASL.")
		}
	default:
		return validationError("The 'security_protocol' parameter must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
	}
	if t.SSLCA != "" && t.SecurityProto != "SSL" && t.SecurityProto != "SASL_SSL" {
		return validationError("The 'ssl_ca' parameter needs security_protocol SSL or SASL_SSL.")
	}
	return nil
}

// validateUpdate is upstream's performUpdateParameterValidation: only the
// three flags can change, and at least one must be given.
func validateUpdate(p params, t *Trigger) error {
	_, j := p["isJSONData"]
	_, bv := p["isBinaryValue"]
	_, bk := p["isBinaryKey"]
	if !j && !bv && !bk {
		return validationError("At least one of isJsonData, isBinaryKey, or isBinaryValue must be supplied.")
	}
	next := *t
	if j {
		next.IsJSONData = p.boolean("isJSONData")
	}
	if bv {
		next.IsBinaryValue = p.boolean("isBinaryValue")
	}
	if next.IsJSONData && next.IsBinaryValue {
		return validationError("isJSONData and isBinaryValue cannot both be enabled.")
	}
	if bk {
		next.IsBinaryKey = p.boolean("isBinaryKey")
	}
	t.IsJSONData, t.IsBinaryValue, t.IsBinaryKey = next.IsJSONData, next.IsBinaryValue, next.IsBinaryKey
	return nil
}
