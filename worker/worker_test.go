package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
	"github.com/faasedge/faasedge/worker"
)

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

// TestWorker: a worker runs code by CID from its own IPFS node, and its
// actions read what was added to the node at /ipfs. (The /data mount is
// p2p/edge's TestDataMounts.)
func TestWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := worker.Open(ctx, worker.Config{
		Node:       &worker.Node{Host: p2p.Config{DataDir: t.TempDir(), ListenAddrs: loopback}},
		ModulesDir: t.TempDir(), Memory: 256 * whisk.MB, KVDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if w.Host() == nil || w.KeyValue() == nil {
		t.Fatalf("host %v, key-value store %v", w.Host(), w.KeyValue())
	}
	code, err := w.IPFS().Add(ctx, bytes.NewReader(wasmtest.GoReactor(t, "cat")), 1)
	if err != nil {
		t.Fatal(err)
	}
	added, err := w.IPFS().Add(ctx, strings.NewReader("added to the node"), 1)
	if err != nil {
		t.Fatal(err)
	}
	a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "cat"}, Kind: whisk.KindWasm,
		Code:   activation.ParseCode([]byte("ipfs://"+code.String()), false),
		Limits: whisk.Limits{Timeout: 30000, Memory: 128, Logs: 10, Concurrency: 1}}
	res := w.Executor().Run(ctx, a, activation.Invocation{ID: activation.NewID(), Namespace: "guest",
		Value: json.RawMessage(fmt.Sprintf(`{"path":"/ipfs/%s"}`, added)), Deadline: time.Now().Add(time.Minute)})
	var got struct{ Content string }
	if err := json.Unmarshal(res.Response.Result, &got); err != nil || got.Content != "added to the node" {
		t.Fatalf("status %s result %s logs %v", res.Response.StatusCode, res.Response.Result, res.Logs)
	}
}

// TestOpenFailureClosesWhatItOpened: a worker that fails half-way leaves
// neither its node's block store nor its key-value store locked, so the
// next start opens them.
func TestOpenFailureClosesWhatItOpened(t *testing.T) {
	ctx := context.Background()
	node := &worker.Node{Host: p2p.Config{DataDir: t.TempDir(), ListenAddrs: loopback}}
	kvDir := t.TempDir()
	bad := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(bad, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The store opens after the node: a store path that is a file fails
	// once the node is up.
	if w, err := worker.Open(ctx, worker.Config{Node: node, KVDir: bad}); err == nil {
		_ = w.Close(ctx)
		t.Fatal("opened on a file")
	}
	// The executor starts last: a modules dir that is a file fails once
	// the node and the store are up.
	if w, err := worker.Open(ctx, worker.Config{Node: node, KVDir: kvDir, ModulesDir: bad}); err == nil {
		_ = w.Close(ctx)
		t.Fatal("compiled modules kept in a file")
	}
	// A data mount that is no directory fails before anything opens.
	if w, err := worker.Open(ctx, worker.Config{Node: node, KVDir: kvDir, DataMount: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		if w != nil {
			_ = w.Close(ctx)
		}
		t.Fatalf("data mount on a file: %v", err)
	}
	h, n, err := node.Open(ctx, nil)
	if err != nil {
		t.Fatalf("node after failed starts: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := kv.OpenPebble(kvDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("key-value store after failed starts: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
