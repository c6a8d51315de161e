package mounts

import (
	"bytes"
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

// TestReadFile: a file of max bytes is read whole, one of max+1 is an
// error; a path outside the mounts is refused before anything is read.
func TestReadFile(t *testing.T) {
	const max = 1 << 10
	for _, n := range []int{0, max - 1, max, max + 1, 4 * max} {
		b, err := readMax(bytes.NewReader(make([]byte, n)), "/data/f", max)
		if n <= max && (err != nil || len(b) != n) {
			t.Errorf("%d bytes: read %d, %v", n, len(b), err)
		}
		if n > max && (err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes")) {
			t.Errorf("%d bytes: read %d, %v, want too large", n, len(b), err)
		}
	}
	if _, err := ReadFile("/etc/hostname", max); err == nil || !strings.Contains(err.Error(), "want a file under") {
		t.Errorf("ReadFile outside the mounts: %v, want refused", err)
	}
}
