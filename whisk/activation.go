package whisk

import "encoding/json"

// ActivationResponse is an activation's outcome.
type ActivationResponse struct {
	StatusCode StatusCode      `json:"statusCode"`
	Result     json.RawMessage `json:"result,omitempty"`
	Size       *int64          `json:"size,omitempty"`
}

// ErrorResponse makes {"error": msg} with the given status code.
func ErrorResponse(code StatusCode, msg string) ActivationResponse {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return ActivationResponse{StatusCode: code, Result: b}
}

// KeyValue is one annotation or parameter.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// Annotations is an ordered list of key/value pairs.
type Annotations []KeyValue

// Set replaces key's value or appends it.
func (a *Annotations) Set(key string, value any) {
	b, err := json.Marshal(value)
	if err != nil {
		b = []byte("null")
	}
	for i := range *a {
		if (*a)[i].Key == key {
			(*a)[i].Value = b
			return
		}
	}
	*a = append(*a, KeyValue{Key: key, Value: b})
}

// Get returns key's raw value.
func (a Annotations) Get(key string) (json.RawMessage, bool) {
	for _, kv := range a {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Truthy is OpenWhisk's reading of an annotation as a flag: missing gives
// def; false, null, 0 and "" are false.
func (a Annotations) Truthy(key string, def bool) bool {
	v, ok := a.Get(key)
	if !ok {
		return def
	}
	switch string(v) {
	case "false", "null", "0", `""`:
		return false
	}
	return true
}

// Activation is WhiskActivation as acks carry it (no _id, entityType or
// updated); ActivationDoc adds those for the database.
type Activation struct {
	Namespace    string             `json:"namespace"`
	Name         string             `json:"name"`
	Subject      string             `json:"subject"`
	ActivationID string             `json:"activationId"`
	Start        int64              `json:"start"`
	End          int64              `json:"end"`
	Cause        string             `json:"cause,omitempty"`
	Response     ActivationResponse `json:"response"`
	Logs         []string           `json:"logs"`
	Version      string             `json:"version"`
	Publish      bool               `json:"publish"`
	Annotations  Annotations        `json:"annotations"`
	Duration     *int64             `json:"duration,omitempty"`
}

// ActivationDoc is the record in the activations database, _id
// "<user namespace>/<activationId>".
type ActivationDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	EntityType string `json:"entityType"`
	Updated    int64  `json:"updated"`
	Activation
}

// ActivationDocID is the record id the controller polls.
func ActivationDocID(userNamespace, activationID string) string {
	return userNamespace + "/" + activationID
}

// NewActivationDoc wraps a for the database.
func NewActivationDoc(a Activation, updatedMillis int64) ActivationDoc {
	if a.Logs == nil {
		a.Logs = []string{}
	}
	return ActivationDoc{ID: ActivationDocID(a.Namespace, a.ActivationID), EntityType: "activation", Updated: updatedMillis, Activation: a}
}
