package mounts

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		refused bool
	}{
		{"/data/mounts-test/no-such-file", false},
		{"/ipfs/QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn/no-such-file", false},
		{"/etc/passwd", true},
		{"/data", true},
		{"/data/../etc/passwd", true},
		{"data/hash/4KiB", true},
		{"", true},
	}
	for _, tt := range tests {
		f, err := Open(tt.name)
		if f != nil {
			f.Close()
		}
		refused := err != nil && strings.Contains(err.Error(), "want a file under /data/ or /ipfs/")
		if refused != tt.refused {
			t.Errorf("Open(%q): %v, want refused %v", tt.name, err, tt.refused)
		}
		// The host running the test has no data mounts: a path let
		// through fails to open.
		if !tt.refused && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v, want %v", tt.name, err, fs.ErrNotExist)
		}
	}
}
