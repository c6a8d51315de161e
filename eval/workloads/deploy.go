package workloads

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

// Package is the OpenWhisk package the workloads' actions are created in.
const Package = "eval"

// guest builds (or takes from the shared build cache) the action
// actions/<name> as a reactor, which the executor keeps warm across
// activations. The sources are this package's own folder: a run builds
// them from a source checkout with the Go toolchain, as `make test` builds
// the test modules.
func guest(name string) ([]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "actions", name)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("workloads: the sources of action %s are not at %s (run from a source checkout): %w", name, src, err)
	}
	p, err := wasmtest.BuildSource(wasmtest.Reactor, src)
	if err != nil {
		return nil, fmt.Errorf("workloads: %w", err)
	}
	return os.ReadFile(p)
}

// action is what a workload's Deploy creates: the wasm action eval/<name>,
// built from actions/<name>.
type action struct {
	name        string
	limits      whisk.Limits
	annotations map[string]any
}

// deploy builds a's module and creates the eval package (if needed) and
// the action through the REST API, overwriting earlier versions.
func deploy(ctx context.Context, env Env, a action) error {
	module, err := guest(a.name)
	if err != nil {
		return err
	}
	if err := put(ctx, env, "packages/"+Package, map[string]any{}); err != nil {
		return err
	}
	var ann []map[string]any
	for k, v := range a.annotations {
		ann = append(ann, map[string]any{"key": k, "value": v})
	}
	doc := map[string]any{
		"exec": map[string]any{
			"kind": whisk.KindWasm, "binary": true,
			"code": base64.StdEncoding.EncodeToString(module),
		},
		"limits":      a.limits,
		"annotations": ann,
	}
	return put(ctx, env, "actions/"+Package+"/"+a.name, doc)
}

// place puts a workload's data, the tree root of fsys, where p says: Local
// writes it into every data directory (dir/root/...), IPFS adds it on the
// data owner as one directory and returns its CID.
func place(ctx context.Context, env Env, p Placement, fsys fs.FS, root string) (cid string, err error) {
	switch p {
	case Local:
		for _, dir := range env.DataDirs {
			if err := writeTree(dir, fsys, root); err != nil {
				return "", fmt.Errorf("workloads: %s: %w", root, err)
			}
		}
		return "", nil
	case IPFS:
		if cid, err = env.AddIPFS(ctx, fsys, root); err != nil {
			return "", fmt.Errorf("workloads: %s: add to IPFS: %w", root, err)
		}
		return cid, nil
	}
	return "", fmt.Errorf("workloads: %s: unknown placement %q", root, p)
}

// writeTree writes the tree root of fsys below dir, leaving the files that
// already hold the same bytes as they are: data written by an earlier run
// (the hash workload's 64 MiB file) is not written again.
func writeTree(dir string, fsys fs.FS, root string) error {
	return fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, b) {
			return nil
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// dataPath is where an action reads the file name of the data placed at
// root (Local) or cid (IPFS).
func dataPath(p Placement, root, cid, name string) string {
	if p == IPFS {
		return "/ipfs/" + cid + "/" + name
	}
	return "/data/" + root + "/" + name
}

// params marshals an action's parameters; they are plain structs and maps,
// so marshalling cannot fail.
func params(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
