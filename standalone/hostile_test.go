package standalone

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// invokeRaw invokes an action blocking over REST and returns the HTTP
// status and the activation the controller answered with.
func invokeRaw(t *testing.T, s *Stack, name string) (int, whisk.Activation) {
	t.Helper()
	status, body := rest(t, s, "POST", "/api/v1/namespaces/_/actions/"+name+"?blocking=true", `{"n":1}`)
	var a whisk.Activation
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.ActivationID == "" {
		t.Fatalf("invoke %s: %d %s", name, status, body)
	}
	return status, a
}

// TestHostileModules runs the modules of issue 10 through REST, Kafka and
// the invoker: each activation gets the stock status and text, is acked
// (the blocking invoke answers) and recorded, the invoker stays healthy,
// and the heap grows with neither what a module declares nor the custom
// sections it carries.
func TestHostileModules(t *testing.T) {
	s := startStack(t, Config{})
	ctx := context.Background()
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	echo := wasmtest.WATModule(t, "echo")

	// Case 2: an unexported initial memory of 512 MiB. Created under a
	// 512 MB limit, then lowered to 256 MB without new code (a create
	// under 256 MB is refused, see TestErrors).
	if _, _, err := wsk.Actions.Insert(&whisk.Action{Name: "bigmem", Exec: wasmAction("", wasmtest.WATModule(t, "bigmem")).Exec,
		Limits: &whisk.Limits{Memory: ptr(512)}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsk.Actions.Insert(&whisk.Action{Name: "bigmem", Limits: &whisk.Limits{Memory: ptr(256)}}, true); err != nil {
		t.Fatal(err)
	}
	// Case 1: 2^24 declared exports, by CID, which is checked at run.
	bomb, err := s.IPFS().Add(ctx, bytes.NewReader(wasmtest.ExportBomb(1<<24)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsk.Actions.Insert(&whisk.Action{Name: "bomb", Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr("ipfs://" + bomb.String())}}, false); err != nil {
		t.Fatal(err)
	}
	// Case 4: three actions whose ~64 KB zips (deflated: a zip bomb's shape) hold a module with a 64 MiB
	// custom section each.
	for i := range 3 {
		padded := wasmtest.WithCustomSection(echo, fmt.Sprint("junk", i), 64<<20)
		if _, _, err := wsk.Actions.Insert(wasmAction(fmt.Sprint("padded", i), zipWith(t, zip.Deflate, map[string][]byte{"main.wasm": padded})), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := wsk.Actions.Insert(wasmAction("echo", echo), false); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, action string
		status       int
		record       string // the record's response.status
		result       string
	}{
		{"initial memory over the limit", "bigmem", http.StatusBadGateway, "action developer error", `{"error":"` + fw.MsgMemoryExhausted + `"}`},
		{"2^24 exports", "bomb", http.StatusBadGateway, "action developer error",
			`{"error":"the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed"}`},
		{"2^24 exports again", "bomb", http.StatusBadGateway, "action developer error",
			`{"error":"the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed"}`},
		{"custom section 0", "padded0", http.StatusOK, "success", `{"n":1}`},
		{"custom section 1", "padded1", http.StatusOK, "success", `{"n":1}`},
		{"custom section 2", "padded2", http.StatusOK, "success", `{"n":1}`},
		{"echo afterwards", "echo", http.StatusOK, "success", `{"n":1}`},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tc := range tests {
		status, a := invokeRaw(t, s, tc.action)
		result, _ := json.Marshal(a.Response.Result)
		if status != tc.status || a.Response.Status != tc.record || string(result) != tc.result {
			t.Errorf("%s: %d %s %s, want %d %s %s", tc.name, status, a.Response.Status, result, tc.status, tc.record, tc.result)
		}
		if rec := pollActivation(t, wsk, a.ActivationID); rec.Response.Status != tc.record {
			t.Errorf("%s: record %+v", tc.name, rec)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Before the check, one run of the export bomb allocated ~860 MB and
	// each padded action kept its 64 MiB section resident.
	t.Logf("%d runs allocated %d MB; heap in use %d -> %d MB", len(tests), (after.TotalAlloc-before.TotalAlloc)>>20, before.HeapInuse>>20, after.HeapInuse>>20)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 {
		t.Errorf("the runs allocated %d MB", n>>20)
	}
	if after.HeapInuse > before.HeapInuse+64<<20 {
		t.Errorf("heap in use grew from %d to %d MB", before.HeapInuse>>20, after.HeapInuse>>20)
	}
	for _, h := range s.Invokers() {
		if h.Status != controller.Healthy {
			t.Errorf("invoker %+v is not up", h)
		}
	}
}
