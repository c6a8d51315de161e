package whisk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The stock controller's messages must survive a read and a write unchanged,
// or the standalone controller and the acks would differ from stock.
func TestActivationMessageRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/activation_*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseActivationMessage(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(out), compact(t, in); got != want {
				t.Fatalf("round trip differs\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestParseActivationMessageErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not json", `{"transid":`},
		{"no id", `{"action":{"path":"a","name":"b"},"rootControllerIndex":{"asString":"0"},"user":{"namespace":{"name":"g"}}}`},
		{"no action", `{"activationId":"x","rootControllerIndex":{"asString":"0"},"user":{"namespace":{"name":"g"}}}`},
		{"no controller", `{"activationId":"x","action":{"path":"a","name":"b"},"user":{"namespace":{"name":"g"}}}`},
		{"no user", `{"activationId":"x","action":{"path":"a","name":"b"},"rootControllerIndex":{"asString":"0"}}`},
	} {
		if _, err := ParseActivationMessage([]byte(tc.in)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	m, err := ParseActivationMessage([]byte(`{"transid":{"bad":1},"activationId":"x","action":{"path":"a","name":"b"},"rootControllerIndex":{"asString":"0"},"user":{"namespace":{"name":"g"}}}`))
	if err != nil {
		t.Fatalf("missing initArgs/lockedArgs and a malformed transid must be tolerated: %v", err)
	}
	if m.TransID.ID != UnknownTransID || m.InitArgs == nil || m.LockedArgs == nil {
		t.Fatalf("got %+v", m)
	}
}

func TestTransIDEchoedByteForByte(t *testing.T) {
	for _, raw := range []string{
		`["sid_invokerHealth",1704067000123]`,
		`["c",1,true,["p",0,true]]`,
		`["x",1.0]`,
	} {
		var id TransID
		if err := json.Unmarshal([]byte(raw), &id); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(CompletionAck(id, "a", false, NewInvokerInstanceID(0, 2*GB, "0", "", nil)))
		if !bytes.HasPrefix(out, []byte(`{"transid":`+raw+`,`)) {
			t.Errorf("transid %s not echoed: %s", raw, out)
		}
	}
	if got, _ := json.Marshal(NewTransID("abc", 5)); string(got) != `["abc",5]` {
		t.Errorf("NewTransID: %s", got)
	}
}

func TestWireShapes(t *testing.T) {
	inst := NewInvokerInstanceID(0, 2*GB, "0", "", nil)
	tid := NewTransID("m2fX", 1704067200012)
	yes := true
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"ping", PingMessage{Name: inst, IsEnabled: &yes},
			`{"name":{"instance":0,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0"},"isEnabled":true}`},
		{"completion", CompletionAck(tid, "5c9b", false, inst),
			`{"transid":["m2fX",1704067200012],"activationId":"5c9b","isSystemError":false,"instance":{"instance":0,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0"}}`},
		{"shrunk combined", CombinedAck(tid, ShrunkResponse("5c9b"), true, inst),
			`{"transid":["m2fX",1704067200012],"response":"5c9b","isSystemError":true,"instance":{"instance":0,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0"}}`},
		{"result", ResultAck(tid, json.RawMessage(`{"activationId":"5c9b"}`)),
			`{"transid":["m2fX",1704067200012],"response":{"activationId":"5c9b"}}`},
		{"error response", ErrorResponse(StatusDeveloperError, MsgTimeout(60000)),
			`{"statusCode":2,"result":{"error":"The action exceeded its time limits of 60000 milliseconds."}}`},
	} {
		got, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestAckKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want AckKind
	}{
		{`{"transid":["a",1],"response":"id","isSystemError":false,"instance":{"instance":0,"userMemory":"1 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}}`, AckCombined},
		{`{"transid":["a",1],"activationId":"id","isSystemError":false,"instance":{"instance":0,"userMemory":"1 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[]}}`, AckCompletion},
		{`{"transid":["a",1],"response":{"activationId":"id","response":{"statusCode":0}}}`, AckResult},
	} {
		var a Ack
		if err := json.Unmarshal([]byte(tc.in), &a); err != nil {
			t.Fatal(err)
		}
		if a.Kind() != tc.want {
			t.Errorf("%s: kind %v, want %v", tc.in, a.Kind(), tc.want)
		}
		if a.FreesSlot() != (tc.want != AckResult) {
			t.Errorf("%s: FreesSlot wrong", tc.in)
		}
	}
}

func TestByteSizes(t *testing.T) {
	for _, tc := range []struct {
		in     string
		config bool
		want   ByteSize
		bad    bool
	}{
		{in: "2147483648 B", want: 2 * GB},
		{in: "2048 MB", want: 2 * GB},
		{in: "2048m", want: 2 * GB},
		{in: "1 kb", want: KB},
		{in: "12 parsecs", bad: true},
		{in: "2048m", config: true, want: 2 * GB},
		{in: "2 g", config: true, want: 2 * GB},
		{in: "512 MiB", config: true, want: 512 * MB},
		{in: "1MB", config: true, want: 1000000},
		{in: "1048576", config: true, want: MB},
		{in: "lots", config: true, bad: true},
		{in: "2048 furlongs", config: true, bad: true},
	} {
		parse := ParseByteSize
		if tc.config {
			parse = ParseConfigSize
		}
		got, err := parse(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q (config %v): no error", tc.in, tc.config)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q (config %v) = %d, %v; want %d", tc.in, tc.config, got, err, tc.want)
		}
	}
}

func TestActionDocCode(t *testing.T) {
	var doc ActionDoc
	in := `{"_id":"guest/hello","_rev":"3-x","entityType":"action","name":"hello","namespace":"guest","updated":1,
	"exec":{"kind":" NodeJS:20 ","code":{"attachmentName":"mem:ZnVuY3Rpb24gbWFpbigpIHt9","attachmentType":"text/plain; charset=UTF-8"},"binary":false},
	"parameters":[],"limits":{"timeout":1000,"memory":128},"version":"0.0.1","publish":false,"annotations":[{"key":"provide-api-key","value":false}]}`
	if err := json.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Limits.Logs != DefaultLogsMB || doc.Limits.Concurrency != 1 {
		t.Errorf("missing limits not defaulted: %+v", doc.Limits)
	}
	if NormalizeKind(doc.Exec.Kind) != "nodejs:20" {
		t.Errorf("kind %q", NormalizeKind(doc.Exec.Kind))
	}
	att, ok := doc.Exec.CodeAttachment()
	if !ok {
		t.Fatal("attachment not found")
	}
	code, err := DecodeMemAttachment(att.AttachmentName)
	if err != nil || string(code) != "function main() {}" {
		t.Fatalf("mem: code %q, %v", code, err)
	}
	if doc.Annotations.Truthy("provide-api-key", true) {
		t.Error("provide-api-key false read as true")
	}
	if !doc.Annotations.Truthy("missing", true) {
		t.Error("missing annotation must take the default")
	}
	if !LooksBase64("AGFzbQ==") || LooksBase64("function main") {
		t.Error("LooksBase64")
	}
}

// TestAckAppendJSON: acks written without reflection are json.Marshal's
// bytes, whatever the transaction id, id and response hold.
func TestAckAppendJSON(t *testing.T) {
	inst := NewInvokerInstanceID(3, 2048*MB, "u<1>", "d", []string{"edge"})
	var spaced, html TransID
	if err := json.Unmarshal([]byte(`[ "tid" , 5 , {"extraLogging": true} ]`), &spaced); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`["<a&b>",1]`), &html); err != nil {
		t.Fatal(err)
	}
	for _, a := range []Ack{
		CompletionAck(NewTransID("tid", 1), "0123456789abcdef0123456789abcdef", false, inst),
		CompletionAck(spaced, "id\"with\\quotes<&>\u2028é", true, inst),
		CombinedAck(html, json.RawMessage(`{"activationId":"a", "response":{"result":{"s":"<b>\u2029 &amp;"}},"logs":[]}`), false, inst),
		ResultAck(NewTransID("tid", 1), ShrunkResponse("0123456789abcdef0123456789abcdef")),
		ResultAck(TransID{}, json.RawMessage("\n{ \"a\" : [1, 2] }\n")),
		{},
	} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.AppendJSON([]byte("prefix"))
		if err != nil || string(got) != "prefix"+string(want) {
			t.Errorf("AppendJSON\n got %s (%v)\nwant prefix%s", got, err, want)
		}
	}
	// The last instance written is remembered: another one, or the same
	// with lists that differ only in being nil or empty, is written as it is.
	others := []InvokerInstanceID{inst, NewInvokerInstanceID(3, 2048*MB, "u<1>", "d", []string{"edge", "x"}),
		{Instance: 3, UserMemory: 2048 * MB, InstanceType: "invoker", UniqueName: "u<1>", DisplayedName: "d"},
		{Instance: 3, UserMemory: 2048 * MB, InstanceType: "invoker", UniqueName: "u<1>", DisplayedName: "d", Tags: []string{}}, inst}
	for round := range 2 {
		for i, id := range others {
			a := CompletionAck(NewTransID("tid", 1), "id", false, id)
			want, _ := json.Marshal(a)
			if got, err := a.AppendJSON(nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("round %d, instance %d: AppendJSON\n got %s (%v)\nwant %s", round, i, got, err, want)
			}
		}
	}
	if _, err := ResultAck(NewTransID("tid", 1), json.RawMessage(`{"a":`)).AppendJSON(nil); err == nil {
		t.Error("an ack with invalid JSON as its response was written")
	}
}
