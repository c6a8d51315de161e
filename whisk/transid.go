package whisk

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// TransID is a transaction id: ["<id>", <startMillis>] with an optional
// extraLogging flag and parent. The controller recognises its health test
// completions by comparing the whole value, so a TransID read from a message
// is written back byte for byte.
type TransID struct {
	ID    string
	Start int64 // epoch ms
	raw   json.RawMessage
}

// UnknownTransID is what a malformed transaction id reads as; it is not an
// error, as in OpenWhisk.
const UnknownTransID = "sid_unknown"

// NewTransID makes a plain ["id", start] transaction id.
func NewTransID(id string, startMillis int64) TransID {
	b, _ := json.Marshal([]any{id, startMillis})
	return TransID{ID: id, Start: startMillis, raw: b}
}

// UnmarshalJSON keeps the exact bytes for echoing and is liberal: anything
// that is not an array starting with a string reads as sid_unknown.
func (t *TransID) UnmarshalJSON(b []byte) error {
	t.raw = append(json.RawMessage(nil), bytes.TrimSpace(b)...)
	t.ID, t.Start = UnknownTransID, 0
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 2 {
		return nil
	}
	var id string
	if json.Unmarshal(parts[0], &id) != nil {
		return nil
	}
	start, err := strconv.ParseInt(string(parts[1]), 10, 64)
	if err != nil {
		var f float64
		if json.Unmarshal(parts[1], &f) != nil {
			return nil
		}
		start = int64(f)
	}
	t.ID, t.Start = id, start
	return nil
}

// MarshalJSON writes the bytes that were read, or ["id", start].
func (t TransID) MarshalJSON() ([]byte, error) {
	if len(t.raw) > 0 {
		return t.raw, nil
	}
	return json.Marshal([]any{t.ID, t.Start})
}
