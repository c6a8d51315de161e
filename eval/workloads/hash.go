package workloads

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing/fstest"

	"golang.org/x/sync/errgroup"

	"github.com/faasedge/faasedge/whisk"
)

// HashSizes are the file sizes of the proposal's file-hashing workload.
var HashSizes = []int64{4 << 10, 1 << 20, 16 << 20, 64 << 20}

// Hash is the file-hashing workload: deterministic pseudo-random files,
// each streamed through SHA-256 by the action eval/hash, read from /data
// (Local) or /ipfs/<CID> (IPFS); each answer is checked against the hash
// computed here. Request i hashes file i modulo the number of files.
//
// IPFS data is measured cold and warm apart (Placements gives IPFSCold
// and IPFSWarm for IPFS). Cold: every request reads a file of its own,
// fresh random bytes added on the data owner at deployment, so no node
// holds a block of it before the request. Warm: the fixed files, which
// deployment has every node read first (see warm).
type Hash struct {
	sizes []int64
	sums  []string   // hex SHA-256 of each file
	cid   string     // the IPFS directory of the files, once deployed
	cold  []hashFile // IPFSCold: request i reads cold[i%len(cold)]
}

// hashFile is a file added on its own, by CID.
type hashFile struct {
	cid, sum string
	size     int64
}

var _ Workload = (*Hash)(nil)

func (*Hash) coldWarm() {}

// NewHash is the workload over files of the given sizes (HashSizes when
// none).
func NewHash(sizes ...int64) *Hash {
	if len(sizes) == 0 {
		sizes = HashSizes
	}
	h := &Hash{sizes: append([]int64(nil), sizes...)}
	for _, n := range h.sizes {
		s := sha256.New()
		io.Copy(s, hashContent(n))
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

// hashContent is the content of the file of n bytes: a ChaCha8 stream
// (fixed by its specification, so the same on every platform and Go
// version) seeded by the file's name.
func hashContent(n int64) io.Reader {
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
	switch p {
	case IPFSCold:
		return h.addCold(ctx, env)
	case IPFSWarm:
		if err := h.place(ctx, env, IPFS); err != nil {
			return err
		}
		return h.warm(ctx, env)
	}
	return h.place(ctx, env, p)
}

func (h *Hash) place(ctx context.Context, env Env, p Placement) error {
	fsys := fstest.MapFS{}
	for _, n := range h.sizes {
		b, err := io.ReadAll(hashContent(n))
		if err != nil {
			return err
		}
		fsys["hash/"+hashFileName(n)] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	var err error
	h.cid, err = place(ctx, env, p, fsys, "hash")
	return err
}

// addCold adds a file of fresh random bytes for each request a run sends,
// one at a time (the largest is 64 MiB), the sizes in turn as the warm
// files'.
func (h *Hash) addCold(ctx context.Context, env Env) error {
	if env.Requests < 1 {
		return fmt.Errorf("workloads: hash: %s needs the number of requests (Env.Requests) to prepare a file for each", IPFSCold)
	}
	h.cold = make([]hashFile, env.Requests)
	for i := range h.cold {
		n := h.sizes[i%len(h.sizes)]
		var seed [32]byte
		crand.Read(seed[:])
		b, err := io.ReadAll(io.LimitReader(rand.NewChaCha8(seed), n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := hashFileName(n)
		c, err := env.AddIPFS(ctx, fstest.MapFS{name: &fstest.MapFile{Data: b, Mode: 0o444}}, name)
		if err != nil {
			return fmt.Errorf("workloads: hash: add cold file %d to IPFS: %w", i, err)
		}
		h.cold[i] = hashFile{cid: c, sum: hex.EncodeToString(sum[:]), size: n}
	}
	return nil
}

// warm has every executing node read every file before the measured
// requests: each file is read twice by twice as many requests at once as
// there are nodes, which the gateway spreads over its claims on the nodes
// (it runs each on the claim with the most memory free). The reads skip
// the hashing ("warm": true): only the fetch matters. The load table's
// block-exchange bytes of the measured requests show whether a node was
// missed.
func (h *Hash) warm(ctx context.Context, env Env) error {
	for k, n := range h.sizes {
		r := Request{Action: Package + "/hash", Params: params(map[string]any{"path": h.path(IPFSWarm, k), "warm": true})}
		for range 2 {
			g, gctx := errgroup.WithContext(ctx)
			for range 2 * max(len(env.DataDirs), 1) {
				g.Go(func() error {
					rec, err := invoke(gctx, env, r)
					if err != nil {
						return err
					}
					var got struct{ Bytes int64 }
					if err := json.Unmarshal(rec.Response.Result, &got); err != nil || got.Bytes != n {
						return fmt.Errorf("%s: read %s, want %d bytes", hashFileName(n), rec.Response.Result, n)
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				return fmt.Errorf("workloads: hash: warm-up: %w", err)
			}
		}
	}
	return nil
}

// Request implements Workload.
func (h *Hash) Request(p Placement, i int) Request {
	return Request{Action: Package + "/hash", Params: params(map[string]string{"path": h.path(p, i)}),
		Kind: hashFileName(h.sizes[i%len(h.sizes)])}
}

// path is the file request i reads.
func (h *Hash) path(p Placement, i int) string {
	switch p {
	case IPFSCold:
		return "/ipfs/" + h.cold[i%len(h.cold)].cid
	case IPFSWarm:
		p = IPFS
	}
	return dataPath(p, "hash", h.cid, hashFileName(h.sizes[i%len(h.sizes)]))
}

// Check implements Workload.
func (h *Hash) Check(p Placement, i int, result json.RawMessage) error {
	var r struct {
		SHA256 string `json:"sha256"`
		Bytes  int64  `json:"bytes"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("hash: result %.200s: %w", result, err)
	}
	k := i % len(h.sizes)
	want := hashFile{sum: h.sums[k], size: h.sizes[k]}
	if p == IPFSCold {
		want = h.cold[i%len(h.cold)]
	}
	if r.Bytes != want.size || r.SHA256 != want.sum {
		return fmt.Errorf("hash: %s: got %d bytes with SHA-256 %s, want %d bytes with %s", hashFileName(want.size), r.Bytes, r.SHA256, want.size, want.sum)
	}
	return nil
}
