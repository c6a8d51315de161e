package controller

import (
	"context"
	"encoding/json"
	"testing"
)

// TestInstall: a catalog package installed in whisk.system is readable by
// the guest, and installing again replaces it.
func TestInstall(t *testing.T) {
	h := newHarness(t)
	pkg := CatalogPackage{Namespace: "whisk.system", Name: "utils", Publish: true, Actions: []CatalogAction{
		{Name: "echo", Kind: "nodejs:default", Code: "function main(p) { return p; }"},
	}}
	for range 2 {
		if err := h.ctrl.Install(context.Background(), pkg); err != nil {
			t.Fatal(err)
		}
	}
	code, b := h.do(t, "GET", "/api/v1/namespaces/whisk.system/packages/utils", "")
	var p struct {
		Publish bool
		Actions []struct{ Name string }
	}
	if err := json.Unmarshal(b, &p); code != 200 || err != nil || !p.Publish || len(p.Actions) != 1 || p.Actions[0].Name != "echo" {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := h.do(t, "GET", "/api/v1/namespaces/whisk.system/actions/utils/echo", ""); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := h.do(t, "GET", "/api/v1/namespaces/whisk.system/packages", ""); code != 200 || string(b) == "[]" {
		t.Fatalf("public listing of whisk.system: %d %s", code, b)
	}
	if code, b := h.do(t, "PUT", "/api/v1/namespaces/whisk.system/packages/mine", "{}"); code != 403 {
		t.Fatalf("writing into whisk.system: %d %s", code, b)
	}
}
