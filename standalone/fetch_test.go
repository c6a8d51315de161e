package standalone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	invoke := func(name string, params any) fetchRecord {
		return readFetchRecord(invokeBlocking(t, s, controller.GuestAuth, name, params))
	}
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
		r := invoke(name, map[string]any{"path": paths[i%2]})
		edge := edgeRuns() > before
		ran[edge]++
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
	if r := invoke("idle", map[string]any{"x": 1}); r.hasFetch || !r.hasWait {
		t.Errorf("an action that reads nothing: fetch annotations %v, waitTime %v", r.hasFetch, r.hasWait)
	}
}

// fetchRecord is what TestFetchAnnotations reads of a record.
type fetchRecord struct {
	content                         string
	duration, fetchTime, fetchBytes float64
	hasFetch, hasWait               bool
}

func readFetchRecord(a record) fetchRecord {
	r := fetchRecord{duration: a.Duration}
	r.content, _ = a.Response.Result["content"].(string)
	for _, kv := range a.Annotations {
		switch kv.Key {
		case "fetchTime":
			r.fetchTime, _ = kv.Value.(float64)
			r.hasFetch = true
		case "fetchBytes":
			r.fetchBytes, _ = kv.Value.(float64)
			r.hasFetch = true
		case "waitTime":
			r.hasWait = true
		}
	}
	return r
}
