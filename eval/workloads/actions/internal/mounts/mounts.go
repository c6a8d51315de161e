// Package mounts opens the evaluation actions' input files, which are on
// the data mounts an edge node gives its actions: /data (the node's data
// directory, read-only) and /ipfs (UnixFS paths, fetched by CID).
package mounts

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Open opens the file at name, which must be under /data/ or /ipfs/ once
// cleaned: the actions read data, not the guest's own file system.
func Open(name string) (*os.File, error) {
	clean := path.Clean(name)
	if !strings.HasPrefix(clean, "/data/") && !strings.HasPrefix(clean, "/ipfs/") {
		return nil, fmt.Errorf("path %q: want a file under /data/ or /ipfs/", name)
	}
	return os.Open(clean)
}

// ReadFile reads the file at name, opened as Open does, into memory; a
// file of more than max bytes is an error, found before it is all read.
func ReadFile(name string, max int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readMax(f, name, max)
}

// readMax reads r, the file at name, to its end: max bytes at the most.
func readMax(r io.Reader, name string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}
