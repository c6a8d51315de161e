package invoker

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

func TestJSRunner(t *testing.T) {
	t.Setenv("FAASEDGE_TEST_SECRET", "s3cret")
	r := &JSRunner{}
	for _, tc := range []struct {
		name, code string
		timeout    int64
		memory     int64
		value      string
		status     whisk.StatusCode
		result     string // exact, when set
		contains   string // in the result, when set
		log        string // in some log line, when set
		timedOut   bool
		warm       bool // run once under the default limits first, so that the timeout can only be the run's
	}{
		{name: "health action", code: `function main(params) { return params; }`, result: `{}`},
		{name: "params and env", code: `function main(p) { return {x: p.x, id: process.env.__OW_ACTIVATION_ID}; }`, value: `{"x":[1]}`, result: `{"x":[1],"id":"abc"}`},
		{name: "no invoker environment", code: `function main() { return {v: process.env.FAASEDGE_TEST_SECRET === undefined, p: process.env.PATH === undefined}; }`, result: `{"v":true,"p":true}`},
		{name: "resolved promise", code: `function main() { return Promise.resolve({ok: true}); }`, result: `{"ok":true}`},
		{name: "openwhisk async example", code: `function main() { return new Promise(resolve => setTimeout(() => resolve({done: true}), 100)); }`, result: `{"done":true}`},
		{name: "async await", code: `const sleep = ms => new Promise(r => setTimeout(r, ms));
			async function main(p) { await sleep(10); const a = await Promise.all([1, sleep(5).then(() => 2)]); return {a}; }`, result: `{"a":[1,2]}`},
		{name: "setInterval", code: `function main() { return new Promise(res => { let n = 0; const i = setInterval(() => { if (++n === 3) { clearInterval(i); res({n}); } }, 1); }); }`, result: `{"n":3}`},
		{name: "setImmediate and nextTick", code: `function main() { return new Promise(res => setImmediate(() => process.nextTick(() => queueMicrotask(() => res({ok: 1}))))); }`, result: `{"ok":1}`},
		{name: "rejected string", code: `function main() { return Promise.reject("no"); }`, status: whisk.StatusApplicationError, result: `{"error":"no"}`},
		{name: "rejected empty", code: `function main() { return Promise.reject(); }`, status: whisk.StatusApplicationError, result: `{"error":{}}`},
		{name: "rejected error", code: `async function main() { const e = new Error("nope"); e.code = "E1"; throw e; }`, status: whisk.StatusApplicationError, contains: `"name":"Error","message":"nope"`},
		{name: "rejected object", code: `function main() { return Promise.reject({reason: 1}); }`, status: whisk.StatusApplicationError, result: `{"error":{"reason":1}}`},
		{name: "thrown error", code: `function main() { throw new Error("boom"); }`, status: whisk.StatusDeveloperError, result: `{"error":"An error has occurred: Error: boom"}`, log: "Error: boom"},
		{name: "throw in a timer", code: `function main() { return new Promise(() => setTimeout(() => { throw new TypeError("late") }, 1)); }`, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgAbnormalRun}), log: "TypeError: late"},
		{name: "unhandled rejection", code: `function main() { Promise.reject(new Error("lost")); return new Promise(r => setTimeout(() => r({}), 100)); }`,
			status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgAbnormalRun}), log: "Error: lost"},
		{name: "rejection handled later in the job", code: `async function main() { const p = Promise.reject("x"); await null; try { await p; } catch (e) { return {caught: e}; } }`, result: `{"caught":"x"}`},
		{name: "crypto", code: `const crypto = require('crypto');
			function main() {
				const u = new Uint32Array(4); crypto.getRandomValues(u);
				return {sha: crypto.createHash('sha256').update('abc').digest('hex'),
					hmac: require('node:crypto').createHmac('sha1', 'key').update(Buffer.from('data')).digest('base64'),
					md5: crypto.createHash('md5').update('a').update('b').digest('hex'),
					rnd: crypto.randomBytes(8).length, filled: u.some(x => x !== 0),
					uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(globalThis.crypto.randomUUID()) && crypto.randomUUID().length};
			}`, result: `{"sha":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","hmac":"EEFSxb/coHvGM+69RhmfAlXJ9J0=","md5":"187ef4436122d1cc2f40dc2b92f0eba0","rnd":8,"filled":true,"uuid":36}`},
		{name: "process.exit", code: `function main() { process.exit(0); return {}; }`, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgAbnormalRun})},
		{name: "hrtime", code: `function main() { const t = process.hrtime(); const d = process.hrtime(t); const b = process.hrtime.bigint();
			return {pair: t.length === 2 && d[0] >= 0, big: typeof b}; }`, result: `{"pair":true,"big":"bigint"}`},
		{name: "require url", code: `const url = require('url'); function main() { const u = new url.URL('http://h:8/p?q=1'); return {port: u.port, q: u.searchParams.get('q'), g: typeof URL}; }`, result: `{"port":"8","q":"1","g":"function"}`},
		{name: "require node: prefix", code: `function main() { return {b: typeof require("node:buffer").Buffer.from === "function", p: require('process') === process}; }`, result: `{"b":true,"p":true}`},
		{name: "require missing", code: `function main() { try { require("fs"); } catch (e) { return {m: e.message, c: e.code}; } }`, result: `{"m":"Cannot find module 'fs'","c":"MODULE_NOT_FOUND"}`},
		{name: "no file modules", code: `function main() { require("/etc/passwd"); }`, status: whisk.StatusDeveloperError, contains: "Cannot find module '/etc/passwd'"},
		{name: "buffer", code: `function main() { return {b: Buffer.from('héllo').toString('base64'), a: atob(btoa('hi'))}; }`, result: `{"b":"aMOpbGxv","a":"hi"}`},
		{name: "text encoding", code: `function main() { const b = new TextEncoder().encode('héllo €'); return {n: b.length, s: new TextDecoder().decode(b), bad: new TextDecoder().decode(new Uint8Array([0xff]))}; }`, result: `{"n":10,"s":"héllo €","bad":"` + "\uFFFD" + `"}`},
		{name: "exports main", code: `exports.main = (p) => ({via: "exports"});`, result: `{"via":"exports"}`},
		{name: "module.exports main", code: `module.exports = { main: () => ({via: "module"}) };`, result: `{"via":"module"}`},
		{name: "missing main", code: `function other() {}`, status: whisk.StatusDeveloperError, result: `{"error":"Initialization has failed due to: Action entrypoint 'main' is not a function."}`},
		{name: "syntax error", code: `function main( {`, status: whisk.StatusDeveloperError, contains: jsInitFailed, log: "Error during initialization"},
		{name: "not a dictionary", code: `function main() { return 3; }`, status: whisk.StatusDeveloperError, result: `{"error":"The action did not return a dictionary."}`, log: `Result must be of type object but has type "number": 3`},
		{name: "array result", code: `function main() { return [1]; }`, result: `[1]`},
		{name: "console", code: `function main() { console.log("a %s %d %j", "x", 2, {k: 1}, [3]); console.error(new Error("e1")); return {}; }`, log: `a x 2 {"k":1} [ 3 ]`},
		{name: "console inspects as Node", code: `function main() {
			console.log({a:1,"b-c":"x",c:[1,2,{d:{e:{f:1}}}]}, new Map([["a",1]]), new Set([1]), null, undefined, Buffer.from("hi"), [], {}, function foo(){}, "s", new Uint8Array([1,2]), -0, 10n);
			return {}; }`,
			log: "stdout: { a: 1, 'b-c': 'x', c: [ 1, 2, { d: [Object] } ] } Map(1) { 'a' => 1 } Set(1) { 1 } null undefined <Buffer 68 69> [] {} [Function: foo] s Uint8Array(2) [ 1, 2 ] -0 10n"},
		{name: "console format", code: `function main() { console.log("%s|%i|%o", {b:{c:{}}}, "42.5x", [1]); return {}; }`, log: "stdout: { b: [Object] }|42|[ 1 ]"},
		{name: "util", code: `const util = require('util'); function main() { return {f: util.format('%s=%d', 'n', 3), i: util.inspect({a: 'b'})}; }`, result: `{"f":"n=3","i":"{ a: 'b' }"}`},
		{name: "huge buffer refused", memory: 128, code: `function main() { new ArrayBuffer(1e9); }`, status: whisk.StatusDeveloperError, contains: "Array buffer allocation failed"},
		{name: "huge typed array refused", memory: 128, code: `function main() { new Float64Array(1e8); }`, status: whisk.StatusDeveloperError, contains: "Array buffer allocation failed"},
		{name: "huge string refused", memory: 128, code: `function main() { "ab".repeat(1e9); }`, status: whisk.StatusDeveloperError, contains: "Array buffer allocation failed"},
		{name: "huge Buffer refused", memory: 128, code: `function main() { Buffer.alloc(2e9); }`, status: whisk.StatusDeveloperError, contains: "Array buffer allocation failed"},
		{name: "deep recursion", code: `function f(n) { return f(n + 1) + 1; } function main() { f(0); }`, status: whisk.StatusDeveloperError, contains: "An error has occurred"},
		{name: "run timeout", code: `function main(p) { if (p.warm) return {}; while (true) {} }`, warm: true, timeout: 100, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgTimeout(100)}), timedOut: true},
		{name: "promise never settles", code: `function main(p) { if (p.warm) return {}; return new Promise(() => {}); }`, warm: true, timeout: 100, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgTimeout(100)}), timedOut: true},
		{name: "init timeout", code: `while (true) {}`, timeout: 100, status: whisk.StatusDeveloperError, result: mustMarshal(map[string]string{"error": whisk.MsgInitTimeout(100)}), timedOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := whisk.DefaultLimits()
			if tc.memory > 0 {
				l.Memory = tc.memory
			}
			a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "t"}, Kind: "nodejs:20", Code: activation.Code{Inline: []byte(tc.code)}, Limits: l}
			if tc.warm {
				a.Code.Digest = "warm " + tc.name
				if res := r.Run(context.Background(), a, activation.Invocation{Value: json.RawMessage(`{"warm":true}`)}); res.Response.StatusCode != whisk.StatusSuccess {
					t.Fatalf("warm-up: %s", res.Response.Result)
				}
			}
			if tc.timeout > 0 {
				a.Limits.Timeout = tc.timeout
			}
			res := r.Run(context.Background(), a, activation.Invocation{ID: "abc", Value: json.RawMessage(tc.value)})
			got := string(res.Response.Result)
			if res.Response.StatusCode != tc.status || (tc.result != "" && got != tc.result) ||
				!strings.Contains(got, tc.contains) || res.TimedOut != tc.timedOut {
				t.Errorf("got %d %s timedOut=%v; logs %q", res.Response.StatusCode, got, res.TimedOut, res.Logs)
			}
			if tc.log != "" && !strings.Contains(strings.Join(res.Logs, "\n"), tc.log) {
				t.Errorf("no log line with %q in %q", tc.log, res.Logs)
			}
			if res.Cold == tc.warm || (res.InitTime > 0) == tc.warm || res.End.Before(res.Start) {
				t.Errorf("timing %+v", res)
			}
		})
	}
}

// jsAction is an action as the store gives it: its code digest names the
// revision.
func jsAction(name, rev, code string) *activation.Action {
	return &activation.Action{Name: activation.FQN{Path: "guest", Name: name}, Kind: "nodejs:20",
		Code: activation.Code{Inline: []byte(code), Digest: rev}, Limits: whisk.DefaultLimits()}
}

func run(t *testing.T, r *JSRunner, a *activation.Action, value string) activation.Result {
	t.Helper()
	return r.Run(context.Background(), a, activation.Invocation{Value: json.RawMessage(value)})
}

// A warm action keeps its globals and runs without init; a VM that threw
// or timed out is not reused, nor is one of another revision.
func TestJSRunnerWarm(t *testing.T) {
	r := &JSRunner{}
	code := `let n = 0; function main(p) { if (p.fail) throw new Error("x"); if (p.spin) while (true) {} return {n: ++n}; }`
	a := jsAction("counter", "1-a", code)
	step := func(value, want string, cold bool) {
		t.Helper()
		a.Limits.Timeout = whisk.DefaultLimits().Timeout
		if value == `{"spin":true}` {
			a.Limits.Timeout = 200 // the VM is warm: the timeout can only be the run's
		}
		res := run(t, r, a, value)
		if want != "" && string(res.Response.Result) != want || res.Cold != cold || (res.InitTime > 0) != cold {
			t.Fatalf("%s: got %s cold=%v init=%v, want %s cold=%v", value, res.Response.Result, res.Cold, res.InitTime, want, cold)
		}
	}
	step(`{}`, `{"n":1}`, true)
	step(`{}`, `{"n":2}`, false)
	step(`{"fail":true}`, "", false)
	step(`{}`, `{"n":1}`, true)
	step(`{"spin":true}`, "", false)
	step(`{}`, `{"n":1}`, true)
	step(`{}`, `{"n":2}`, false)
	b := *a
	b.Code.Digest = "2-b"
	res := run(t, r, &b, `{}`)
	if string(res.Response.Result) != `{"n":1}` || !res.Cold {
		t.Fatalf("new revision: %s cold=%v", res.Response.Result, res.Cold)
	}
}

// A timer left pending by one activation never fires in the next.
func TestJSRunnerTimersCleared(t *testing.T) {
	r := &JSRunner{}
	a := jsAction("timers", "1-a", `function main(p) {
		if (p.first) { setTimeout(() => console.log("late"), 50); return {}; }
		return new Promise(res => setTimeout(() => res({}), 300));
	}`)
	run(t, r, a, `{"first":true}`)
	res := run(t, r, a, `{}`)
	if res.Cold || strings.Contains(strings.Join(res.Logs, "\n"), "late") {
		t.Fatalf("cold=%v logs %q", res.Cold, res.Logs)
	}
}

// Idle VMs are bounded by their actions' memory: the least recently used
// goes first.
func TestJSRunnerIdleMemory(t *testing.T) {
	r := &JSRunner{IdleMemory: 256}
	a, b := jsAction("a", "1-a", `function main() { return {}; }`), jsAction("b", "1-b", `function main() { return {}; }`)
	for _, step := range []struct {
		a    *activation.Action
		cold bool
	}{{a, true}, {a, false}, {b, true}, {b, false}, {a, true}} {
		if res := run(t, r, step.a, `{}`); res.Cold != step.cold {
			t.Fatalf("%s: cold=%v", step.a.Name.Name, res.Cold)
		}
	}
}

// A closed runner keeps no VM.
func TestJSRunnerClose(t *testing.T) {
	r := &JSRunner{}
	a := jsAction("closing", "1-a", `function main() { return {}; }`)
	run(t, r, a, `{}`)
	r.Close()
	for range 2 {
		if res := run(t, r, a, `{}`); !res.Cold || res.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("after Close: cold=%v %s", res.Cold, res.Response.Result)
		}
	}
}

// Concurrent activations of one action each get a VM; all of them are
// kept. The activations meet at a loopback barrier, so that all four run
// at once.
func TestJSRunnerConcurrent(t *testing.T) {
	const n = 4
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(time.Minute):
		}
	}))
	defer srv.Close()
	r := &JSRunner{HostNetwork: true}
	a := jsAction("c", "1-a", `async function main(p) { await fetch(p.url); return {i: p.i}; }`)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in := fmt.Sprintf(`{"i":%d,"url":%q}`, i, srv.URL)
			if res := run(t, r, a, in); string(res.Response.Result) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Errorf("%d: %s", i, res.Response.Result)
			}
		})
	}
	wg.Wait()
	r.mu.Lock()
	idle := len(r.pools[r.key(a, "main")].idle)
	r.mu.Unlock()
	if idle != n {
		t.Fatalf("%d idle VMs, want %d", idle, n)
	}
}

func TestJSRunnerFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen", req.Header.Get("X-Test"))
		if req.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"method": req.Method, "body": string(body), "ct": req.Header.Get("Content-Type")})
	}))
	defer srv.Close()
	code := `async function main(p) {
		const get = await fetch(p.url + "/x", {headers: {"X-Test": "yes"}});
		const post = await fetch(new URL(p.url + "/y"), {method: "POST", body: JSON.stringify({a: 1}), headers: {"content-type": "application/json"}});
		const miss = await fetch(p.url + "/missing");
		return {status: get.status, ok: get.ok, seen: get.headers.get("x-seen"), get: await get.json(),
			post: JSON.parse(await post.text()), missOk: miss.ok, missStatus: miss.status};
	}`
	allowed := &JSRunner{HostNetwork: true}
	res := run(t, allowed, jsAction("f", "1-a", code), `{"url":"`+srv.URL+`"}`)
	want := `{"status":200,"ok":true,"seen":"yes","get":{"body":"","ct":"","method":"GET"},` +
		`"post":{"body":"{\"a\":1}","ct":"application/json","method":"POST"},"missOk":false,"missStatus":404}`
	if string(res.Response.Result) != want {
		t.Fatalf("got %s, want %s; logs %q", res.Response.Result, want, res.Logs)
	}

	// By default the invoker host's loopback is out of reach.
	refuse := `async function main(p) { try { await fetch(p.url); return {}; } catch (e) { return {name: e.name, m: e.message, cause: String(e.cause)}; } }`
	res = run(t, &JSRunner{}, jsAction("f", "1-a", refuse), `{"url":"`+srv.URL+`"}`)
	var got struct{ Name, M, Cause string }
	if err := json.Unmarshal(res.Response.Result, &got); err != nil || got.Name != "TypeError" || got.M != "fetch failed" || !strings.Contains(got.Cause, errEgress.Error()) {
		t.Fatalf("got %s", res.Response.Result)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func zipped(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarGzipped(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zip actions as the stock runtime takes them: package.json's main or
// index.js, "file.fn" mains, files and node_modules required from the
// archive, base64 or decoded code.
func TestJSRunnerZip(t *testing.T) {
	lib := map[string]string{
		"lib/greet.js":                    `exports.greet = (who) => 'hello ' + who;`,
		"node_modules/shout/package.json": `{"main": "main.js"}`,
		"node_modules/shout/main.js":      `module.exports = (s) => s.toUpperCase();`,
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range lib {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	const handler = `const { greet } = require('./lib/greet'); const shout = require('shout');
		exports.main = (p) => ({ msg: shout(greet(p.who)), dir: __dirname });`
	for _, tc := range []struct {
		name   string
		files  map[string]string
		main   string
		tgz    bool
		base64 bool
		status whisk.StatusCode
		result string
	}{
		{name: "package.json main", files: with(map[string]string{"package.json": `{"main": "app.js"}`, "app.js": handler}), result: `{"msg":"HELLO ZIP","dir":"/action"}`},
		{name: "index.js", files: with(map[string]string{"index.js": handler}), base64: true, result: `{"msg":"HELLO ZIP","dir":"/action"}`},
		{name: "tar.gz", tgz: true, files: with(map[string]string{"index.js": handler}), result: `{"msg":"HELLO ZIP","dir":"/action"}`},
		{name: "file.function main", files: with(map[string]string{"other.js": `exports.run = () => ({via: "other"});`}), main: "other.run", result: `{"via":"other"}`},
		{name: "no package.json nor index.js", files: lib, status: whisk.StatusDeveloperError,
			result: mustMarshal(map[string]string{"error": jsInitFailed + msgZipNoMain})},
		{name: "module not in the archive", files: with(map[string]string{"index.js": `require('left-pad'); exports.main = () => ({});`}), status: whisk.StatusDeveloperError,
			result: mustMarshal(map[string]string{"error": jsInitFailed + "Error: Cannot find module 'left-pad'"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := zipped(t, tc.files)
			if tc.tgz {
				code = tarGzipped(t, tc.files)
			}
			if tc.base64 {
				code = []byte(base64.StdEncoding.EncodeToString(code))
			}
			a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "z"}, Kind: "nodejs:20", Main: tc.main,
				Code: activation.Code{Inline: code, Binary: tc.base64, Digest: "1-" + tc.name}, Limits: whisk.DefaultLimits()}
			res := run(t, &JSRunner{}, a, `{"who":"zip"}`)
			if res.Response.StatusCode != tc.status || string(res.Response.Result) != tc.result {
				t.Fatalf("got %d %s; logs %q", res.Response.StatusCode, res.Response.Result, res.Logs)
			}
		})
	}

	// A zip that expands beyond the action's memory is refused before it
	// is read.
	big := map[string]string{"index.js": strings.Repeat(" ", 2<<20)}
	for _, code := range [][]byte{zipped(t, big), tarGzipped(t, big)} {
		a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "big"}, Kind: "nodejs:20",
			Code: activation.Code{Inline: code}, Limits: whisk.DefaultLimits()}
		a.Limits.Memory = 1
		res := run(t, &JSRunner{}, a, `{}`)
		if res.Response.StatusCode != whisk.StatusDeveloperError || !strings.Contains(string(res.Response.Result), "expands to more than") {
			t.Fatalf("got %d %s", res.Response.StatusCode, res.Response.Result)
		}
	}
}
