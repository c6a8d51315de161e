package standalone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// TestFetchAnnotations runs an action that reads a file of known size from
// /data or from /ipfs (added to the stack's IPFS node, so an edge node
// fetches it from that peer), on the standalone's invoker and on its edge
// nodes, with the records in pouchdb: each record has fetchTime (within
// its duration) and fetchBytes (the file's size) beside waitTime; the
// record of an action that reads nothing has neither.
func TestFetchAnnotations(t *testing.T) {
	p := testenv.StartPouchDB(t)
	dir := t.TempDir()
	raw := make([]byte, 150<<10)
	_, _ = rand.Read(raw)
	data := base64.StdEncoding.EncodeToString(raw) // text: the action answers it as a JSON string
	if err := os.WriteFile(filepath.Join(dir, "blob"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, Config{CouchURL: p.URL, Invokers: 1, UserMemory: 512 * fw.MB, EdgeNodes: 2, EdgeMemory: 512 * fw.MB, DataMount: dir})
	c, err := s.IPFS().Add(context.Background(), bytes.NewReader([]byte(data)), 0)
	if err != nil {
		t.Fatal(err)
	}
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	edgeRuns := func() (n int64) {
		for _, e := range s.EdgeNodes() {
			n += e.Executor().Runs()
		}
		return n
	}
	cat := wasmtest.GoReactor(t, "cat")
	paths := []string{"/data/blob", "/ipfs/" + c.String()}
	ran := map[bool]int{} // on the edge or not
	// Eight actions, whose home invokers (by name hash) are the invoker
	// and the virtual one, as in TestEdgeNodes.
	for i := range 8 {
		name := fmt.Sprint("e", i)
		if _, _, err := wsk.Actions.Insert(wasmAction(name, cat), false); err != nil {
			t.Fatal(err)
		}
		before := edgeRuns()
		rec := invokeRecord(t, wsk, name, map[string]any{"path": paths[i%2]})
		edge := edgeRuns() > before
		ran[edge]++
		r := readFetchRecord(t, rec)
		if r.content != data {
			t.Fatalf("%s (edge %v) read %d bytes of %s, want %d", name, edge, len(r.content), paths[i%2], len(data))
		}
		if r.fetchBytes != float64(len(data)) || r.fetchTime <= 0 || r.fetchTime >= r.duration+1 || !r.hasWait {
			t.Errorf("%s (edge %v, %s): fetchTime %v ms, fetchBytes %v, duration %v ms, waitTime %v: want the file's %d bytes in a time within the duration",
				name, edge, paths[i%2], r.fetchTime, r.fetchBytes, r.duration, r.hasWait, len(data))
		}
	}
	if ran[true] == 0 || ran[false] == 0 {
		t.Fatalf("edge nodes ran %d of 8 activations: want both the invoker and the edge", ran[true])
	}

	if _, _, err := wsk.Actions.Insert(wasmAction("idle", wasmtest.WATModule(t, "echo")), false); err != nil {
		t.Fatal(err)
	}
	if r := readFetchRecord(t, invokeRecord(t, wsk, "idle", map[string]any{"x": 1})); r.hasFetch || !r.hasWait {
		t.Errorf("an action that reads nothing: fetch annotations %v, waitTime %v", r.hasFetch, r.hasWait)
	}
}

// invokeRecord invokes name blocking and returns its record, read back
// when the run outlives the controller's blocking wait (a Go module's
// first compile under the race detector does).
func invokeRecord(t *testing.T, wsk *whisk.Client, name string, params map[string]any) *whisk.Activation {
	t.Helper()
	res, resp, err := wsk.Actions.Invoke(name, params, true, false)
	if err != nil && (resp == nil || resp.StatusCode != http.StatusAccepted) {
		t.Fatalf("invoke %s: %v", name, err)
	}
	m, _ := res.(map[string]any)
	id, _ := m["activationId"].(string)
	if id == "" {
		t.Fatalf("invoke %s: %v", name, res)
	}
	return waitActivation(t, wsk, id)
}

// fetchRecord is what TestFetchAnnotations reads of a record.
type fetchRecord struct {
	content                         string
	duration, fetchTime, fetchBytes float64
	hasFetch, hasWait               bool
}

func readFetchRecord(t *testing.T, a *whisk.Activation) fetchRecord {
	t.Helper()
	r := fetchRecord{duration: float64(a.Duration)}
	if res, ok := a.Response.Result.(map[string]any); ok {
		r.content, _ = res["content"].(string)
	}
	for _, kv := range a.Annotations {
		switch kv.Key {
		case "fetchTime":
			r.fetchTime, r.hasFetch = number(t, kv.Value), true
		case "fetchBytes":
			r.fetchBytes, r.hasFetch = number(t, kv.Value), true
		case "waitTime":
			r.hasWait = true
		}
	}
	return r
}

// number reads a JSON number as the client decodes it.
func number(t *testing.T, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return n
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}
