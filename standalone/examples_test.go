package standalone

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestExamples builds the sample actions with `make examples` (Go with
// the SDK, C with clang and wasi-libc, Rust with Debian's rustc) and runs
// them through the standalone: the C (command) and Rust (reactor) actions
// fetch from a loopback server through the host's outbound HTTP, and are
// refused another host.
func TestExamples(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "examples", "EXAMPLES_OUT="+out)
	cmd.Dir = testenv.ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make examples: %v\n%s", err, b)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello from " + r.URL.Path + " to " + r.Header.Get("User-Agent")))
	}))
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	s := startStack(t, Config{ModulesDir: wasmtest.CompilationCacheDir()})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	allowed := whisk.KeyValueArr{{Key: activation.AnnotationAllowedHosts, Value: []string{"127.0.0.1:" + port}}}
	for name, ann := range map[string]whisk.KeyValueArr{"hello": nil, "fetch-c": allowed, "fetch-rust": allowed} {
		code, err := os.ReadFile(filepath.Join(out, name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := wsk.Actions.Insert(sdkAction(name, code, ann), false); err != nil {
			t.Fatal(err)
		}
	}

	a := invokeBlocking(t, s, controller.GuestAuth, "hello", map[string]any{"name": "World"})
	if a.Response.Result["greeting"] != "Hello, World!" {
		t.Fatalf("hello: %+v", a)
	}
	a = invokeBlocking(t, s, controller.GuestAuth, "hello", map[string]any{})
	if a.Response.Status != "application error" || a.Response.Result["error"] != "parameter name is required" {
		t.Fatalf("hello without a name: %+v", a)
	}
	for _, lang := range []string{"c", "rust"} {
		t.Run(lang, func(t *testing.T) {
			a := invokeBlocking(t, s, controller.GuestAuth, "fetch-"+lang, map[string]any{"url": srv.URL + "/x"})
			if a.Response.Result["status"] != 200.0 || a.Response.Result["body"] != "hello from /x to faasedge-"+lang+"-example" {
				t.Fatalf("allowed: %+v", a)
			}
			if logs := activationLogs(t, s, controller.GuestAuth, a.ActivationID); !strings.Contains(logs, "stderr: fetching "+srv.URL+"/x") {
				t.Fatalf("logs %q", logs)
			}
			a = invokeBlocking(t, s, controller.GuestAuth, "fetch-"+lang, map[string]any{"url": "http://localhost:" + port + "/x"})
			if msg, _ := a.Response.Result["error"].(string); a.Response.Status != "application error" ||
				!strings.HasPrefix(msg, "code 1: host localhost:"+port+" is not allowed") {
				t.Fatalf("refused: %+v", a)
			}
		})
	}
}
