package whisk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addSamples seeds f with the stock messages under testdata.
func addSamples(f *testing.F, glob string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzActivationMessage: whatever arrives on invoker{N}, parsing returns a
// message or an error, and a parsed message survives a write and a read.
func FuzzActivationMessage(f *testing.F) {
	addSamples(f, "activation_*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseActivationMessage(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("a parsed message does not marshal: %v", err)
		}
		m2, err := ParseActivationMessage(out)
		if err != nil {
			t.Fatalf("a written message does not parse: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(m2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable over a write and a read:\n%s\n%s", out, out2)
		}
	})
}

// FuzzAck: acks from completed{C}, as the controller side reads them.
func FuzzAck(f *testing.F) {
	inst := NewInvokerInstanceID(0, 1024*MB, "0", "", []string{})
	for _, a := range []Ack{
		CombinedAck(NewTransID("tid", 1), json.RawMessage(`{"activationId":"a","response":{"statusCode":0,"result":{}}}`), false, inst),
		CompletionAck(NewTransID("tid", 1), "0123456789abcdef0123456789abcdef", true, inst),
		ResultAck(NewTransID("tid", 1), ShrunkResponse("0123456789abcdef0123456789abcdef")),
	} {
		b, _ := json.Marshal(a)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Ack
		if json.Unmarshal(b, &a) != nil {
			return
		}
		_ = a.Kind().String()
		_ = a.FreesSlot()
		_, _, _ = a.ResponseActivation()
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("a read ack does not marshal: %v", err)
		}
		if got, err := a.AppendJSON(nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON wrote\n%s (%v)\njson.Marshal\n%s", got, err, want)
		}
	})
}

// FuzzPing: pings from the health topic.
func FuzzPing(f *testing.F) {
	on := true
	b, _ := json.Marshal(PingMessage{Name: NewInvokerInstanceID(3, 2048*MB, "u", "d", []string{"edge"}), IsEnabled: &on})
	f.Add(b)
	f.Add([]byte(`{"name":{"instance":0,"userMemory":"1024 MB","instanceType":"invoker"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PingMessage
		if json.Unmarshal(b, &p) != nil {
			return
		}
		_ = p.Name.String()
		_ = p.Enabled()
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a read ping does not marshal: %v", err)
		}
		var p2 PingMessage
		if err := json.Unmarshal(out, &p2); err != nil {
			t.Fatalf("a written ping does not read: %v\n%s", err, out)
		}
	})
}

// FuzzTransID: a transaction id is echoed byte for byte, whatever it is.
func FuzzTransID(f *testing.F) {
	for _, s := range []string{`["sid_invokerHealth",1700000000000]`, `["x",1.5e3,{"extra":true}]`, `"plain"`, `[]`, `null`,
		`["a",-5]`, `["a\u0041",5]`, `["é",5]`, `["a",99999999999999999999]`, `[ "a" , 5 ]`, `["a",5,true]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var tid TransID
		if err := json.Unmarshal(b, &tid); err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		// The fast reading of the common form agrees with the general one.
		if id, start, ok := plainTransID(bytes.TrimSpace(b)); ok {
			if id2, start2 := parseTransID(b); id != id2 || start != start2 {
				t.Fatalf("%s read as %q %d, in general as %q %d", b, id, start, id2, start2)
			}
		}
		raw, err := tid.MarshalJSON()
		if err != nil || !bytes.Equal(raw, bytes.TrimSpace(b)) {
			t.Fatalf("echoed %s as %s (%v)", b, raw, err)
		}
		// Inside a message the encoder may escape characters differently,
		// never change the value.
		out, err := json.Marshal(tid)
		if err != nil {
			t.Fatalf("a read transaction id does not marshal: %v", err)
		}
		if in, back := jsonValue(b), jsonValue(out); !reflect.DeepEqual(in, back) {
			t.Fatalf("%s written as %s", b, out)
		}
	})
}

// jsonValue decodes b keeping numbers as written.
func jsonValue(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	_ = dec.Decode(&v)
	return v
}

// FuzzByteSize: sizes from messages ("1024 MB") and from the
// configuration ("2048m") parse to a non-negative size or an error.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"1024 MB", "256M", "1 GB", "0 B", "2048m", "1.5g", "512 MiB", "10 kB", "99999999999 GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseByteSize(s); err == nil {
			if v < 0 {
				t.Fatalf("ParseByteSize(%q) = %d", s, v)
			}
			var back ByteSize
			b, _ := json.Marshal(v)
			if err := json.Unmarshal(b, &back); err != nil || back != v {
				t.Fatalf("%q: %s reads back as %d, %v", s, b, back, err)
			}
		}
		if v, err := ParseConfigSize(s); err == nil && v < 0 {
			t.Fatalf("ParseConfigSize(%q) = %d", s, v)
		}
	})
}

// FuzzActionDoc: action documents as the entity database holds them;
// their code is inline, an attachment, or a mem: attachment name.
func FuzzActionDoc(f *testing.F) {
	f.Add([]byte(`{"_id":"guest/echo","entityType":"action","name":"echo","namespace":"guest","exec":{"kind":"nodejs:20","code":"function main(p){return p}","binary":false},"limits":{"timeout":60000,"memory":256,"logs":10,"concurrency":1},"parameters":[],"annotations":[{"key":"exec","value":"nodejs"}],"version":"0.0.1","publish":false,"updated":1}`))
	f.Add([]byte(`{"_id":"guest/w","entityType":"action","name":"w","namespace":"guest","exec":{"kind":"wasm:wasip1","code":{"attachmentName":"mem:AGFzbQEAAAA=","attachmentType":"application/wasm","length":8},"binary":true},"limits":{"timeout":1000},"parameters":[{"key":"k","value":"v","init":true,"encryption":"aes-256"}],"_attachments":{"x":{"content_type":"application/wasm","stub":true,"length":8}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d ActionDoc
		if json.Unmarshal(b, &d) != nil {
			return
		}
		if s, ok := d.Exec.InlineCode(); ok {
			_ = LooksBase64(s)
		}
		if a, ok := d.Exec.CodeAttachment(); ok {
			if code, err := DecodeMemAttachment(a.AttachmentName); err == nil {
				if got, _ := DecodeMemAttachment(EncodeMemAttachment(code)); !bytes.Equal(got, code) {
					t.Fatalf("mem: attachment %q does not round-trip", a.AttachmentName)
				}
			}
		}
		_ = NormalizeKind(d.Exec.Kind)
		_ = d.Annotations.Truthy("web-export", false)
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("a read document does not marshal: %v", err)
		}
	})
}
