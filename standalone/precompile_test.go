package standalone

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestCompileAtCreate creates a Go action through the REST API: its module
// is compiled before anything invokes it, within the compile budget, and
// the first invoke is a warm one (no initTime in its record).
func TestCompileAtCreate(t *testing.T) {
	s := startStack(t, Config{Compile: executor.CompileBudget{Concurrent: 1}})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	code := wasmtest.GoCommand(t, "echo")
	if _, _, err := wsk.Actions.Insert(wasmAction("goecho", code), false); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(code)
	key := activation.Code{Digest: "sha256-" + hex.EncodeToString(sum[:])}
	for deadline := time.Now().Add(5 * time.Minute); !s.work.Executor().Ready(key); {
		if time.Now().After(deadline) {
			t.Fatal("the module was not compiled at create")
		}
		time.Sleep(20 * time.Millisecond)
	}
	act, _, err := wsk.Actions.Invoke("goecho", map[string]any{"n": 1}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := act.(map[string]any)
	if !ok {
		t.Fatalf("activation %T %v", act, act)
	}
	anns, _ := m["annotations"].([]any)
	for _, a := range anns {
		if kv, _ := a.(map[string]any); kv["key"] == "initTime" {
			t.Errorf("the first invoke waited to compile: %v", anns)
		}
	}
	if resp, _ := m["response"].(map[string]any); resp["success"] != true {
		t.Errorf("response %v", m["response"])
	}
}
