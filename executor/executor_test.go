package executor

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

// newExecutor returns an executor on the tests' shared compilation cache
// (opts may name another) that is closed when the test ends.
func newExecutor(t testing.TB, opts ...Option) *Executor {
	t.Helper()
	e, err := New(context.Background(), append([]Option{WithDataDir(wasmtest.CompilationCacheDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// module names a test module; its bytes are built on first use.
type testModule struct {
	kind wasmtest.Kind
	name string
}

var (
	watEcho     = testModule{wasmtest.WAT, "echo"}
	watLoop     = testModule{wasmtest.WAT, "loop"}
	watGrow     = testModule{wasmtest.WAT, "grow"}
	watTrap     = testModule{wasmtest.WAT, "trap"}
	watHuge     = testModule{wasmtest.WAT, "huge"}
	watBadJSON  = testModule{wasmtest.WAT, "badjson"}
	watReactor  = testModule{wasmtest.WAT, "reactor"}
	watInitLoop = testModule{wasmtest.WAT, "initloop"}
	watInitTrap = testModule{wasmtest.WAT, "inittrap"}
	goEcho      = testModule{wasmtest.Command, "echo"}
	goReactor   = testModule{wasmtest.Reactor, "echo"}
)

func (m testModule) bytes(t testing.TB) []byte { t.Helper(); return wasmtest.Bytes(t, m.kind, m.name) }

func errorText(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

func limits(timeoutMs, memoryMB, logsMB int64, concurrency int) whisk.Limits {
	return whisk.Limits{Timeout: timeoutMs, Memory: memoryMB, Logs: logsMB, Concurrency: concurrency}
}

// invocation is the typed input whose environment is env.
func invocation(value string, maxPayload int64) activation.Invocation {
	return activation.Invocation{
		ID: "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b", TransID: whisk.TransID{ID: "m2fXbLrCv0y2Wb7dP5q1yGzS8aKjT3uE"},
		Namespace: "guest", APIKey: "uuid:key", Deadline: time.UnixMilli(1704067260105),
		InitArgs: map[string]string{"APP_MODE": "prod"}, Value: json.RawMessage(value), MaxPayload: maxPayload,
	}
}

// env is the environment of invocation for the action /guest/echo@0.0.1.
var env = map[string]string{
	"__OW_API_KEY": "uuid:key", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/echo",
	"__OW_ACTION_VERSION": "0.0.1", "__OW_ACTIVATION_ID": "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b",
	"__OW_TRANSACTION_ID": "m2fXbLrCv0y2Wb7dP5q1yGzS8aKjT3uE", "__OW_DEADLINE": "1704067260105", "APP_MODE": "prod",
}

// TestRun covers every row of openwhisk-wire.md 5.3 that a wasm action can
// reach, with the exact status code and text.
func TestRun(t *testing.T) {
	const huge int64 = 2<<20 + int64(len(`{"a":""}`))
	hugePrefix := `{"a":"` + strings.Repeat("y", whisk.PayloadMax-6)
	tests := []struct {
		name       string
		mod        testModule
		limits     whisk.Limits
		value      string
		maxPayload int64
		status     whisk.StatusCode
		result     string // exact JSON
		timedOut   bool
		size       int64 // when > 0
		logs       []string
	}{
		{name: "wat echo object", mod: watEcho, value: `{"a":1}`, result: `{"a":1}`, size: 7},
		{name: "wat echo array", mod: watEcho, value: `[1,"two"]`, result: `[1,"two"]`},
		{name: "wat echo no value", mod: watEcho, result: `{}`},
		{name: "go echo with logs", mod: goEcho, value: `{"log":"hello"}`, result: `{"log":"hello"}`,
			logs: []string{"stdout: hello", "stderr: hello"}},
		{name: "application error", mod: goEcho, value: `{"error":{"code":7},"other":1}`,
			status: whisk.StatusApplicationError, result: `{"error":{"code":7}}`},
		{name: "application error null", mod: watEcho, value: `{"error":null}`,
			status: whisk.StatusApplicationError, result: `{"error":null}`},
		{name: "scalar output", mod: goEcho, value: `{"print":"42"}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgInvalidRunResponse("42"))},
		{name: "no output", mod: goEcho, value: `{"print":""}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgInvalidRunResponse(""))},
		{name: "not JSON", mod: watBadJSON,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgInvalidRunResponse("hello, world")),
			logs: []string{`stdout: {"first":"line"}`, "stderr: " + whisk.MsgDeveloperErrorLogNote}},
		{name: "non-zero exit", mod: goEcho, value: `{"exit":3}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgAbnormalRun)},
		{name: "non-zero exit with error", mod: goEcho, value: `{"print":"{\"error\":\"bad input\"}","exit":1}`,
			status: whisk.StatusDeveloperError, result: `{"error":"bad input"}`},
		{name: "go panic", mod: goEcho, value: `{"panic":"oops"}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgAbnormalRun),
			logs: []string{"stderr: panic: oops"}},
		{name: "trap", mod: watTrap,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgAbnormalRun),
			logs: []string{"stderr: about to trap", "stderr: " + whisk.MsgDeveloperErrorLogNote}},
		{name: "timeout", mod: watLoop, limits: limits(200, 128, 10, 1),
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgTimeout(200)), timedOut: true},
		{name: "initial memory over the limit", mod: goEcho, limits: limits(60000, 1, 10, 1),
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgMemoryExhausted)},
		{name: "memory exhausted", mod: watGrow, limits: limits(60000, 128, 10, 1),
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgMemoryExhausted)},
		{name: "response too large", mod: watHuge, limits: limits(60000, 128, 1, 1),
			status: whisk.StatusApplicationError, size: huge,
			result: errorText(whisk.MsgTruncatedResponse(huge, whisk.PayloadMax, hugePrefix)),
			logs:   []string{"stderr: " + whisk.MsgLogsTruncated(1<<20)}},
		{name: "response within a larger payload limit", mod: watHuge, maxPayload: 4 << 20, limits: limits(60000, 128, 0, 1),
			result: `{"a":"` + strings.Repeat("y", 2<<20) + `"}`, size: huge},
		{name: "init timeout", mod: watInitLoop, limits: limits(200, 128, 10, 1),
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgInitTimeout(200)), timedOut: true},
		{name: "init trap", mod: watInitTrap,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgAbnormalInit)},
		{name: "wat reactor", mod: watReactor, value: `{"a":1}`, result: `{"value":{"a":1},"env":` + mustJSON(env) + `}`},
		{name: "go reactor", mod: goReactor, value: `{"log":"hi"}`, result: `{"log":"hi"}`,
			logs: []string{"stdout: hi", "stderr: hi"}},
		{name: "go reactor array", mod: goReactor, value: `[1]`, result: `[1]`},
		{name: "go reactor application error", mod: goReactor, value: `{"error":"no"}`,
			status: whisk.StatusApplicationError, result: `{"error":"no"}`},
		{name: "go reactor not JSON", mod: goReactor, value: `{"print":"nope"}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgInvalidRunResponse("nope"))},
		{name: "go reactor panic", mod: goReactor, value: `{"panic":"oops"}`,
			status: whisk.StatusDeveloperError, result: errorText(whisk.MsgAbnormalRun)},
		{name: "command env", mod: goEcho, value: `{"env":"__OW_ACTIVATION_ID"}`, result: `{"env":"5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b"}`},
		{name: "command init arg", mod: goEcho, value: `{"env":"APP_MODE"}`, result: `{"env":"prod"}`},
		{name: "reactor env", mod: goReactor, value: `{"env":"__OW_ACTIVATION_ID"}`, result: `{"env":"5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b"}`},
		{name: "no host filesystem", mod: goEcho, value: `{"read":"/etc/hostname"}`,
			status: whisk.StatusApplicationError, result: `{"error":"open /etc/hostname: Bad file number"}`},
	}
	e := newExecutor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.limits
			if l == (whisk.Limits{}) {
				l = whisk.DefaultLimits()
			}
			a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "echo"}, Version: "0.0.1", Code: activation.Code{Inline: tt.mod.bytes(t)}, Limits: l}
			res := e.Run(context.Background(), a, invocation(tt.value, tt.maxPayload))
			checkResult(t, res, tt.status, tt.result)
			if res.TimedOut != tt.timedOut {
				t.Errorf("TimedOut = %v, want %v", res.TimedOut, tt.timedOut)
			}
			if tt.size > 0 && (res.Response.Size == nil || *res.Response.Size != tt.size) {
				t.Errorf("size = %v, want %d", res.Response.Size, tt.size)
			}
			checkLogs(t, res.Logs, tt.logs)
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func checkResult(t *testing.T, res activation.Result, status whisk.StatusCode, result string) {
	t.Helper()
	if res.Response.StatusCode != status {
		t.Errorf("status = %v, want %v (result %.300s)", res.Response.StatusCode, status, res.Response.Result)
	}
	if got := string(res.Response.Result); got != result {
		t.Errorf("result = %.300s, want %.300s", got, result)
	}
	if res.Start.After(res.End) || res.Start.Add(res.InitTime).After(res.End) {
		t.Errorf("start %v + init %v is after end %v", res.Start, res.InitTime, res.End)
	}
}

// checkLogs checks that each wanted line ends one of the log lines, in order,
// and that every line is well formed.
func checkLogs(t *testing.T, logs, want []string) {
	t.Helper()
	i := 0
	for _, l := range logs {
		if _, _, _, ok := whisk.ParseLogLine(l); !ok {
			t.Errorf("malformed log line %q", l)
		}
		if i < len(want) && strings.HasSuffix(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("logs %.500q lack %q", logs, want[i])
	}
}

func TestInvalidCode(t *testing.T) {
	echo := watEcho.bytes(t)
	tests := []struct {
		name   string
		code   []byte
		binary bool
		main   string
		want   string // exact error text, or its prefix when it ends with "..."
	}{
		{"empty", nil, false, "", "the action has no code"},
		{"text", []byte("function main(p) { return p }"), false, "", "the action's code is not a WebAssembly module: want raw wasm, base64 wasm, a zip holding one .wasm file, or ipfs://<CID>"},
		{"bad base64", []byte("AGFzbQ=*"), true, "", "the action's code is not valid base64: ..."},
		{"bad module", []byte("\x00asm\x01\x00\x00\x00\x99"), false, "", "the action's WebAssembly module is invalid: ..."},
		{"zip without wasm", zipOf(t, map[string][]byte{"README": []byte("hi")}), true, "", "the action's zip holds no .wasm file"},
		{"zip with two", zipOf(t, map[string][]byte{"a.wasm": echo, "b.wasm": echo}), true, "", "the action's zip holds 2 .wasm files: set main to the one to run"},
		{"no entry", testModule{wasmtest.WAT, "noentry"}.bytes(t), false, "", "the action's module exports neither _start (command) nor faasedge_alloc and faasedge_run (reactor)"},
		{"foreign import", testModule{wasmtest.WAT, "imports"}.bytes(t), false, "", "the action's module imports env.host_call: only WASI preview 1 (wasi_snapshot_preview1) and the host module faasedge are provided"},
		{"zip entry not wasm", zipOf(t, map[string][]byte{"a.wasm": []byte("text")}), true, "", "the action's zip entry a.wasm is not a WebAssembly module"},
	}
	e := newExecutor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &activation.Action{Name: activation.FQN{Name: "bad"}, Code: activation.Code{Inline: tt.code, Binary: tt.binary}, Main: tt.main, Limits: whisk.DefaultLimits()}
			for range 2 { // the second run finds the cached failure
				res := e.Run(context.Background(), a, activation.Invocation{})
				if res.Response.StatusCode != whisk.StatusDeveloperError {
					t.Fatalf("status = %v, want developer error (%s)", res.Response.StatusCode, res.Response.Result)
				}
				var got struct{ Error string }
				_ = json.Unmarshal(res.Response.Result, &got)
				if prefix, ok := strings.CutSuffix(tt.want, "..."); ok {
					if !strings.HasPrefix(got.Error, prefix) || len(got.Error) == len(prefix) {
						t.Errorf("error = %q, want %q and a reason", got.Error, tt.want)
					}
				} else if got.Error != tt.want {
					t.Errorf("error = %q, want %q", got.Error, tt.want)
				}
			}
		})
	}
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCodeForms runs the same module given in every accepted form.
func TestCodeForms(t *testing.T) {
	echo := watEcho.bytes(t)
	b64 := []byte(base64.StdEncoding.EncodeToString(echo))
	tests := []struct {
		name   string
		code   []byte
		binary bool
		main   string
	}{
		{"raw", echo, false, ""},
		{"base64 binary", b64, true, ""},
		{"base64 detected", b64, false, ""},
		{"base64 with line breaks", []byte(string(b64[:20]) + "\n" + string(b64[20:])), true, ""},
		{"zip", zipOf(t, map[string][]byte{"bin/echo.wasm": echo}), false, ""},
		{"zip base64", []byte(base64.StdEncoding.EncodeToString(zipOf(t, map[string][]byte{"echo.wasm": echo}))), true, ""},
		{"zip main names the entry", zipOf(t, map[string][]byte{"echo.wasm": echo, "other.wasm": []byte("junk")}), false, "echo.wasm"},
	}
	e := newExecutor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: tt.code, Binary: tt.binary}, Main: tt.main, Limits: whisk.DefaultLimits()}
			checkResult(t, e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"x":true}`)}), whisk.StatusSuccess, `{"x":true}`)
		})
	}
}

type fetcherFunc func(ctx context.Context, cid string) ([]byte, error)

func (f fetcherFunc) Fetch(ctx context.Context, cid string) ([]byte, error) { return f(ctx, cid) }

func TestIPFSCode(t *testing.T) {
	const cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
	echo := watEcho.bytes(t)
	var mu sync.Mutex
	fail := true
	fetcher := fetcherFunc(func(ctx context.Context, got string) ([]byte, error) {
		if got != cid {
			return nil, fmt.Errorf("unknown cid %s", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("no provider")
		}
		return echo, nil
	})
	hang := fetcherFunc(func(ctx context.Context, _ string) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{CID: cid}, Limits: limits(300, 128, 10, 1)}
	run := func(e *Executor) activation.Result {
		return e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"x":1}`)})
	}

	res := run(newExecutor(t))
	checkResult(t, res, whisk.StatusDeveloperError, errorText("could not fetch code ipfs://"+cid+": no IPFS fetcher is configured"))

	res = run(newExecutor(t, WithFetcher(hang)))
	checkResult(t, res, whisk.StatusDeveloperError, errorText("could not fetch code ipfs://"+cid+": context deadline exceeded"))

	// A fetcher that ignores its context does not hold the run either.
	unblock := make(chan struct{})
	deaf := fetcherFunc(func(context.Context, string) ([]byte, error) {
		<-unblock
		return nil, errors.New("too late")
	})
	e := newExecutor(t, WithFetcher(deaf))
	t.Cleanup(func() { close(unblock) }) // before the executor's Close, which waits for the fetch
	checkResult(t, run(e), whisk.StatusDeveloperError, errorText("could not fetch code ipfs://"+cid+": context deadline exceeded"))

	e = newExecutor(t, WithFetcher(fetcher))
	checkResult(t, run(e), whisk.StatusDeveloperError, errorText("could not fetch code ipfs://"+cid+": no provider"))
	mu.Lock()
	fail = false
	mu.Unlock()
	checkResult(t, run(e), whisk.StatusSuccess, `{"x":1}`) // a failed fetch is not cached
}

func TestReactorReuse(t *testing.T) {
	e := newExecutor(t)
	a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "r"}, Code: activation.Code{Inline: goReactor.bytes(t), Digest: "reactor"}, Limits: whisk.DefaultLimits()}
	for i := 1; i <= 3; i++ {
		res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"calls":true}`)})
		checkResult(t, res, whisk.StatusSuccess, fmt.Sprintf(`{"calls":%d}`, i))
		if res.Cold != (i == 1) || (res.InitTime > 0) != (i == 1) {
			t.Errorf("run %d: cold %v, init time %v", i, res.Cold, res.InitTime)
		}
	}
	// A developer error discards the instance, as a container is destroyed.
	e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"panic":"x"}`)})
	res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"calls":true}`)})
	checkResult(t, res, whisk.StatusSuccess, `{"calls":1}`)
}

func TestReactorMemoryBudget(t *testing.T) {
	e := newExecutor(t, WithMemoryBudget(1))
	a := &activation.Action{Name: activation.FQN{Name: "r"}, Code: activation.Code{Inline: goReactor.bytes(t), Digest: "reactor"}, Limits: whisk.DefaultLimits()}
	for range 2 {
		res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"calls":true}`)})
		checkResult(t, res, whisk.StatusSuccess, `{"calls":1}`)
		if !res.Cold {
			t.Error("an instance over the budget was pooled")
		}
	}
}

// TestReactorConcurrency runs 200 activations of one reactor action with
// concurrency 4 at once: at most 4 instances are made, each serves one
// activation at a time (-race checks the host side), and all succeed.
func TestReactorConcurrency(t *testing.T) {
	e := newExecutor(t)
	a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "r"}, Code: activation.Code{Inline: goReactor.bytes(t), Digest: "reactor"}, Limits: limits(60000, 128, 10, 4)}
	const n = 200
	results := make([]activation.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = e.Run(context.Background(), a, activation.Invocation{Value: []byte(fmt.Sprintf(`{"calls":true,"log":"run %d"}`, i))})
		})
	}
	wg.Wait()
	instances, total := 0, 0
	for i, res := range results {
		var got struct{ Calls int }
		if res.Response.StatusCode != whisk.StatusSuccess || json.Unmarshal(res.Response.Result, &got) != nil {
			t.Fatalf("run %d: %v %s", i, res.Response.StatusCode, res.Response.Result)
		}
		if got.Calls == 1 {
			instances++
		}
		total++
		checkLogs(t, res.Logs, []string{fmt.Sprintf("stdout: run %d", i), fmt.Sprintf("stderr: run %d", i)})
		if len(res.Logs) != 2 {
			t.Errorf("run %d has logs of other runs: %q", i, res.Logs)
		}
	}
	if instances < 1 || instances > 4 {
		t.Errorf("%d instances served the activations, want 1 to 4", instances)
	}
}

func TestNoLogs(t *testing.T) {
	e := newExecutor(t)
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: goEcho.bytes(t)}, Limits: limits(60000, 256, 0, 1)}
	res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"log":"x"}`)})
	checkResult(t, res, whisk.StatusSuccess, `{"log":"x"}`)
	if res.Logs != nil {
		t.Errorf("logs = %q with limits.logs 0", res.Logs)
	}
}

func TestInternalFailures(t *testing.T) {
	e, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: watLoop.bytes(t)}, Limits: whisk.DefaultLimits()}
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	checkResult(t, e.Run(ctx, a, activation.Invocation{}), whisk.StatusWhiskError, errorText(whisk.MsgAbnormalRun))

	// Close stops a run in progress: the executor's doing, a whisk error.
	done := make(chan activation.Result)
	go func() { done <- e.Run(context.Background(), a, activation.Invocation{}) }()
	time.Sleep(100 * time.Millisecond) // let it start; either way it is a whisk error
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Response.StatusCode != whisk.StatusWhiskError {
		t.Errorf("run stopped by Close: %v %s", res.Response.StatusCode, res.Response.Result)
	}
	checkResult(t, e.Run(context.Background(), a, activation.Invocation{}), whisk.StatusWhiskError, errorText(whisk.MsgProvisionFailed))
}

// TestDiskCache restarts an executor on the same data directory: the
// compiled code is found there.
func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: watEcho.bytes(t)}, Limits: whisk.DefaultLimits()}
	for i := range 2 {
		e := newExecutor(t, WithDataDir(dir))
		checkResult(t, e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"i":1}`)}), whisk.StatusSuccess, `{"i":1}`)
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		var files int
		_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				files++
			}
			return nil
		})
		if files == 0 {
			t.Fatalf("run %d: nothing cached under %s", i, dir)
		}
	}
}

// TestModuleCacheBound keeps at most maxModules compiled modules in memory,
// dropping the least recently used; a dropped module compiles (or loads
// from disk) again when next asked for.
func TestModuleCacheBound(t *testing.T) {
	e := newExecutor(t)
	e.maxModules = 2
	run := func(m testModule) activation.Result {
		a := &activation.Action{Name: activation.FQN{Name: m.name}, Code: activation.Code{Inline: m.bytes(t)}, Limits: whisk.DefaultLimits()}
		return e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"a":1}`)})
	}
	for _, m := range []testModule{watEcho, watReactor, watEcho, watBadJSON} {
		run(m)
	}
	e.mu.Lock()
	n := len(e.modules)
	e.mu.Unlock()
	if n != 2 {
		t.Errorf("%d modules cached, want 2", n)
	}
	if res := run(watReactor); !res.Cold || res.Response.StatusCode != whisk.StatusSuccess {
		t.Errorf("the evicted module: cold %v, %v %s", res.Cold, res.Response.StatusCode, res.Response.Result)
	}
	if res := run(watBadJSON); res.Cold {
		t.Error("the most recent module was evicted")
	}
}
