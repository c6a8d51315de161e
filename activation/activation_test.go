package activation_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

func TestParseFQN(t *testing.T) {
	tests := []struct {
		in   string
		want activation.FQN
		ok   bool
	}{
		{"/guest/echo", activation.FQN{Path: "guest", Name: "echo"}, true},
		{"guest/echo", activation.FQN{Path: "guest", Name: "echo"}, true},
		{"/guest/pkg/echo", activation.FQN{Path: "guest/pkg", Name: "echo"}, true},
		{"/echo", activation.FQN{}, false},
		{"/guest/", activation.FQN{}, false},
		{"//echo", activation.FQN{}, false},
		{"/a/b/c/d", activation.FQN{}, false},
		{"", activation.FQN{}, false},
	}
	for _, tt := range tests {
		got, err := activation.ParseFQN(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseFQN(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != "/"+strings.TrimPrefix(tt.in, "/") {
			t.Errorf("%q: String %q", tt.in, got.String())
		}
	}
}

func TestParseCode(t *testing.T) {
	cid := "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"
	tests := []struct {
		in     string
		binary bool
		want   activation.Code
	}{
		{"ipfs://" + cid, false, activation.Code{CID: cid, Digest: cid}},
		{"  ipfs://" + cid + "\n", false, activation.Code{CID: cid, Digest: cid}},
		{"AGFzbQEAAAA=", true, activation.Code{Inline: []byte("AGFzbQEAAAA="), Binary: true}},
		{"function main() {}", false, activation.Code{Inline: []byte("function main() {}")}},
		// Long text is inline code whatever it starts with.
		{"ipfs://" + strings.Repeat("x", 600), false, activation.Code{Inline: []byte("ipfs://" + strings.Repeat("x", 600))}},
	}
	for _, tt := range tests {
		got := activation.ParseCode([]byte(tt.in), tt.binary)
		if got.CID != tt.want.CID || got.Digest != tt.want.Digest || string(got.Inline) != string(tt.want.Inline) || got.Binary != tt.want.Binary {
			t.Errorf("ParseCode(%.20q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	att := whisk.Exec{Kind: "wasm:wasip1", Code: json.RawMessage(`{"attachmentName":"couch:abc","attachmentType":"application/wasm","digest":"sha256-1"}`), Binary: true}
	if c, err := activation.CodeOf(att); err != nil || c.Attachment != "couch:abc" || c.Digest != "sha256-1" || !c.Binary {
		t.Errorf("CodeOf(attachment) = %+v, %v", c, err)
	}
	if _, err := activation.CodeOf(whisk.Exec{Kind: "wasm:wasip1"}); err == nil {
		t.Error("CodeOf without code: no error")
	}
}

// TestDecoded: binary code is base64 with white space around it; other
// code is as it is.
func TestDecoded(t *testing.T) {
	tests := []struct {
		code    activation.Code
		want    string
		wantErr bool
	}{
		{activation.Code{Inline: []byte(" AGFzbQ==\n"), Binary: true}, "\x00asm", false},
		{activation.Code{Inline: []byte("AGFzbQ==")}, "AGFzbQ==", false},
		{activation.Code{Inline: []byte("not base64!"), Binary: true}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.code.Decoded()
		if string(got) != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Decoded(%q, binary %v) = %q, %v", tt.code.Inline, tt.code.Binary, got, err)
		}
	}
}

// TestEnv: the __OW_* variables come from the typed fields and win over
// init arguments; empty fields leave their variables out.
func TestEnv(t *testing.T) {
	a := &activation.Action{Name: activation.FQN{Path: "guest/pkg", Name: "echo"}, Version: "0.0.2"}
	in := activation.Invocation{
		ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", TransID: whisk.NewTransID("tid", 1), Namespace: "guest",
		APIKey: "uuid:key", Deadline: time.UnixMilli(1704067260105), APIHost: "https://api",
		InitArgs: map[string]string{"APP_MODE": "prod", "__OW_NAMESPACE": "spoofed"},
	}
	want := map[string]string{
		"APP_MODE": "prod", "__OW_NAMESPACE": "guest", "__OW_API_KEY": "uuid:key",
		"__OW_ACTION_NAME": "/guest/pkg/echo", "__OW_ACTION_VERSION": "0.0.2",
		"__OW_ACTIVATION_ID": "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", "__OW_TRANSACTION_ID": "tid",
		"__OW_DEADLINE": "1704067260105", "__OW_API_HOST": "https://api",
	}
	if got := in.Env(a); !maps.Equal(got, want) {
		t.Errorf("Env = %v\nwant %v", got, want)
	}
	if got := (&activation.Invocation{}).Env(&activation.Action{Name: activation.FQN{Name: "bare"}}); len(got) != 0 {
		t.Errorf("bare Env = %v, want none", got)
	}
}

// TestWire: Action, Invocation and Result survive the remote-run wire.
func TestWire(t *testing.T) {
	a := activation.Action{Name: activation.FQN{Path: "guest", Name: "echo"}, Version: "0.0.1", Kind: "wasm:wasip1",
		Code: activation.Code{CID: "bafy", Digest: "bafy"}, Limits: whisk.DefaultLimits()}
	in := activation.Invocation{ID: "id", TransID: whisk.NewTransID("tid", 5), Namespace: "guest",
		Deadline: time.UnixMilli(1704067260105), Value: json.RawMessage(`{"x":1}`), InitArgs: map[string]string{"K": "v"}, MaxPayload: 10}
	start := time.UnixMilli(1704067260000)
	res := activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(`{"ok":true}`)},
		Logs: []string{"l"}, Start: start, End: start.Add(5 * time.Millisecond), InitTime: 3 * time.Millisecond, Cold: true,
		Fetch: activation.Fetch{Time: 1234567 * time.Nanosecond, Bytes: 1 << 20}}
	var a2 activation.Action
	var in2 activation.Invocation
	var res2 activation.Result
	roundTrip(t, a, &a2)
	roundTrip(t, in, &in2)
	roundTrip(t, res, &res2)
	if a2.Name != a.Name || a2.Code.CID != "bafy" || a2.Limits != a.Limits || a2.Version != a.Version {
		t.Errorf("action %+v", a2)
	}
	if in2.ID != in.ID || in2.TransID.ID != "tid" || in2.TransID.Start != 5 || !in2.Deadline.Equal(in.Deadline) ||
		string(in2.Value) != `{"x":1}` || in2.InitArgs["K"] != "v" || in2.MaxPayload != 10 {
		t.Errorf("invocation %+v", in2)
	}
	if !res2.Start.Equal(res.Start) || !res2.End.Equal(res.End) || res2.InitTime != res.InitTime || !res2.Cold ||
		string(res2.Response.Result) != `{"ok":true}` || len(res2.Logs) != 1 || res2.Fetch != res.Fetch {
		t.Errorf("result %+v", res2)
	}
	// A run that read no mounted data has no fetch on the wire; one from
	// a peer that claims a negative one is refused.
	if b, _ := json.Marshal(activation.Result{}); strings.Contains(string(b), "fetch") {
		t.Errorf("a result without a fetch: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"response":{"statusCode":0},"start":0,"end":0,"fetch":{"ns":-1,"bytes":0}}`), &res2); err == nil {
		t.Error("a negative fetch time was accepted")
	}
}

func roundTrip(t *testing.T, v, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// FuzzParseFQN: names arrive from /run bodies and ring messages; a name
// that parses prints back as itself.
func FuzzParseFQN(f *testing.F) {
	for _, s := range []string{"/guest/echo", "guest/pkg/echo", "//", "/a/b/c/d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := activation.ParseFQN(s)
		if err != nil {
			return
		}
		if n.Name == "" || n.Path == "" || n.String() != "/"+strings.TrimPrefix(s, "/") {
			t.Fatalf("%q parsed as %+v", s, n)
		}
		if m, err := activation.ParseFQN(n.String()); err != nil || m != n {
			t.Fatalf("%q: reparse %+v %v", n.String(), m, err)
		}
	})
}

func ExampleInvocation_Env() {
	a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "hello"}, Version: "0.0.1"}
	in := activation.Invocation{ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", Namespace: "guest", Deadline: time.UnixMilli(1704067260105)}
	env := in.Env(a)
	for _, k := range []string{activation.EnvActionName, activation.EnvActivationID, activation.EnvDeadline} {
		fmt.Printf("%s=%s\n", k, env[k])
	}
	// Output:
	// __OW_ACTION_NAME=/guest/hello
	// __OW_ACTIVATION_ID=5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b
	// __OW_DEADLINE=1704067260105
}

// NewID makes ids of the stock shape (32 lowercase hex digits, what the
// controller's activation-id check accepts), fresh each time.
func TestNewID(t *testing.T) {
	seen := map[activation.ID]bool{}
	for range 100 {
		id := activation.NewID()
		if len(id) != 32 || strings.Trim(string(id), "0123456789abcdef") != "" {
			t.Fatalf("NewID() = %q, want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
