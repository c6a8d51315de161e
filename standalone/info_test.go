package standalone

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestAPIInfoAndPutResponses: GET / and GET /api/v1 have the stock shape;
// PUT answers with the code; empty code is accepted as stock accepts it; a
// module sent as text is told how to send it.
func TestAPIInfoAndPutResponses(t *testing.T) {
	s := startStack(t, Config{})
	t.Run("GET / lists runtimes and limits", func(t *testing.T) {
		resp, err := http.Get(s.APIHost() + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var info struct {
			Description string
			APIPaths    []string         `json:"api_paths"`
			Limits      map[string]int64 `json:"limits"`
			Runtimes    map[string][]struct {
				Kind    string
				Default bool
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode, err)
		}
		if info.Description != "OpenWhisk" || info.APIPaths[0] != "/api/v1" || info.Limits["sequence_length"] != 50 ||
			info.Limits["max_action_memory"] != 512<<20 || info.Runtimes["wasm"][0].Kind != "wasm:wasip1" || !info.Runtimes["nodejs"][0].Default {
			t.Fatalf("%+v", info)
		}
	})
	t.Run("GET /api/v1 has a build date", func(t *testing.T) {
		resp, err := http.Get(s.APIHost() + "/api/v1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var info struct{ Build, Description string }
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339, info.Build); err != nil || info.Description != "OpenWhisk API" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("build %q: %v", info.Build, err)
		}
	})
	t.Run("PUT answers with exec.code; empty code is accepted", func(t *testing.T) {
		for _, code := range []string{"function main() { return {ok: true}; }", ""} {
			b, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": code}})
			status, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/c?overwrite=true", string(b))
			var a struct{ Exec struct{ Code *string } }
			if err := json.Unmarshal([]byte(body), &a); status != 200 || err != nil || a.Exec.Code == nil || *a.Exec.Code != code {
				t.Fatalf("%d %s", status, body)
			}
		}
	})
	t.Run("a module sent as text gets a 400 that says how to send it", func(t *testing.T) {
		mod := wasmtest.WATModule(t, "echo")
		// What wsk action create f f.wasm sends: the bytes as a JSON string.
		b, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "wasm:wasip1", "code": string(mod)}})
		status, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/f", string(b))
		if status != 400 || !strings.Contains(body, "zip f.zip f.wasm") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("code no peer provides is a developer error before the wait ends", func(t *testing.T) {
		nowhere, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte("provided by no one"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "wasm:wasip1", "code": "ipfs://" + nowhere.String()}})
		if status, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/gone", string(b)); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		// Without the give-up the fetch would run to the action's 60 s
		// timeout and this 30 s wait would end with 202.
		status, body := rest(t, s, "POST", "/api/v1/namespaces/_/actions/gone?blocking=true&timeout=30000", "{}")
		if status != 502 || !strings.Contains(body, "developer error") || !strings.Contains(body, "no peer provides it") {
			t.Fatalf("%d %s", status, body)
		}
	})
}
