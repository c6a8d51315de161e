// Package wasmtest builds the WebAssembly modules that tests run, from the
// sources under its testdata folder, on demand. Nothing opaque is committed:
// WAT sources go through wabt's wat2wasm, Go sources through the Go toolchain
// with GOOS=wasip1 GOARCH=wasm, either as a command (_start) or as a reactor
// (-buildmode=c-shared, _initialize plus //go:wasmexport functions).
//
// Built modules are cached under the repository's testdata/build/wasm (kept
// out of git, removed by `make clean`), keyed by a hash of the sources (of
// every package of this module that a Go module imports), the build kind
// and the Go version, so that every test package, and every run, shares
// one build. Concurrent builds of the same module, in one process or
// in several `go test` processes, are safe: each writes a temporary file and
// renames it into place.
package wasmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
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
		cmd.Env = goEnv()
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

// cacheKey hashes the kind, the Go version and the sources: for WAT the
// file, for Go those of every package of this module that src imports,
// src's own included (the SDK, the packages it shares with the host and its
// siblings'), and the module path and version of every other dependency,
// so that an edited source, a new dependency or a new toolchain gives a
// new build.
func cacheKey(kind Kind, src string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", kind, runtime.Version())
	if kind == WAT {
		if err := hashFile(h, src, filepath.Base(src)); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	pkgs, err := deps(src)
	if err != nil {
		return "", err
	}
	for _, p := range pkgs {
		if p.Standard {
			continue // the toolchain's, keyed by its version
		}
		if p.Module != nil && !p.Module.Main {
			fmt.Fprintf(h, "%s\x00%s@%s\x00", p.ImportPath, p.Module.Path, p.Module.Version)
			continue
		}
		fmt.Fprintf(h, "%s\x00", p.ImportPath)
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			if err := hashFile(h, filepath.Join(p.Dir, f), f); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes name and the content of the file at path to h.
func hashFile(h io.Writer, path, name string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("wasmtest: source %s: %w", path, err)
	}
	fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
	h.Write(b)
	return nil
}

// goPackage is what cacheKey reads of a package in `go list -json`.
type goPackage struct {
	Dir, ImportPath string
	Standard        bool
	Module          *struct {
		Path, Version string
		Main          bool
	}
	GoFiles, EmbedFiles []string
}

var (
	depsMu sync.Mutex
	depsOf = map[string][]goPackage{} // by source folder
)

// deps lists the packages the Go package at src is built from, itself
// included, as the build sees them (for wasip1). A process lists each
// source once: its imports do not change under a test run, only the
// files' contents, which cacheKey reads every time.
func deps(src string) ([]goPackage, error) {
	depsMu.Lock()
	defer depsMu.Unlock()
	if pkgs, ok := depsOf[src]; ok {
		return pkgs, nil
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,ImportPath,Standard,Module,GoFiles,EmbedFiles", ".")
	cmd.Dir = src
	cmd.Env = goEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("wasmtest: list the packages of %s: %w\n%s", src, err, stderr.String())
	}
	var pkgs []goPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("wasmtest: list the packages of %s: %w", src, err)
		}
		pkgs = append(pkgs, p)
	}
	depsOf[src] = pkgs
	return pkgs, nil
}

// goEnv is the environment of the go commands that build the Go modules.
func goEnv() []string {
	return append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
}
