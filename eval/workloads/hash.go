package workloads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing/fstest"

	"github.com/faasedge/faasedge/whisk"
)

// HashSizes are the file sizes of the proposal's file-hashing workload.
var HashSizes = []int64{4 << 10, 1 << 20, 16 << 20, 64 << 20}

// Hash is the file-hashing workload: deterministic pseudo-random files,
// each streamed through SHA-256 by the action eval/hash, read from /data
// (Local) or /ipfs/<CID> (IPFS); each answer is checked against the hash
// computed here. Request i hashes file i modulo the number of files.
type Hash struct {
	sizes []int64
	sums  []string // hex SHA-256 of each file
	cid   string   // the IPFS directory of the files, once deployed
}

var _ Workload = (*Hash)(nil)

// NewHash is the workload over files of the given sizes (HashSizes when
// none).
func NewHash(sizes ...int64) *Hash {
	if len(sizes) == 0 {
		sizes = HashSizes
	}
	h := &Hash{sizes: append([]int64(nil), sizes...)}
	for _, n := range h.sizes {
		s := sha256.New()
		io.Copy(s, hashFile(n))
		h.sums = append(h.sums, hex.EncodeToString(s.Sum(nil)))
	}
	return h
}

// Name implements Workload.
func (*Hash) Name() string { return "hash" }

// hashFileName names a file by its size: "4KiB", "1MiB", "1000B".
func hashFileName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// hashFile is the content of the file of n bytes: a ChaCha8 stream (fixed
// by its specification, so the same on every platform and Go version)
// seeded by the file's name.
func hashFile(n int64) io.Reader {
	seed := sha256.Sum256([]byte("faasedge eval hash " + hashFileName(n)))
	return io.LimitReader(rand.NewChaCha8(seed), n)
}

// Deploy implements Workload: the files go in one folder, hash/.
func (h *Hash) Deploy(ctx context.Context, env Env, p Placement) error {
	// 64 MiB from a bandwidth-capped peer takes a while: OpenWhisk's
	// longest timeout.
	a := action{name: "hash", limits: whisk.Limits{Timeout: 300_000, Memory: 256, Logs: 10, Concurrency: 1}}
	if err := deploy(ctx, env, a); err != nil {
		return err
	}
	fsys := fstest.MapFS{}
	for _, n := range h.sizes {
		b, err := io.ReadAll(hashFile(n))
		if err != nil {
			return err
		}
		fsys["hash/"+hashFileName(n)] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	var err error
	h.cid, err = place(ctx, env, p, fsys, "hash")
	return err
}

// Request implements Workload.
func (h *Hash) Request(p Placement, i int) Request {
	path := dataPath(p, "hash", h.cid, hashFileName(h.sizes[i%len(h.sizes)]))
	return Request{Action: Package + "/hash", Params: params(map[string]string{"path": path})}
}

// Check implements Workload.
func (h *Hash) Check(_ Placement, i int, result json.RawMessage) error {
	var r struct {
		SHA256 string `json:"sha256"`
		Bytes  int64  `json:"bytes"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("hash: result %.200s: %w", result, err)
	}
	k := i % len(h.sizes)
	if r.Bytes != h.sizes[k] || r.SHA256 != h.sums[k] {
		return fmt.Errorf("hash: %s: got %d bytes with SHA-256 %s, want %d bytes with %s", hashFileName(h.sizes[k]), r.Bytes, r.SHA256, h.sizes[k], h.sums[k])
	}
	return nil
}
