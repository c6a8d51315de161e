package wasmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

var wasmMagic = []byte("\x00asm\x01\x00\x00\x00")

func TestBuild(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
	}{
		{WAT, "echo"},
		{Command, "echo"},
		{Reactor, "echo"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+"/"+tt.name, func(t *testing.T) {
			first := Path(t, tt.kind, tt.name)
			if again := Path(t, tt.kind, tt.name); again != first {
				t.Errorf("second build gave %s, want the cached %s", again, first)
			}
			if b := Bytes(t, tt.kind, tt.name); !bytes.HasPrefix(b, wasmMagic) {
				t.Errorf("%s is not a wasm module: % x", first, b[:min(8, len(b))])
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		name string
	}{
		{WAT, "no-such-module"},
		{Command, "no-such-module"},
	} {
		if p, err := Build(tt.kind, tt.name); err == nil {
			t.Errorf("Build(%v, %q) = %s, want an error", tt.kind, tt.name, p)
		}
	}
}

// TestCacheKeyImports: a Go module's key changes with the sources of every
// package of its module that it imports, siblings of its folder included,
// and not with those of a package it does not import.
func TestCacheKeyImports(t *testing.T) {
	mod := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(mod, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/keytest\n\ngo 1.22\n")
	write("guest/main.go", "package main\n\nimport \"example.com/keytest/shared\"\n\nfunc main() { shared.F() }\n")
	write("shared/shared.go", "package shared\n\nfunc F() {}\n")
	write("unused/unused.go", "package unused\n")
	guest := filepath.Join(mod, "guest")
	key := func() string {
		t.Helper()
		k, err := cacheKey(Command, guest)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	tests := []struct {
		edit, src string
		changes   bool
	}{
		{"shared/shared.go", "package shared\n\nfunc F() { println() }\n", true},
		{"guest/main.go", "package main\n\nimport \"example.com/keytest/shared\"\n\nfunc main() { shared.F(); shared.F() }\n", true},
		{"unused/unused.go", "package unused\n\nfunc G() {}\n", false},
	}
	for _, tt := range tests {
		before := key()
		write(tt.edit, tt.src)
		if changed := key() != before; changed != tt.changes {
			t.Errorf("editing %s changed the key: %v, want %v", tt.edit, changed, tt.changes)
		}
	}
}
