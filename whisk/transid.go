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
	var ok bool
	if t.ID, t.Start, ok = plainTransID(t.raw); !ok {
		t.ID, t.Start = parseTransID(b)
	}
	return nil
}

// parseTransID reads any transaction id: an array starting with a string
// and a number; anything else is sid_unknown.
func parseTransID(b []byte) (string, int64) {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 2 {
		return UnknownTransID, 0
	}
	var id string
	if json.Unmarshal(parts[0], &id) != nil {
		return UnknownTransID, 0
	}
	start, err := strconv.ParseInt(string(parts[1]), 10, 64)
	if err != nil {
		var f float64
		if json.Unmarshal(parts[1], &f) != nil {
			return UnknownTransID, 0
		}
		start = int64(f)
	}
	return id, start
}

// MarshalJSON writes the bytes that were read, or ["id", start].
func (t TransID) MarshalJSON() ([]byte, error) {
	if len(t.raw) > 0 {
		return t.raw, nil
	}
	return json.Marshal([]any{t.ID, t.Start})
}

// plainTransID reads the form every controller writes, ["id",start] with
// an id of plain characters and an integer start, without decoding it
// twice more through encoding/json (once into parts, once per part): it is
// in every message. Anything else is left to the general reading.
func plainTransID(b []byte) (id string, start int64, ok bool) {
	if len(b) < 6 || b[0] != '[' || b[1] != '"' || b[len(b)-1] != ']' {
		return "", 0, false
	}
	end := 2
	for ; end < len(b) && b[end] != '"'; end++ {
		if c := b[end]; c < 0x20 || c == '\\' || c >= 0x80 {
			return "", 0, false
		}
	}
	num := b[min(end+2, len(b)-1) : len(b)-1]
	if end+2 >= len(b) || b[end+1] != ',' || len(num) == 0 {
		return "", 0, false
	}
	digits := num
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return "", 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	start, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return string(b[2:end]), start, true
}
