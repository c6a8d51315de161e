// Package mounts opens the evaluation actions' input files, which are on
// the data mounts an edge node gives its actions: /data (the node's data
// directory, read-only) and /ipfs (UnixFS paths, fetched by CID).
package mounts

import (
	"fmt"
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
