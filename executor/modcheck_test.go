package executor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

// mod assembles a module from sections given as id and contents.
func mod(sections ...any) []byte {
	b := append([]byte(nil), wasmHeader...)
	for i := 0; i < len(sections); i += 2 {
		body := sections[i+1].([]byte)
		b = append(b, byte(sections[i].(int)))
		b = appendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	return b
}

func u32(v uint32) []byte { return appendU32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// manyFunctions is a valid module of n empty functions: each costs four
// bytes of module and far more once compiled.
func manyFunctions(n int) []byte {
	funcs, code := u32(uint32(n)), u32(uint32(n))
	for range n {
		funcs = append(funcs, 0)
		code = append(code, 2, 0, 0x0b)
	}
	return mod(secType, []byte{1, 0x60, 0, 0}, secFunction, funcs, secCode, code)
}

// allocated returns the bytes the Go heap handed out while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestScanModuleRefuses(t *testing.T) {
	tests := []struct {
		name, want string
		module     []byte
	}{
		{"2^24 exports in 15 bytes", "16777216 exports declared, more than the 100000 allowed", wasmtest.ExportBomb(1 << 24)},
		{"2^32-1 exports", "4294967295 exports declared, more than the 100000 allowed", wasmtest.ExportBomb(1<<32 - 1)},
		{"exports beyond the bytes", "50000 exports declared in 1 bytes", wasmtest.ExportBomb(50000)},
		{"imports beyond the bytes", "90000 imports declared in 0 bytes", mod(secImport, u32(90000))},
		{"functions beyond the bytes", "900000 functions declared in 0 bytes", mod(secFunction, u32(900000))},
		{"globals over the cap", "2000000 globals declared, more than the 1000000 allowed", mod(secGlobal, u32(2000000))},
		{"types beyond the bytes", "1000 types declared in 0 bytes", mod(secType, u32(1000))},
		{"parameters over the cap", "5000 parameters declared, more than the 1000 allowed", mod(secType, cat(u32(1), []byte{0x60}, u32(5000)))},
		{"huge export name", "a name of 2147483648 bytes, more than the 100000 allowed", mod(secExport, cat(u32(1), u32(1<<31), []byte{0, 0}))},
		{"export name beyond the bytes", "1000 bytes declared at byte 3, 2 left", mod(secExport, cat(u32(1), u32(1000), []byte{0, 0}))},
		{"data segment beyond the bytes", "1073741824 bytes declared", mod(secData, cat(u32(1), []byte{1}, u32(1<<30)))},
		{"body over the cap", "a function body of 1073741824 bytes, more than the 7654321 allowed",
			mod(secType, []byte{1, 0x60, 0, 0}, secFunction, []byte{1, 0}, secCode, cat(u32(1), u32(1<<30), []byte{0}))},
		{"2^32-1 locals", "locals, more than the 50000 allowed",
			mod(secType, []byte{1, 0x60, 0, 0}, secFunction, []byte{1, 0}, secCode, cat(u32(1), u32(8), u32(1), u32(1<<32-1), []byte{0x7f, 0x0b}))},
		{"table over the cap", "a table of 134217728 elements, more than the 10000000 allowed", mod(secTable, cat(u32(1), []byte{0x70, 0}, u32(1<<27)))},
		{"two memories", "2 memories declared, more than the 1 allowed", mod(secMemory, []byte{2, 0, 1, 0, 1})},
		{"imported memory", "imports a memory: only WASI preview 1 functions", mod(secImport, cat(u32(1), []byte{1, 'a', 1, 'b', 2, 0, 1}))},
		{"functions without bodies", "2 functions declared, 0 bodies", mod(secType, []byte{1, 0x60, 0, 0}, secFunction, []byte{2, 0, 0})},
		{"section past the end", "127 bytes declared at byte 13", append(mod(secExport, []byte{0}), 7, 0x7f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if n := allocated(func() { _, err = scanModule(tt.module) }); n > 1<<20 {
				t.Errorf("the check allocated %d bytes", n)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "the action's") {
				t.Errorf("error = %v, want one that says %q", err, tt.want)
			}
		})
	}
}

// TestScanModuleAccepts runs the check on every test module the executor
// runs elsewhere: none may be refused.
func TestScanModuleAccepts(t *testing.T) {
	for _, m := range []testModule{watEcho, watLoop, watGrow, watTrap, watHuge, watBadJSON, watReactor, watInitLoop, watInitTrap, goEcho, goReactor} {
		info, err := scanModule(m.bytes(t))
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
		}
		if info.hostBytes > 16<<20 {
			t.Errorf("%s: host cost %d, want a few MB at most", m.name, info.hostBytes)
		}
	}
	info, err := scanModule(manyFunctions(600_000))
	if err != nil || info.hostBytes < 128<<20 {
		t.Errorf("600000 functions: %+v, %v; want a host cost above 128 MB", info, err)
	}
}

func TestReadModuleDropsCustomSections(t *testing.T) {
	echo := watEcho.bytes(t)
	padded := wasmtest.WithCustomSection(wasmtest.WithCustomSection(echo, "name", 1000), ".debug_info", 4<<20)
	got, err := readModule(bytes.NewReader(padded), int64(len(padded)), maxModuleBytes)
	if err != nil || !bytes.Equal(got, echo) {
		t.Fatalf("readModule = %d bytes, %v; want the %d bytes of the module without its custom sections", len(got), err, len(echo))
	}
	if _, err := readModule(bytes.NewReader(padded), int64(len(padded)), 1<<20); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("over the cap: %v", err)
	}
}

// TestHostileModulesContained runs each hostile module of issue 10 through
// Executor.Run under the default limits: the stock status and text, and a
// Go heap that did not grow with what the module declares.
func TestHostileModulesContained(t *testing.T) {
	echo := watEcho.bytes(t)
	padded := wasmtest.WithCustomSection(echo, "junk", 64<<20)
	tests := []struct {
		name     string
		code     []byte
		binary   bool
		status   whisk.StatusCode
		want     string // error text, or the result
		maxAlloc uint64
	}{
		{"2^24 exports", wasmtest.ExportBomb(1 << 24), false, whisk.StatusDeveloperError,
			errorText("the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed"), 1 << 20},
		{"2^32-1 exports", wasmtest.ExportBomb(1<<32 - 1), false, whisk.StatusDeveloperError,
			errorText("the action's WebAssembly module is invalid: section 7 at byte 10: 4294967295 exports declared, more than the 100000 allowed"), 1 << 20},
		{"initial memory over the limit", testModule{wasmtest.WAT, "bigmem"}.bytes(t), false, whisk.StatusDeveloperError,
			errorText(whisk.MsgMemoryExhausted), 1 << 20},
		{"600000 functions", manyFunctions(600_000), false, whisk.StatusDeveloperError,
			errorText("the action's module declares entries that take about 146 MB of host memory, more than its memory limit of 128 MB"), 16 << 20},
		// A zip of 64 MiB of custom section: neither the entry nor the
		// section is ever whole in memory.
		{"zipped custom section", zipOf(t, map[string][]byte{"main.wasm": padded}), true, whisk.StatusSuccess, `{"a":1}`, 24 << 20},
		{"base64 custom section", []byte(base64.StdEncoding.EncodeToString(padded)), true, whisk.StatusSuccess, `{"a":1}`, 24 << 20},
	}
	e := newExecutor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := whisk.DefaultLimits()
			if tt.name == "600000 functions" {
				l.Memory = 128
			}
			a := &activation.Action{Name: activation.FQN{Name: "hostile"}, Code: activation.Code{Inline: tt.code, Binary: tt.binary}, Limits: l}
			var res activation.Result
			n := allocated(func() { res = e.Run(context.Background(), a, activation.Invocation{Value: json.RawMessage(`{"a":1}`)}) })
			if res.Response.StatusCode != tt.status || string(res.Response.Result) != tt.want {
				t.Errorf("response = %v %s, want %v %s", res.Response.StatusCode, res.Response.Result, tt.status, tt.want)
			}
			if n > tt.maxAlloc {
				t.Errorf("the run allocated %d MB, want at most %d MB", n>>20, tt.maxAlloc>>20)
			}
		})
	}
}

// TestRecoversWazeroPanic lets a module reach wazero with an initial memory
// the allocator refuses, which makes wazero panic (slice bounds out of
// range in NewMemoryInstance): the panic is contained and the run gets the
// stock memory error.
func TestRecoversWazeroPanic(t *testing.T) {
	e := newExecutor(t, WithLogger(slog.New(slog.DiscardHandler)))
	a := &activation.Action{Name: activation.FQN{Name: "bigmem"}, Code: activation.Code{Inline: testModule{wasmtest.WAT, "bigmem"}.bytes(t)}, Limits: limits(10000, 512, 1, 1)}
	m, _, err := e.module(context.Background(), a, 10e9)
	if err != nil {
		t.Fatal(err)
	}
	defer e.done(m)
	m.info.minPages = 0 // as if the check had missed it
	r := newRun(e, a, activation.Invocation{})
	r.limits.Memory = 256
	r.exec(context.Background())
	if r.resp.StatusCode != whisk.StatusDeveloperError || string(r.resp.Result) != errorText(whisk.MsgMemoryExhausted) {
		t.Fatalf("response = %v %s, want the stock memory error", r.resp.StatusCode, r.resp.Result)
	}
}

func TestCheckCode(t *testing.T) {
	bigmem := testModule{wasmtest.WAT, "bigmem"}.bytes(t)
	tests := []struct {
		name     string
		code     []byte
		binary   bool
		memoryMB int64
		want     string // "" is accepted
	}{
		{"echo", watEcho.bytes(t), false, 128, ""},
		{"zipped echo", zipOf(t, map[string][]byte{"x.wasm": watEcho.bytes(t)}), true, 128, ""},
		{"ipfs", []byte("ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), false, 128, ""},
		{"bigmem in 512 MB", bigmem, false, 512, ""},
		{"bigmem in 256 MB", bigmem, false, 256, "the action's module starts with 512 MiB of linear memory, more than its memory limit of 256 MB"},
		{"export bomb", wasmtest.ExportBomb(1 << 24), false, 256, "the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed"},
		{"600000 functions", manyFunctions(600_000), false, 128, "the action's module declares entries that take about 146 MB of host memory, more than its memory limit of 128 MB"},
		{"not a module", []byte("hello"), false, 128, "the action's code is not a WebAssembly module: want raw wasm, base64 wasm, a zip holding one .wasm file, or ipfs://<CID>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCode(&activation.Action{Code: activation.ParseCode(tt.code, tt.binary), Limits: whisk.Limits{Memory: tt.memoryMB}})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckCode = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProxyHostileModules: through the action runtime protocol, a module
// whose initial memory is over the limit passes /init (as a container
// starts) and gets the stock memory error from /run; an export bomb fails
// /init with the reason.
func TestProxyHostileModules(t *testing.T) {
	var out testenv.LockedBuffer
	srv := httptest.NewServer(NewProxy(newExecutor(t), whisk.DefaultLimits(), &out, &out))
	defer srv.Close()
	if code, body := stockClient(t, srv.URL+"/init", initBody(testModule{wasmtest.WAT, "bigmem"}.bytes(t), nil)); code != http.StatusOK {
		t.Fatalf("/init: %d %s", code, body)
	}
	if code, body := stockClient(t, srv.URL+"/run", runBody(`{}`, time.Now().Add(time.Minute))); code != http.StatusBadGateway || body != errorText(whisk.MsgMemoryExhausted) {
		t.Errorf("/run: %d %s, want 502 and the stock memory error", code, body)
	}

	srv2 := httptest.NewServer(NewProxy(newExecutor(t), whisk.DefaultLimits(), &out, &out))
	defer srv2.Close()
	want := errorText("the action's WebAssembly module is invalid: section 7 at byte 10: 16777216 exports declared, more than the 100000 allowed")
	if code, body := stockClient(t, srv2.URL+"/init", initBody(wasmtest.ExportBomb(1<<24), nil)); code != http.StatusBadGateway || body != want {
		t.Errorf("/init: %d %s, want 502 %s", code, body, want)
	}
}
