package whisk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
)

// Sizes of the stock deployment (ActivationEntityLimit, whisk.activation).
const (
	// PayloadMax is whisk.activation.payload.max: the largest parameters
	// or result, 1 MiB.
	PayloadMax = 1 << 20
	// MaxActivationMessageBytes is MAX_ACTIVATION_LIMIT = payload max plus
	// the serdes overhead: the max.message.bytes of invoker{N} and
	// completed{C} and the max.request.size of the producers.
	MaxActivationMessageBytes = PayloadMax + 6068
)

// Topic names. prefix is whisk.kafka.topics.prefix; the events topic has a
// prefix of its own (whisk.kafka.topics.user-event.prefix).
func InvokerTopic(prefix string, instance int) string {
	return prefix + "invoker" + strconv.Itoa(instance)
}
func CompletedTopic(prefix, controller string) string { return prefix + "completed" + controller }
func HealthTopic(prefix string) string                { return prefix + "health" }
func EventsTopic(userEventPrefix string) string       { return userEventPrefix + "events" }

// FullyQualifiedEntityName is a message's action: the resolved location.
type FullyQualifiedEntityName struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Binding string `json:"binding,omitempty"`
}

// DocID is the action document's id, path/name.
func (f FullyQualifiedEntityName) DocID() string { return f.Path + "/" + f.Name }

// QualifiedName is /path/name, the __OW_ACTION_NAME form.
func (f FullyQualifiedEntityName) QualifiedName() string { return "/" + f.Path + "/" + f.Name }

// Identity is the invoking user.
type Identity struct {
	Subject   string     `json:"subject"`
	Namespace Namespace  `json:"namespace"`
	AuthKey   AuthKey    `json:"authkey"`
	Rights    []string   `json:"rights"`
	Limits    UserLimits `json:"limits"`
}

// Namespace is {name, uuid}.
type Namespace struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// AuthKey holds "uuid:key".
type AuthKey struct {
	APIKey string `json:"api_key"`
}

// UserLimits are per-namespace overrides; every key is optional. Unknown keys
// are kept so a message is forwarded unchanged.
type UserLimits struct {
	InvocationsPerMinute   *int     `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations  *int     `json:"concurrentInvocations,omitempty"`
	FiresPerMinute         *int     `json:"firesPerMinute,omitempty"`
	AllowedKinds           []string `json:"allowedKinds,omitempty"`
	StoreActivations       *bool    `json:"storeActivations,omitempty"`
	MinActionMemory        *int64   `json:"minActionMemory,omitempty"`
	MaxActionMemory        *int64   `json:"maxActionMemory,omitempty"`
	MinActionLogs          *int64   `json:"minActionLogs,omitempty"`
	MaxActionLogs          *int64   `json:"maxActionLogs,omitempty"`
	MinActionTimeout       *int64   `json:"minActionTimeout,omitempty"`
	MaxActionTimeout       *int64   `json:"maxActionTimeout,omitempty"`
	MinActionConcurrency   *int     `json:"minActionConcurrency,omitempty"`
	MaxActionConcurrency   *int     `json:"maxActionConcurrency,omitempty"`
	MaxParameterSize       string   `json:"maxParameterSize,omitempty"`
	MaxPayloadSize         string   `json:"maxPayloadSize,omitempty"`
	TruncationSize         string   `json:"truncationSize,omitempty"`
	WarmedContainerKeeping *int     `json:"warmedContainerKeepingCount,omitempty"`
	WarmedContainerTimeout string   `json:"warmedContainerKeepingTimeout,omitempty"`
	MaxActionInstances     *int     `json:"maxActionInstances,omitempty"`
}

// AllowedMaxPayloadSize is the result size limit for this user: maxPayloadSize
// if set, else PayloadMax.
func (l UserLimits) AllowedMaxPayloadSize() int64 {
	if s, err := ParseByteSize(l.MaxPayloadSize); err == nil && l.MaxPayloadSize != "" {
		return int64(s)
	}
	return PayloadMax
}

// ActivationMessage is what the controller publishes on invoker{N}.
type ActivationMessage struct {
	TransID             TransID                  `json:"transid"`
	Action              FullyQualifiedEntityName `json:"action"`
	Revision            *string                  `json:"revision"`
	User                Identity                 `json:"user"`
	ActivationID        string                   `json:"activationId"`
	RootControllerIndex ControllerInstanceID     `json:"rootControllerIndex"`
	Blocking            bool                     `json:"blocking"`
	Content             json.RawMessage          `json:"content,omitempty"`
	InitArgs            []string                 `json:"initArgs"`
	LockedArgs          map[string]string        `json:"lockedArgs"`
	Cause               string                   `json:"cause,omitempty"`
	TraceContext        map[string]string        `json:"traceContext,omitempty"`
}

// ParseActivationMessage decodes and checks the fields the invoker cannot do
// without; initArgs and lockedArgs may be missing.
func ParseActivationMessage(b []byte) (*ActivationMessage, error) {
	var m ActivationMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("whisk: activation message: %w", err)
	}
	switch {
	case m.ActivationID == "":
		return nil, fmt.Errorf("whisk: activation message: missing activationId")
	case m.Action.Path == "" || m.Action.Name == "":
		return nil, fmt.Errorf("whisk: activation message %s: missing action", m.ActivationID)
	case m.RootControllerIndex.AsString == "":
		return nil, fmt.Errorf("whisk: activation message %s: missing rootControllerIndex", m.ActivationID)
	case m.User.Namespace.Name == "":
		return nil, fmt.Errorf("whisk: activation message %s: missing user namespace", m.ActivationID)
	}
	if m.InitArgs == nil {
		m.InitArgs = []string{}
	}
	if m.LockedArgs == nil {
		m.LockedArgs = map[string]string{}
	}
	return &m, nil
}

// PingMessage is an invoker's heartbeat on the health topic.
type PingMessage struct {
	Name      InvokerInstanceID `json:"name"`
	IsEnabled *bool             `json:"isEnabled,omitempty"`
}

// Enabled reads isEnabled, absent meaning true.
func (p PingMessage) Enabled() bool { return p.IsEnabled == nil || *p.IsEnabled }

// Ack is every acknowledgement on completed{C}. Which of the three kinds it
// is follows from the keys present, as in the controller's reader: instance
// and response make a Combined, instance alone a Completion, response alone a
// Result. The field order matches what the stock invoker writes for each.
type Ack struct {
	TransID       TransID            `json:"transid"`
	ActivationID  string             `json:"activationId,omitempty"`
	Response      json.RawMessage    `json:"response,omitempty"`
	IsSystemError *bool              `json:"isSystemError,omitempty"`
	Instance      *InvokerInstanceID `json:"instance,omitempty"`
}

// AppendJSON appends the ack as json.Marshal writes it, byte for byte,
// without reflection and without scanning the response twice: the invoker
// writes one or two acks per activation.
func (a Ack) AppendJSON(dst []byte) ([]byte, error) {
	tid, err := a.TransID.MarshalJSON()
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"transid":`...)
	if dst, err = appendCompactHTML(dst, tid); err != nil {
		return dst, err
	}
	if a.ActivationID != "" {
		dst = append(dst, `,"activationId":`...)
		dst = appendJSONString(dst, a.ActivationID)
	}
	if len(a.Response) > 0 {
		dst = append(dst, `,"response":`...)
		if dst, err = appendCompactHTML(dst, a.Response); err != nil {
			return dst, err
		}
	}
	if a.IsSystemError != nil {
		dst = append(dst, `,"isSystemError":`...)
		dst = strconv.AppendBool(dst, *a.IsSystemError)
	}
	if a.Instance != nil {
		inst, err := a.Instance.encoded()
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"instance":`...)
		dst = append(dst, inst...)
	}
	return append(dst, '}'), nil
}

// lastInstance is the last instance id encoded for an ack: an invoker
// writes its own in every completion.
var lastInstance atomic.Pointer[encodedInstance]

type encodedInstance struct {
	id   InvokerInstanceID
	json []byte
}

// encoded is json.Marshal(i), from lastInstance when it is the same id.
func (i *InvokerInstanceID) encoded() ([]byte, error) {
	if last := lastInstance.Load(); last != nil && last.id.equal(i) {
		return last.json, nil
	}
	b, err := json.Marshal(i)
	if err != nil {
		return nil, err
	}
	id := *i
	id.Tags, id.DedicatedNamespaces = slices.Clone(i.Tags), slices.Clone(i.DedicatedNamespaces)
	lastInstance.Store(&encodedInstance{id: id, json: b})
	return b, nil
}

// equal compares every field, nil and empty lists told apart as their
// encodings are (null, []).
func (i *InvokerInstanceID) equal(o *InvokerInstanceID) bool {
	return i.Instance == o.Instance && i.UserMemory == o.UserMemory && i.InstanceType == o.InstanceType &&
		i.UniqueName == o.UniqueName && i.DisplayedName == o.DisplayedName &&
		(i.Tags == nil) == (o.Tags == nil) && slices.Equal(i.Tags, o.Tags) &&
		(i.DedicatedNamespaces == nil) == (o.DedicatedNamespaces == nil) && slices.Equal(i.DedicatedNamespaces, o.DedicatedNamespaces)
}

// appendCompactHTML appends JSON the way encoding/json writes a Marshaler's
// output: compacted, with <, >, &, U+2028 and U+2029 escaped. JSON that has
// none of them, nor any white space, is copied as it is.
func appendCompactHTML(dst, src []byte) ([]byte, error) {
	if !needsCompactHTML(src) {
		if !json.Valid(src) {
			return dst, fmt.Errorf("whisk: invalid JSON in an ack")
		}
		return append(dst, src...), nil
	}
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		return dst, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(dst, escaped.Bytes()...), nil
}

// needsCompactHTML is whether src has white space or a byte that may need
// an HTML escape (0xe2 leads U+2028 and U+2029).
func needsCompactHTML(src []byte) bool {
	for _, c := range src {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return true
		}
	}
	return false
}

// appendJSONString appends s as encoding/json writes a string: quoted as
// it is when it holds only printable ASCII that needs no escape (an
// activation id does).
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AckKind tells the three acknowledgement types apart.
type AckKind int

const (
	AckResult AckKind = iota
	AckCompletion
	AckCombined
)

func (k AckKind) String() string {
	return [...]string{"Result", "Completion", "Combined"}[k]
}

// Kind classifies the ack by the keys present.
func (a Ack) Kind() AckKind {
	switch {
	case a.Instance != nil && len(a.Response) > 0:
		return AckCombined
	case a.Instance != nil:
		return AckCompletion
	}
	return AckResult
}

// FreesSlot is true for the acks that release the controller's slot.
func (a Ack) FreesSlot() bool { return a.Instance != nil }

// ResponseActivation decodes the response: a full activation, or only its id
// when the invoker sent the shrunk form (act is then nil).
func (a Ack) ResponseActivation() (act *Activation, id string, err error) {
	if len(a.Response) > 0 && a.Response[0] == '"' {
		err = json.Unmarshal(a.Response, &id)
		return nil, id, err
	}
	act = new(Activation)
	if err := json.Unmarshal(a.Response, act); err != nil {
		return nil, "", fmt.Errorf("whisk: ack response: %w", err)
	}
	return act, act.ActivationID, nil
}

// CombinedAck frees the slot and carries the result (full or shrunk).
func CombinedAck(t TransID, response json.RawMessage, systemError bool, inst InvokerInstanceID) Ack {
	return Ack{TransID: t, Response: response, IsSystemError: &systemError, Instance: &inst}
}

// CompletionAck only frees the slot.
func CompletionAck(t TransID, activationID string, systemError bool, inst InvokerInstanceID) Ack {
	return Ack{TransID: t, ActivationID: activationID, IsSystemError: &systemError, Instance: &inst}
}

// ResultAck only carries the result.
func ResultAck(t TransID, response json.RawMessage) Ack {
	return Ack{TransID: t, Response: response}
}

// ShrunkResponse is the response form for non-blocking activations and for
// acks too large for the topic: only the activation id, as a JSON string.
func ShrunkResponse(activationID string) json.RawMessage {
	b, _ := json.Marshal(activationID)
	return b
}

// EventMessage is a user event on the events topic.
type EventMessage struct {
	Source    string          `json:"source"`
	Body      json.RawMessage `json:"body"`
	Subject   string          `json:"subject"`
	Namespace string          `json:"namespace"`
	UserID    string          `json:"userId"`
	EventType string          `json:"eventType"`
	Timestamp int64           `json:"timestamp"`
}

// ActivationEventBody is an EventMessage body of type "Activation".
type ActivationEventBody struct {
	Name                  string `json:"name"`
	ActivationID          string `json:"activationId"`
	StatusCode            int    `json:"statusCode"`
	Duration              int64  `json:"duration"`
	WaitTime              int64  `json:"waitTime"`
	InitTime              int64  `json:"initTime"`
	Kind                  string `json:"kind"`
	Conductor             bool   `json:"conductor"`
	Memory                int64  `json:"memory"`
	CausedBy              string `json:"causedBy,omitempty"`
	Size                  *int64 `json:"size,omitempty"`
	UserDefinedStatusCode *int   `json:"userDefinedStatusCode,omitempty"`
}
