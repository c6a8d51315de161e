package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestNew writes a project for each language with `faasedge new`, builds
// it with its own Makefile (the real Go, clang and rustc toolchains) and
// runs it through the standalone: the Go hello answers its typed
// parameters, the C and Rust fetch actions call a loopback server through
// the host's outbound HTTP.
func TestNew(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hi " + r.URL.Path))
	}))
	defer srv.Close()
	ctx := context.Background()
	s, err := standalone.Start(ctx, standalone.Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", ModulesDir: wasmtest.CompilationCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	api := func(method, path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, out := testenv.Request(t, method, s.APIHost()+"/api/v1/namespaces/_/actions/"+path, controller.GuestAuth, string(b))
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return m
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		lang, name string
		ann        []map[string]any
		params     map[string]any
		want       map[string]any
	}{
		{"go", "greet", nil, map[string]any{"name": "World"}, map[string]any{"greeting": "Hello, World!"}},
		{"c", "cfetch", []map[string]any{{"key": "faasedge-allowed-hosts", "value": []string{host}}},
			map[string]any{"url": srv.URL + "/c"}, map[string]any{"status": 200.0, "body": "hi /c"}},
		{"rust", "rsfetch", []map[string]any{{"key": "faasedge-allowed-hosts", "value": []string{host}}},
			map[string]any{"url": srv.URL + "/rust"}, map[string]any{"status": 200.0, "body": "hi /rust"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.name)
			var out bytes.Buffer
			if err := lookup("new").run(ctx, []string{tt.name, "--lang", tt.lang, "--dir", dir}, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "wsk action invoke "+tt.name) {
				t.Fatalf("output: %s", out.String())
			}
			bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			// Debian's rustc: the one on PATH may lack the wasm32-wasi target.
			build := exec.CommandContext(bctx, "make", "--no-print-directory", "RUSTC=/usr/bin/rustc")
			build.Dir = dir
			build.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			code, err := os.ReadFile(filepath.Join(dir, tt.name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			api("PUT", tt.name, map[string]any{"exec": map[string]any{"kind": "wasm:wasip1", "code": base64.StdEncoding.EncodeToString(code), "binary": true}, "annotations": tt.ann})
			got := api("POST", tt.name+"?blocking=true&result=true", tt.params)
			if id, ok := got["activationId"].(string); ok && len(got) == 1 {
				// Past the blocking wait (a cold compile under -race).
				got = activationResult(t, s, id)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("result %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// activationResult waits for an activation's record and returns its result.
func activationResult(t *testing.T, s *standalone.Stack, id string) map[string]any {
	t.Helper()
	for range 3000 {
		req, _ := http.NewRequest(http.MethodGet, s.APIHost()+"/api/v1/namespaces/_/activations/"+id, nil)
		req.SetBasicAuth(controller.GuestUUID, controller.GuestKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Response struct{ Result map[string]any }
		}
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && err == nil {
			return rec.Response.Result
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no record of activation %s", id)
	return nil
}
