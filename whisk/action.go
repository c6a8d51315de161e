package whisk

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Default and bound action limits of the stock configuration (whisk.memory,
// whisk.time-limit, whisk.log-limit, whisk.concurrency-limit).
const (
	DefaultTimeoutMs   = 60000
	DefaultMemoryMB    = 256
	DefaultLogsMB      = 10
	DefaultConcurrency = 1
	MinMemoryMB        = 128
)

// Limits are an action's limits: timeout in ms, memory and logs in MB.
type Limits struct {
	Timeout     int64 `json:"timeout"`
	Memory      int64 `json:"memory"`
	Logs        int64 `json:"logs"`
	Concurrency int   `json:"concurrency"`
}

// DefaultLimits are the limits of an action created without any.
func DefaultLimits() Limits {
	return Limits{Timeout: DefaultTimeoutMs, Memory: DefaultMemoryMB, Logs: DefaultLogsMB, Concurrency: DefaultConcurrency}
}

// UnmarshalJSON fills missing logs and concurrency with their defaults, as
// the stock reader does for old documents.
func (l *Limits) UnmarshalJSON(b []byte) error {
	type plain Limits
	p := plain{Timeout: DefaultTimeoutMs, Memory: DefaultMemoryMB, Logs: DefaultLogsMB, Concurrency: DefaultConcurrency}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*l = Limits(p)
	return nil
}

// Attachment is exec.code when the code is not inline.
type Attachment struct {
	AttachmentName string `json:"attachmentName"`
	AttachmentType string `json:"attachmentType"`
	Length         *int64 `json:"length,omitempty"`
	Digest         string `json:"digest,omitempty"`
}

// Exec is an action's exec: kind and code.
type Exec struct {
	Kind       string          `json:"kind"`
	Code       json.RawMessage `json:"code,omitempty"` // a string, or an Attachment object
	Binary     bool            `json:"binary"`
	Main       string          `json:"main,omitempty"`
	Image      string          `json:"image,omitempty"`
	Components []string        `json:"components,omitempty"`
}

// InlineCode returns exec.code when it is a plain string.
func (e Exec) InlineCode() (string, bool) {
	var s string
	if len(e.Code) == 0 || json.Unmarshal(e.Code, &s) != nil {
		return "", false
	}
	return s, true
}

// CodeAttachment returns exec.code when it is an attachment object.
func (e Exec) CodeAttachment() (*Attachment, bool) {
	if len(e.Code) == 0 || e.Code[0] != '{' {
		return nil, false
	}
	var a Attachment
	if json.Unmarshal(e.Code, &a) != nil || a.AttachmentName == "" {
		return nil, false
	}
	return &a, true
}

// The kinds FaaS@Edge runs: WebAssembly (design.md 4) and the nodejs kind
// "nodejs:default" stands for.
const (
	KindWasm   = "wasm:wasip1"
	KindNodejs = "nodejs:20"
)

// Databases are a deployment's CouchDB databases
// (whisk.couchdb.databases.*).
type Databases struct {
	Entities    string // WhiskEntity: actions, packages, triggers, rules
	Activations string // WhiskActivation
	Subjects    string // WhiskAuth
}

// DatabasesFor names the databases of a deployment whose db_prefix is
// prefix, as OpenWhisk's ansible does ("whisk_local_" gives
// whisk_local_whisks, ...).
func DatabasesFor(prefix string) Databases {
	return Databases{Entities: prefix + "whisks", Activations: prefix + "activations", Subjects: prefix + "subjects"}
}

// NormalizeKind normalises a kind as the stock reader does: trimmed and lowercased.
func NormalizeKind(kind string) string { return strings.ToLower(strings.TrimSpace(kind)) }

// ActionDoc is an action document in the entity database.
type ActionDoc struct {
	ID          string                    `json:"_id"`
	Rev         string                    `json:"_rev,omitempty"`
	EntityType  string                    `json:"entityType"`
	Name        string                    `json:"name"`
	Namespace   string                    `json:"namespace"`
	Updated     int64                     `json:"updated"`
	Exec        Exec                      `json:"exec"`
	Parameters  []Parameter               `json:"parameters"`
	Limits      Limits                    `json:"limits"`
	Version     string                    `json:"version"`
	Publish     bool                      `json:"publish"`
	Annotations Annotations               `json:"annotations"`
	Attachments map[string]AttachmentStub `json:"_attachments,omitempty"`
}

// Parameter is one action parameter.
type Parameter struct {
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	Init       bool            `json:"init,omitempty"`
	Encryption string          `json:"encryption,omitempty"`
}

// AttachmentStub is a CouchDB _attachments entry.
type AttachmentStub struct {
	ContentType string `json:"content_type"`
	Digest      string `json:"digest,omitempty"`
	Length      int64  `json:"length,omitempty"`
	Stub        bool   `json:"stub,omitempty"`
	Data        string `json:"data,omitempty"`
}

// Attachment name schemes (AttachmentSupport).
const (
	MemScheme   = "mem:"
	CouchScheme = "couch:"
)

// DecodeMemAttachment returns the bytes of a mem: attachment name: Java's
// URL-safe base64 with padding (tolerating none).
func DecodeMemAttachment(name string) ([]byte, error) {
	enc, ok := strings.CutPrefix(name, MemScheme)
	if !ok {
		return nil, fmt.Errorf("whisk: %q is not a mem: attachment", name)
	}
	if b, err := base64.URLEncoding.DecodeString(enc); err == nil {
		return b, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return nil, fmt.Errorf("whisk: mem: attachment: %w", err)
	}
	return b, nil
}

// EncodeMemAttachment makes a mem: attachment name.
func EncodeMemAttachment(b []byte) string {
	return MemScheme + base64.URLEncoding.EncodeToString(b)
}

var base64RE = regexp.MustCompile(`^[A-Za-z0-9+/]*={0,2}$`)

// LooksBase64 is the stock rule for string code's binary flag: trimmed
// non-empty, a length that is a multiple of 4, and base64 characters only.
func LooksBase64(code string) bool {
	t := strings.TrimSpace(code)
	return t != "" && len(t)%4 == 0 && base64RE.MatchString(t)
}
