package wasmtest

import (
	"bytes"
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
		{Reactor, "reactor"},
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
