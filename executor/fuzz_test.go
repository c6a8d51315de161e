package executor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

// FuzzDecodeCode feeds arbitrary code, raw or as binary (base64) text,
// through what every run and every create does before wazero: decoding
// (zip, base64, raw), dropping custom sections and the module check. It
// must never panic, fail only with a developer error, never return more
// than the module cap, and never leave a custom section in what it returns.
func FuzzDecodeCode(f *testing.F) {
	echo := watEcho.bytes(f)
	for _, seed := range [][]byte{
		echo,
		wasmtest.ExportBomb(1 << 24),
		wasmtest.WithCustomSection(echo, "name", 16),
		zipOf(f, map[string][]byte{"main.wasm": echo}),
		[]byte(base64.StdEncoding.EncodeToString(echo)),
		manyFunctions(3),
	} {
		f.Add(seed, false)
	}
	f.Add([]byte(base64.StdEncoding.EncodeToString(zipOf(f, map[string][]byte{"a.wasm": echo}))), true)
	f.Fuzz(func(t *testing.T, code []byte, binary bool) {
		mod, err := decodeModule(code, binary, "")
		var dev *devError
		if err != nil {
			if !errors.As(err, &dev) {
				t.Fatalf("decode failed with %T %v, want a developer error", err, err)
			}
			return
		}
		if len(mod) > maxModuleBytes {
			t.Fatalf("decoded %d bytes", len(mod))
		}
		s := &scanner{b: mod, off: len(wasmHeader)}
		for s.left() > 0 && s.err == nil {
			if s.byte() == secCustom {
				t.Fatalf("a custom section at byte %d survived", s.off-1)
			}
			s.skip(s.u32())
		}
		if _, err := scanModule(mod); err != nil && !errors.As(err, &dev) {
			t.Fatalf("check failed with %T %v, want a developer error", err, err)
		}
		if err := CheckCode(&activation.Action{Code: activation.Code{Inline: code, Binary: binary}}); err != nil && !errors.As(err, &dev) {
			t.Fatalf("CheckCode failed with %T %v, want a developer error", err, err)
		}
	})
}

// fuzzTimeoutMs is the one limit FuzzRunModule lowers from the defaults,
// so that a module that loops costs a second, not a minute.
const fuzzTimeoutMs = 1000

// FuzzRunModule decodes and runs an arbitrary module under the default
// limits (but the timeout) on one executor: no panic reaches the test, the
// status is a stock one that the module can cause (never a whisk error),
// the result is JSON, and what the Go heap hands out for one run stays
// within twice the memory limit (a guest growing its memory a page at a
// time is given buffers of 1, 2, 4, ... MB up to the limit) plus a margin:
// a module's declarations cannot make the host allocate for them (the
// 2^24-export module took ~860 MB).
func FuzzRunModule(f *testing.F) {
	for _, m := range []testModule{watEcho, watTrap, watGrow, watBadJSON, watReactor, watInitTrap, {wasmtest.WAT, "bigmem"}} {
		f.Add(m.bytes(f))
	}
	f.Add(wasmtest.ExportBomb(1 << 24))
	f.Add(manyFunctions(2))
	e := newExecutor(f, WithLogger(slog.New(slog.DiscardHandler)))
	l := whisk.DefaultLimits()
	l.Timeout = fuzzTimeoutMs
	bound := 2*uint64(l.Memory)<<20 + 128<<20
	f.Fuzz(func(t *testing.T, code []byte) {
		a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "fuzz"}, Code: activation.Code{Inline: code}, Limits: l}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := e.Run(context.Background(), a, activation.Invocation{Value: json.RawMessage(`{"n":1}`)})
		runtime.ReadMemStats(&after)
		switch res.Response.StatusCode {
		case whisk.StatusSuccess, whisk.StatusApplicationError, whisk.StatusDeveloperError:
		default:
			t.Fatalf("status %v %s", res.Response.StatusCode, res.Response.Result)
		}
		if !json.Valid(res.Response.Result) {
			t.Fatalf("result %q is not JSON", res.Response.Result)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > bound {
			t.Fatalf("one run allocated %d MB, more than %d MB", n>>20, bound>>20)
		}
	})
}
