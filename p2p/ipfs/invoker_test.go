package ipfs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// stack is a broker, CouchDB, the emulated stock controller and an invoker
// whose executor fetches code through an IPFS node.
type stack struct {
	ctl     *emulator.Controller
	actions *kivik.DB
	ex      *executor.Executor
	brokers []string
}

// newStack starts the stack; opts change the invoker's configuration.
func newStack(t testing.TB, node *Node, opts ...func(*stack, *invoker.Config)) *stack {
	t.Helper()
	ctx := testCtx(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	brokers := testenv.Kafka(t).ListenAddrs()
	pouch := testenv.StartPouchDB(t)
	couch, err := invoker.OpenCouch(invoker.CouchConfig{URL: pouch.URL})
	if err != nil {
		t.Fatal(err)
	}
	dbs := whisk.DatabasesFor("whisk_local_")
	for _, db := range []string{dbs.Entities, dbs.Activations} {
		if err := couch.CreateDB(ctx, db); err != nil && kivik.HTTPStatus(err) != http.StatusPreconditionFailed {
			t.Fatal(err)
		}
	}
	s := &stack{actions: couch.DB(dbs.Entities), brokers: brokers}
	if s.ctl, err = emulator.Start(ctx, emulator.Config{Brokers: brokers, ActionsDB: s.actions, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.ctl.Close)
	ex, err := executor.New(ctx, executor.WithFetcher(node), executor.WithMount("/ipfs", node.FS(ctx)), executor.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close(context.Background()) })
	s.ex = ex
	cfg := invoker.Config{
		Instance: 0, UniqueName: "0", UserMemory: 1024 * whisk.MB, KafkaBrokers: brokers,
		Couch:    invoker.CouchConfig{URL: pouch.URL, ActionsDB: dbs.Entities, ActivationsDB: dbs.Activations},
		HTTPAddr: "127.0.0.1:0", Username: "invoker.user", Password: "invoker.pass",
		Runner: invoker.LocalRunner(ex, nil), Logger: quiet,
	}
	for _, o := range opts {
		o(s, &cfg)
	}
	eng, err := invoker.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = eng.Shutdown(sctx)
	})
	if err := s.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatal(err)
	}
	return s
}

// create stores a wasm:wasip1 action whose code is the text ipfs://<CID>,
// as `wsk action create NAME file --kind wasm:wasip1` does with such a file.
func (s *stack) create(ctx context.Context, t testing.TB, name, code string, limits whisk.Limits) string {
	t.Helper()
	doc := map[string]any{
		"_id": "guest/" + name, "entityType": "action", "name": name, "namespace": "guest",
		"updated": time.Now().UnixMilli(), "limits": limits, "version": "0.0.1", "publish": false,
		"parameters": []any{}, "annotations": []any{map[string]any{"key": "exec", "value": "wasm:wasip1"}},
		"exec": map[string]any{"kind": "wasm:wasip1", "code": code, "binary": false},
	}
	rev, err := s.actions.Put(ctx, "guest/"+name, doc)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// invoke runs the action blocking and returns the response its slot-freeing
// ack carries.
func (s *stack) invoke(ctx context.Context, t testing.TB, name, rev string, limits whisk.Limits, params string) whisk.ActivationResponse {
	t.Helper()
	msg, _, err := s.ctl.Invoke(ctx, emulator.ActionMeta{
		Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: name, Version: "0.0.1"}, Rev: &rev,
		MemoryMB: int(limits.Memory), TimeoutMs: limits.Timeout, Concurrency: 1,
	}, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(params)})
	if err != nil {
		t.Fatal(err)
	}
	acks, err := s.ctl.WaitCompleted(ctx, msg.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		if len(a.Response) == 0 {
			continue
		}
		act, _, err := a.ResponseActivation()
		if err != nil || act == nil {
			t.Fatalf("ack response %s: %v", a.Response, err)
		}
		return act.Response
	}
	t.Fatalf("no ack carried a response: %v", acks)
	return whisk.ActivationResponse{}
}

// TestInvokerRunsActionByCID sends activations through Kafka to an invoker
// that has never seen the action's CID: the code comes over bitswap from
// another node, and an unreachable CID ends as a developer error.
func TestInvokerRunsActionByCID(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	module, err := src.Add(ctx, bytes.NewReader(wasmtest.WATModule(t, "echo")), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...)))
	limits := whisk.DefaultLimits()
	limits.Timeout = 2000
	const nowhere = "bafkreie7ohywtosou76tasm7j63yigtzxe7d5zqus4zu3j6oltvgtibeom"
	tests := []struct {
		name, code string
		status     whisk.StatusCode
		result     string // exact, or a prefix of the error for developer errors
	}{
		{"held by a peer", Scheme + module.String(), whisk.StatusSuccess, `{"name":"World"}`},
		{"held by no one", Scheme + nowhere, whisk.StatusDeveloperError, `{"error":"could not fetch code ipfs://` + nowhere + `: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			rev := s.create(ctx, t, name, tt.code, limits)
			resp := s.invoke(ctx, t, name, rev, limits, `{"name":"World"}`)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(resp.Result), tt.result) {
				t.Fatalf("status %s, result %s; want %s, %s", resp.StatusCode, resp.Result, tt.status, tt.result)
			}
		})
	}
}

// BenchmarkInvokerColdStartByCID is the cold start of an action whose CID
// the invoker has never seen, from the activation message on Kafka to the
// slot-freeing ack, with the module on a connected peer. Each iteration's
// module differs by a custom section, so its CID does. See pace for the
// isolated and back-to-back cases.
func BenchmarkInvokerColdStartByCID(b *testing.B) {
	paced(b, benchInvokerColdStart)
}

func benchInvokerColdStart(b *testing.B, pause time.Duration) {
	ctx := testCtx(b)
	src := newNode(b, p2p.Config{})
	s := newStack(b, newNode(b, p2p.Config{}, WithPeers(src.Host().FullAddrs()...)))
	limits := whisk.DefaultLimits()
	echo := wasmtest.WATModule(b, "echo")
	names, revs := make([]string, b.N), make([]string, b.N)
	for i := range b.N {
		c, err := src.Add(ctx, bytes.NewReader(withCustomSection(echo, uint64(i))), 1)
		if err != nil {
			b.Fatal(err)
		}
		names[i] = "cold-" + c.String()
		revs[i] = s.create(ctx, b, names[i], Scheme+c.String(), limits)
	}
	b.ResetTimer()
	for i := range b.N {
		pace(b, pause)
		if resp := s.invoke(ctx, b, names[i], revs[i], limits, `{}`); resp.StatusCode != whisk.StatusSuccess {
			b.Fatalf("status %s: %s", resp.StatusCode, resp.Result)
		}
	}
}
