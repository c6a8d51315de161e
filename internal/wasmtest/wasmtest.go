// Package wasmtest builds the WebAssembly modules that tests run, from the
// sources under its testdata folder, on demand. Nothing opaque is committed:
// WAT sources go through wabt's wat2wasm, Go sources through the Go toolchain
// with GOOS=wasip1 GOARCH=wasm, either as a command (_start) or as a reactor
// (-buildmode=c-shared, _initialize plus //go:wasmexport functions).
//
// Built modules are cached under the repository's testdata/build/wasm (kept
// out of git, removed by `make clean`), keyed by a hash of the sources, the
// build kind and the Go version, so that every test package, and every run,
// shares one build. Concurrent builds of the same module, in one process or
// in several `go test` processes, are safe: each writes a temporary file and
// renames it into place.
package wasmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Kind is how a source becomes a module.
type Kind int

const (
	// WAT is a WebAssembly text file, testdata/<name>.wat.
	WAT Kind = iota
	// Command is a Go main package, testdata/<name>/, built for wasip1 with
	// the default build mode: a module that exports _start.
	Command
	// Reactor is a Go main package built with -buildmode=c-shared: a module
	// that exports _initialize and its //go:wasmexport functions.
	Reactor
)

func (k Kind) String() string {
	switch k {
	case WAT:
		return "wat"
	case Command:
		return "command"
	case Reactor:
		return "reactor"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// SourceDir is the folder holding the test modules' sources.
func SourceDir() string { return filepath.Join(pkgDir(), "testdata") }

// BuildDir is where built modules are cached.
func BuildDir() string {
	return filepath.Join(pkgDir(), "..", "..", "testdata", "build", "wasm")
}

// CompilationCacheDir is a directory for a wazero compilation cache
// (executor.WithDataDir) that tests share across packages and runs, so
// that the Go test modules, which take seconds to compile (a minute under
// -race on a busy machine), are compiled once. wazero keys its cache by its
// own version, the CPU and the module's hash, so sharing is safe.
//
// Only the test binaries of main packages carry their dependencies'
// versions, so wazero names its directory wazero-v1.x.y-… in those and
// wazero-dev-… in the others, and an executor removes the directories of
// versions other than its own: each kind of binary gets a root of its own,
// or packages tested in parallel delete each other's entries mid-write.
func CompilationCacheDir() string {
	kind := "dev"
	if info, ok := debug.ReadBuildInfo(); ok && len(info.Deps) > 0 {
		kind = "versioned"
	}
	return filepath.Join(pkgDir(), "..", "..", "testdata", "build", "wazero", kind)
}

func pkgDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Bytes builds (or takes from the cache) the module name of the given kind
// and returns its bytes; a build failure fails the test.
func Bytes(tb testing.TB, kind Kind, name string) []byte {
	tb.Helper()
	return SourceBytes(tb, kind, source(kind, name))
}

// SourceBytes builds src as BuildSource does and returns the module's
// bytes; a build failure fails the test.
func SourceBytes(tb testing.TB, kind Kind, src string) []byte {
	tb.Helper()
	p, err := BuildSource(kind, src)
	if err != nil {
		tb.Fatalf("wasmtest: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatalf("wasmtest: %v", err)
	}
	return b
}

// Path is Bytes returning the cached module's file path instead.
func Path(tb testing.TB, kind Kind, name string) string {
	tb.Helper()
	p, err := Build(kind, name)
	if err != nil {
		tb.Fatalf("wasmtest: %v", err)
	}
	return p
}

// WATModule is Bytes(tb, WAT, name).
func WATModule(tb testing.TB, name string) []byte { tb.Helper(); return Bytes(tb, WAT, name) }

// GoCommand is Bytes(tb, Command, name).
func GoCommand(tb testing.TB, name string) []byte { tb.Helper(); return Bytes(tb, Command, name) }

// GoReactor is Bytes(tb, Reactor, name).
func GoReactor(tb testing.TB, name string) []byte { tb.Helper(); return Bytes(tb, Reactor, name) }

// Build builds the module name of the given kind from SourceDir and returns
// the path of the cached .wasm file.
func Build(kind Kind, name string) (string, error) { return BuildSource(kind, source(kind, name)) }

// source is where the module name of the given kind is under SourceDir.
func source(kind Kind, name string) string {
	src := filepath.Join(SourceDir(), name)
	if kind == WAT {
		src += ".wat"
	}
	return src
}

var (
	mu     sync.Mutex
	builds = map[string]*build{} // by cache key
)

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildSource builds a module from src: a .wat file for WAT, a Go main
// package folder otherwise. It returns the path of the cached .wasm file.
func BuildSource(kind Kind, src string) (string, error) {
	key, err := cacheKey(kind, src)
	if err != nil {
		return "", err
	}
	mu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &build{}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.path, b.err = buildOnce(kind, src, key) })
	return b.path, b.err
}

func buildOnce(kind Kind, src, key string) (string, error) {
	dir := BuildDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build cache: %w", err)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.wasm", filepath.Base(strings.TrimSuffix(src, ".wat")), kind, key[:16]))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp, err := os.CreateTemp(dir, ".build-*.wasm")
	if err != nil {
		return "", fmt.Errorf("build cache: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	var cmd *exec.Cmd
	switch kind {
	case WAT:
		cmd = exec.Command("wat2wasm", "--enable-all", "-o", tmp.Name(), src)
	case Command, Reactor:
		args := []string{"build", "-trimpath", "-o", tmp.Name()}
		if kind == Reactor {
			args = append(args, "-buildmode=c-shared")
		}
		cmd = exec.Command("go", append(args, ".")...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
	default:
		return "", fmt.Errorf("unknown kind %v", kind)
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s %s: %w\n%s", kind, src, err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("build cache: %w", err)
	}
	return out, nil
}

// cacheKey hashes the kind, the Go version and every source file, those of
// the package's subfolders included (packages it shares with the host), so
// an edited source or a new toolchain gives a new build.
func cacheKey(kind Kind, src string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", kind, runtime.Version())
	files := []string{src}
	if kind != WAT {
		files = files[:0]
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", fmt.Errorf("wasmtest: source %s: %w", src, err)
		}
		// The Go SDK is a dependency of some: its sources count too.
		sdk, _ := filepath.Glob(filepath.Join(pkgDir(), "..", "..", "action", "*.go"))
		sdkHTTP, _ := filepath.Glob(filepath.Join(pkgDir(), "..", "..", "action", "actionhttp", "*.go"))
		sdk = append(sdk, sdkHTTP...)
		sort.Strings(files)
		files = append(files, sdk...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("wasmtest: source %s: %w", f, err)
		}
		name, err := filepath.Rel(src, f)
		if err != nil || strings.HasPrefix(name, "..") {
			name = filepath.Base(f) // the SDK's files
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
