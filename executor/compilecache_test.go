package executor

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// cacheEntries lists the files of the executor's disk cache under dataDir.
func cacheEntries(t *testing.T, dataDir string) []string {
	t.Helper()
	d := newDiskCache(filepath.Join(dataDir, "wazero-executor"), 0)
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, filepath.Join(d.dir, e.Name()))
		}
	}
	return out
}

// TestDiskCacheMismatch damages the one entry a module left on disk in each
// way it can fail to match, then restarts the executor: the entry is not
// used, the module compiles again and runs, and a whole entry replaces it.
func TestDiskCacheMismatch(t *testing.T) {
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: watEcho.bytes(t)}, Limits: whisk.DefaultLimits()}
	damage := map[string]func(b []byte) []byte{
		// Another wazero wrote it: the version after the magic differs.
		"version": func(b []byte) []byte {
			v := len(wazeroMagic) + 1
			copy(b[v:], strings.Repeat("9", len(wazeroVersion)))
			return b
		},
		// The native code no longer matches its checksum.
		"code": func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b },
		// Cut short while written by something other than wazero.
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"magic":     func(b []byte) []byte { b[0] = 'X'; return b },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			run := func() {
				t.Helper()
				e := newExecutor(t, WithDataDir(dir))
				checkResult(t, e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"i":1}`)}), whisk.StatusSuccess, `{"i":1}`)
				if err := e.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			run()
			entries := cacheEntries(t, dir)
			if len(entries) != 1 {
				t.Fatalf("%d cache entries, want 1", len(entries))
			}
			b, err := os.ReadFile(entries[0])
			if err != nil {
				t.Fatal(err)
			}
			if !entryWhole(entries[0]) {
				t.Fatal("a fresh entry does not check as whole")
			}
			if err := os.WriteFile(entries[0], f(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if entryWhole(entries[0]) {
				t.Fatal("the damaged entry checks as whole")
			}
			run()
			entries = cacheEntries(t, dir)
			if len(entries) != 1 || !entryWhole(entries[0]) {
				t.Errorf("after the rerun: entries %v, want one whole entry", entries)
			}
		})
	}
}

// TestDiskCacheBudget holds the disk cache within its byte budget and drops
// the directories of other wazero versions.
func TestDiskCacheBudget(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "wazero-executor", "wazero-v0.0.1-"+runtime.GOARCH+"-"+runtime.GOOS)
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "entry"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Room for one compiled WAT module, not two.
	e := newExecutor(t, WithDataDir(dir), WithCompileBudget(CompileBudget{DiskBytes: 1}))
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("another version's directory is kept: %v", err)
	}
	for _, m := range []testModule{watEcho, watBadJSON} {
		a := &activation.Action{Name: activation.FQN{Name: m.name}, Code: activation.Code{Inline: m.bytes(t)}, Limits: whisk.DefaultLimits()}
		e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{}`)})
	}
	if n := len(cacheEntries(t, dir)); n != 0 {
		t.Errorf("%d entries kept within a 1-byte budget", n)
	}
}

// TestPrecompileBudget precompiles a burst of new modules: they are
// compiled before any run asks for them, never more at once than the
// budget allows, and a run finds them ready.
func TestPrecompileBudget(t *testing.T) {
	const slots = 2
	e := newExecutor(t, WithDataDir(t.TempDir()), WithCompileBudget(CompileBudget{Concurrent: slots}))
	burst := []testModule{watEcho, watBadJSON, watTrap, watGrow, watReactor, watLoop, watInitLoop, watInitTrap, goEcho}
	var actions []*activation.Action
	for _, m := range burst {
		a := &activation.Action{Name: activation.FQN{Name: m.name}, Code: activation.Code{Inline: m.bytes(t)}, Limits: whisk.DefaultLimits()}
		actions = append(actions, a)
		if !e.Precompile(a) {
			t.Fatalf("Precompile(%s) refused", m.name)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		e.mu.Lock()
		busy := e.aotWaiting + e.aotActive
		peak := e.aotPeak
		e.mu.Unlock()
		if peak > slots {
			t.Fatalf("%d compiles at once, budget %d", peak, slots)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d precompiles still under way", busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.mu.Lock()
	for i, a := range actions {
		m := e.modules[a.Code.Key()]
		if m == nil {
			t.Errorf("%s: not compiled ahead of time", burst[i].name)
			continue
		}
		select {
		case <-m.ready:
			if m.err != nil {
				t.Errorf("%s: %v", burst[i].name, m.err)
			}
		default:
			t.Errorf("%s: still loading", burst[i].name)
		}
	}
	e.mu.Unlock()
	res := e.Run(context.Background(), actions[0], activation.Invocation{Value: []byte(`{"a":1}`)})
	checkResult(t, res, whisk.StatusSuccess, `{"a":1}`)
	if res.Cold {
		t.Error("the run after Precompile waited for its module")
	}
}

// TestPrecompileClose closes an executor with precompiles waiting for a
// slot: Close does not wait for them, and Precompile refuses afterwards,
// as it does with a budget of none.
func TestPrecompileClose(t *testing.T) {
	e := newExecutor(t, WithDataDir(t.TempDir()), WithCompileBudget(CompileBudget{Concurrent: 1}))
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: goEcho.bytes(t)}, Limits: whisk.DefaultLimits()}
	for i := range 20 {
		b := *a
		b.Code.Digest = "test-" + string(rune('a'+i))
		e.Precompile(&b)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Precompile(a) {
		t.Error("Precompile accepted after Close")
	}
	if off := newExecutor(t, WithCompileBudget(CompileBudget{Concurrent: -1})); off.Precompile(a) {
		t.Error("Precompile accepted with a budget of no compiles")
	}
}

// TestDiskCacheKeepsEntriesInFlight puts an entry that another executor is
// still writing (wazero's "<key>.<random>.tmp") beside a damaged one: the
// damaged entry is dropped, the one in flight is left for its writer to
// rename, whatever the budget.
func TestDiskCacheKeepsEntriesInFlight(t *testing.T) {
	d := newDiskCache(t.TempDir(), 0)
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(d.dir, "0123")
	writing := filepath.Join(d.dir, "4567.889900.tmp")
	for _, p := range []string{damaged, writing} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := d.dropDamaged(); n != 1 || err != nil {
		t.Errorf("dropDamaged = %d, %v; want 1, nil", n, err)
	}
	if err := d.trim(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(damaged); !os.IsNotExist(err) {
		t.Errorf("damaged entry kept: %v", err)
	}
	if _, err := os.Stat(writing); err != nil {
		t.Errorf("entry in flight removed: %v", err)
	}
}

// TestCompile is Precompile for callers that wait: a good module is ready
// when it returns, a bad one's error is the one its run reports, a wait for
// a slot ends with its context, and the budget of none and Close refuse it.
func TestCompile(t *testing.T) {
	ctx := context.Background()
	e := newExecutor(t, WithCompileBudget(CompileBudget{Concurrent: 1}))
	good := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: watEcho.bytes(t)}, Limits: whisk.DefaultLimits()}
	if err := e.Compile(ctx, good); err != nil {
		t.Fatal(err)
	}
	if !e.Ready(good.Code) {
		t.Error("not ready after Compile")
	}
	bad := &activation.Action{Name: activation.FQN{Name: "bad"}, Code: activation.Code{Inline: []byte("\x00asm\x01\x00\x00\x00\x99")}, Limits: whisk.DefaultLimits()}
	if err := e.Compile(ctx, bad); err == nil || !strings.HasPrefix(err.Error(), "the action's WebAssembly module is invalid") {
		t.Errorf("bad module: %v", err)
	}

	e.compileSlots <- struct{}{} // the one slot is taken
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	other := *good
	other.Code.Digest = "other"
	if err := e.Compile(wctx, &other); err != context.DeadlineExceeded {
		t.Errorf("waiting for a taken slot: %v", err)
	}
	<-e.compileSlots
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Compile(ctx, good); err != ErrClosed {
		t.Errorf("after Close: %v", err)
	}
	if err := newExecutor(t, WithCompileBudget(CompileBudget{Concurrent: -1})).Compile(ctx, good); err != ErrNoCompileBudget {
		t.Errorf("budget of none: %v", err)
	}
}
