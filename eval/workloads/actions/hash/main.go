// Command hash is the evaluation's file-hashing action: it streams a file
// of its file system through SHA-256, so its memory stays flat whatever the
// file's size. {"path": "/data/hash/1MiB"} or {"path": "/ipfs/<CID>/1MiB"}
// answers {"sha256": "<hex>", "bytes": N}. With "warm": true it reads the
// file without hashing it and answers its size only: the evaluation's
// warm-up, which has the node fetch the file, costs no hashing.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/faasedge/faasedge/action"
	"github.com/faasedge/faasedge/eval/workloads/actions/internal/mounts"
)

type params struct {
	Path string `json:"path"`
	Warm bool   `json:"warm"`
}

type result struct {
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes"`
}

func main() {
	action.Run(func(_ context.Context, p params) (result, error) {
		f, err := mounts.Open(p.Path)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		h := sha256.New()
		var w io.Writer = h
		if p.Warm {
			w = io.Discard
		}
		n, err := io.Copy(w, f)
		if err != nil {
			return result{}, fmt.Errorf("read %s: %w", p.Path, err)
		}
		if p.Warm {
			return result{Bytes: n}, nil
		}
		return result{SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
	})
}
