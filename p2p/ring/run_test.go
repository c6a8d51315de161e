package ring

import (
	"encoding/json"
	"testing"
)

// FuzzRunRequest: a run request comes from any peer holding a lease; it is
// refused or decoded, never a panic, and what decodes survives re-encoding.
func FuzzRunRequest(f *testing.F) {
	for _, s := range []string{
		`{"action":{"name":"/guest/echo","kind":"wasm:wasip1","code":{"cid":"bafy"},"limits":{"timeout":1000,"memory":128}},` +
			`"invocation":{"activation_id":"a","transaction_id":["t",1],"namespace":"guest","deadline":"2024-01-01T00:00:00Z","value":{}},"lease_id":"l"}`,
		`{"action":{"name":"echo"}}`,
		`{"invocation":{"transaction_id":{}}}`,
		`{"action":{"limits":{"memory":-1}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r RunRequest
		if decodeStrict(b, &r) != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s decoded but does not encode: %v", b, err)
		}
		var again RunRequest
		if err := decodeStrict(out, &again); err != nil {
			t.Fatalf("%s re-encoded as %s, which does not decode: %v", b, out, err)
		}
		if again.Action.Name != r.Action.Name || again.Invocation.ID != r.Invocation.ID || again.Action.Code.CID != r.Action.Code.CID {
			t.Fatalf("%s: %+v became %+v", b, r, again)
		}
	})
}
