package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// TestEdgeNodes runs a standalone with one invoker and two edge nodes: the
// virtual invoker (id 1, after the regular invoker's) comes up in the
// controller once it holds claims, and the controller's balancer places
// some actions on it, which run on the edge nodes with code by CID, inline
// code included (published to IPFS by the gateway), with correct results.
func TestEdgeNodes(t *testing.T) {
	s := startStack(t, Config{Invokers: 1, UserMemory: 512 * fw.MB, EdgeNodes: 2, EdgeMemory: 512 * fw.MB})
	if len(s.EdgeNodes()) != 2 || len(s.Gateway().Invokers()) != 1 || s.Gateway().Invokers()[0].ID() != 1 {
		t.Fatalf("%d edge nodes, gateway %+v", len(s.EdgeNodes()), s.Gateway().Invokers())
	}

	resp, err := http.Get(s.APIHost() + "/invokers")
	if err != nil {
		t.Fatal(err)
	}
	var states map[string]string
	err = json.NewDecoder(resp.Body).Decode(&states)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Stock names: invoker<id>/<uniqueName>[/<displayedName>].
	if len(states) != 2 || states["invoker0/0"] != "up" || states["invoker1/edge1/edge1"] != "up" {
		t.Fatalf("GET /invokers: %v, want the invoker and the virtual invoker up", states)
	}

	var banner bytes.Buffer
	s.Banner(&banner)
	for _, want := range []string{"Edge nodes: 2 x 512 MB", "node 1:", "Virtual invoker 1: 1024 MB"} {
		if !strings.Contains(banner.String(), want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner.String())
		}
	}

	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	echo := wasmtest.WATModule(t, "echo")
	c, err := s.IPFS().Add(context.Background(), bytes.NewReader(echo), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Eight actions: their home invokers (by name hash) are spread over the
	// two invokers; half by CID, half inline.
	for i := range 8 {
		name := fmt.Sprint("e", i)
		a := wasmAction(name, echo)
		if i%2 == 0 {
			a = &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr("ipfs://" + c.String())}}
		}
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatal(err)
		}
		res, _, err := wsk.Actions.Invoke(name, map[string]any{"i": i}, true, true)
		if err != nil || fmt.Sprint(res.(map[string]any)["i"]) != fmt.Sprint(i) {
			t.Fatalf("%s: %v %v", name, res, err)
		}
	}
	var edgeRuns int64
	for _, n := range s.EdgeNodes() {
		edgeRuns += n.Executor().Runs()
	}
	if edgeRuns == 0 || edgeRuns == 8 {
		t.Fatalf("edge nodes ran %d of 8 activations: want the balancer to use both the invoker and the edge", edgeRuns)
	}
}
