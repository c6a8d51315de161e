package invoker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

const waitLong = 60 * time.Second // only bounds a hang; never a speed check

// dbs are the databases of the ansible deployment's default db_prefix.
var dbs = whisk.DatabasesFor("whisk_local_")

// env is one stack: broker, CouchDB, emulated controller and an invoker
// engine in process.
type env struct {
	t           testing.TB
	kafka       *kfake.Cluster
	brokers     []string
	pouch       *testenv.PouchDB
	couch       *kivik.Client
	actions     *kivik.DB
	activations *kivik.DB
	ctl         *emulator.Controller
	eng         *invoker.Engine
	engOpts     []func(*invoker.Config)
}

type envOpt func(*envSetup)

type envSetup struct {
	kafkaOpts []kfake.Opt
	engOpts   []func(*invoker.Config)
	noEngine  bool
	onDisk    bool // pouchdb-server keeps its data across Restart
}

func withKafka(o ...kfake.Opt) envOpt {
	return func(s *envSetup) { s.kafkaOpts = append(s.kafkaOpts, o...) }
}

// withEngine changes the engine configuration of engineConfig.
func withEngine(o ...func(*invoker.Config)) envOpt {
	return func(s *envSetup) { s.engOpts = append(s.engOpts, o...) }
}
func withoutEngine() envOpt   { return func(s *envSetup) { s.noEngine = true } }
func withPouchOnDisk() envOpt { return func(s *envSetup) { s.onDisk = true } }

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	var s envSetup
	for _, o := range opts {
		o(&s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	e := &env{t: t}
	kopts := append([]kfake.Opt{kfake.NumBrokers(1)}, s.kafkaOpts...)
	var err error
	if e.kafka, err = kfake.NewCluster(kopts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.kafka.Close() })
	e.brokers = e.kafka.ListenAddrs()
	if s.onDisk {
		e.pouch = testenv.StartPouchDBOnDisk(t)
	} else {
		e.pouch = testenv.StartPouchDB(t)
	}
	if e.couch, err = invoker.OpenCouch(invoker.CouchConfig{URL: e.pouch.URL}); err != nil {
		t.Fatal(err)
	}
	e.createDBs(ctx)
	e.ctl, err = emulator.Start(ctx, emulator.Config{Brokers: e.brokers, ActionsDB: e.actions, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.ctl.Close)
	e.engOpts = s.engOpts
	if !s.noEngine {
		e.startEngine(ctx)
	}
	return e
}

func (e *env) createDBs(ctx context.Context) {
	for _, db := range []string{dbs.Entities, dbs.Activations} {
		if err := e.couch.CreateDB(ctx, db); err != nil && kivik.HTTPStatus(err) != http.StatusPreconditionFailed {
			e.t.Fatal(err)
		}
	}
	e.actions, e.activations = e.couch.DB(dbs.Entities), e.couch.DB(dbs.Activations)
}

var sharedExecutor *executor.Executor

func localRunner(t testing.TB) invoker.Runner {
	if sharedExecutor == nil {
		ex, err := executor.New(context.Background(), executor.WithLogger(testenv.Logger()))
		if err != nil {
			t.Fatal(err)
		}
		sharedExecutor = ex
	}
	return invoker.LocalRunner(sharedExecutor, nil)
}

// engineConfig is invoker0's configuration on the test's broker and
// CouchDB.
func (e *env) engineConfig() invoker.Config {
	return invoker.Config{
		Instance: 0, UniqueName: "0", UserMemory: 1024 * whisk.MB, KafkaBrokers: e.brokers,
		Couch:    invoker.CouchConfig{URL: e.pouch.URL, ActionsDB: dbs.Entities, ActivationsDB: dbs.Activations},
		HTTPAddr: "127.0.0.1:0", Username: "invoker.user", Password: "invoker.pass",
		Runner: localRunner(e.t), Logger: testenv.Logger(),
	}
}

// startEngine starts invoker0 and waits until the controller has it up.
func (e *env) startEngine(ctx context.Context) {
	e.t.Helper()
	cfg := e.engineConfig()
	for _, o := range e.engOpts {
		o(&cfg)
	}
	eng, err := invoker.New(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.eng = eng
	e.t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_ = eng.Shutdown(sctx)
	})
	if err := e.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		e.t.Fatal(err)
	}
}

// action is an action document to create.
type action struct {
	path, name string
	kind       string
	code       []byte // inline string unless attach
	attach     string // "", "mem" or "couch"
	binary     bool
	limits     whisk.Limits
}

// put creates or updates the action and returns its revision.
func (e *env) put(ctx context.Context, a action) string {
	e.t.Helper()
	if a.limits == (whisk.Limits{}) {
		a.limits = whisk.DefaultLimits()
	}
	doc := map[string]any{
		"_id": a.path + "/" + a.name, "entityType": "action", "name": a.name, "namespace": a.path,
		"updated": time.Now().UnixMilli(), "limits": a.limits, "version": "0.0.1", "publish": false,
		"parameters": []any{}, "annotations": []any{map[string]any{"key": "exec", "value": a.kind}},
	}
	exec := map[string]any{"kind": a.kind, "binary": a.binary}
	switch a.attach {
	case "":
		exec["code"] = string(a.code)
	case "mem":
		exec["code"] = map[string]any{"attachmentName": whisk.EncodeMemAttachment(a.code), "attachmentType": "application/octet-stream", "length": len(a.code)}
	case "couch":
		exec["code"] = map[string]any{"attachmentName": "couch:4c2b0e5e-0d8a-4a62-9c51-3f1c2d8e7a90", "attachmentType": "application/octet-stream"}
		doc["_attachments"] = map[string]any{"4c2b0e5e-0d8a-4a62-9c51-3f1c2d8e7a90": map[string]any{
			"content_type": "application/octet-stream", "data": a.code}} // []byte marshals to base64
	}
	doc["exec"] = exec
	id := a.path + "/" + a.name
	var cur struct {
		Rev string `json:"_rev"`
	}
	if err := e.actions.Get(ctx, id).ScanDoc(&cur); err == nil {
		doc["_rev"] = cur.Rev
	}
	rev, err := e.actions.Put(ctx, id, doc)
	if err != nil {
		e.t.Fatalf("put action %s: %v", id, err)
	}
	return rev
}

// invoke publishes through the controller's balancer and waits for the
// slot-freeing ack.
func (e *env) invoke(ctx context.Context, a action, rev *string, r emulator.Request) (*whisk.ActivationMessage, []emulator.Ack) {
	e.t.Helper()
	limits := a.limits
	if limits == (whisk.Limits{}) {
		limits = whisk.DefaultLimits()
	}
	msg, _, err := e.ctl.Invoke(ctx, emulator.ActionMeta{
		Name: whisk.FullyQualifiedEntityName{Path: a.path, Name: a.name, Version: "0.0.1"}, Rev: rev,
		MemoryMB: int(limits.Memory), TimeoutMs: limits.Timeout, Concurrency: limits.Concurrency,
	}, r)
	if err != nil {
		e.t.Fatal(err)
	}
	acks, err := e.ctl.WaitCompleted(ctx, msg.ActivationID)
	if err != nil {
		e.t.Fatal(err)
	}
	return msg, acks
}

// record waits for the activation record of msg.
func (e *env) record(ctx context.Context, msg *whisk.ActivationMessage) whisk.ActivationDoc {
	e.t.Helper()
	id := whisk.ActivationDocID(msg.User.Namespace.Name, msg.ActivationID)
	for {
		var doc whisk.ActivationDoc
		err := e.activations.Get(ctx, id).ScanDoc(&doc)
		if err == nil {
			return doc
		}
		if ctx.Err() != nil {
			e.t.Fatalf("record %s never arrived: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ackKinds is the sequence of ack kinds, with S for a shrunk response.
func ackKinds(acks []emulator.Ack) string {
	var parts []string
	for _, a := range acks {
		k := a.Kind().String()
		if len(a.Response) > 0 && a.Response[0] == '"' {
			k += "(shrunk)"
		}
		parts = append(parts, k)
	}
	return strings.Join(parts, ",")
}

func annotation(t testing.TB, ann whisk.Annotations, key string) any {
	t.Helper()
	raw, ok := ann.Get(key)
	if !ok {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("annotation %s: %v", key, err)
	}
	return v
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return string(b)
}
