package workloads

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

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

// put sends one PUT ...?overwrite=true to the namespace's entity at path.
func put(ctx context.Context, env Env, path string, doc any) error {
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	code, msg, err := call(ctx, env, http.MethodPut, path+"?overwrite=true", body)
	if err != nil {
		return fmt.Errorf("workloads: put %s: %w", path, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("workloads: put %s: %d %.300s", path, code, msg)
	}
	return nil
}

// record is the part of an activation record a workload reads.
type record struct {
	ActivationID string `json:"activationId"`
	// Duration is the activation's execution time in ms.
	Duration int64 `json:"duration"`
	Response struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	} `json:"response"`
}

// invoke sends r as a blocking invocation and returns the activation's
// result.
func invoke(ctx context.Context, env Env, r Request) (json.RawMessage, error) {
	rec, err := invokeRecord(ctx, env, r)
	return rec.Response.Result, err
}

// invokeRecord sends r as a blocking invocation and returns the
// successful activation's record, polling for it when the controller
// answers 202 (the activation outlived the blocking wait).
func invokeRecord(ctx context.Context, env Env, r Request) (rec record, err error) {
	code, body, err := call(ctx, env, http.MethodPost, "actions/"+r.Action+"?blocking=true", r.Params)
	if err != nil {
		return rec, err
	}
	if code == http.StatusAccepted {
		if err := json.Unmarshal(body, &rec); err != nil || rec.ActivationID == "" {
			return rec, fmt.Errorf("%s: %d %.300s", r.Action, code, body)
		}
		// Until the record is written, GET answers 404.
		for code = http.StatusNotFound; code == http.StatusNotFound; {
			select {
			case <-ctx.Done():
				return rec, fmt.Errorf("%s: activation %s: %w", r.Action, rec.ActivationID, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
			if code, body, err = call(ctx, env, http.MethodGet, "activations/"+rec.ActivationID, nil); err != nil {
				return rec, err
			}
		}
	}
	if err := json.Unmarshal(body, &rec); err != nil || rec.Response.Status != "success" {
		return rec, fmt.Errorf("%s %.200s: %d %.500s", r.Action, r.Params, code, body)
	}
	return rec, nil
}

// call sends one request to the namespace's REST API at path and returns
// the status and the body.
func call(ctx context.Context, env Env, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(env.APIHost, "/")+"/api/v1/namespaces/_/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	user, pass, _ := strings.Cut(env.Auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// Records are bounded by the action's limits; this bounds a hostile
	// or broken server.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
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
