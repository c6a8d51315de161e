// Command video is the evaluation's video-transformation action: one
// activation per chunk of a Motion-JPEG video. It reads the chunk from
// /data or /ipfs, runs package mjpeg's pipeline on it (decode, gray, blur,
// downscale, edges, encode), publishes the output chunk to IPFS through
// the host (the action is annotated faasedge-ipfs-add=true) and answers
// where it is and what it holds:
//
//	{"path": "/data/video/chunk-000.mjpeg"}
//	-> {"cid": "Qm...", "sha256": "<hex>", "bytes": N, "frames": F, "width": W, "height": H}
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/faasedge/faasedge/action"
	"github.com/faasedge/faasedge/eval/workloads/actions/internal/mounts"
	"github.com/faasedge/faasedge/eval/workloads/actions/video/mjpeg"
)

type params struct {
	Path string `json:"path"`
}

type result struct {
	CID    string `json:"cid"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
	Frames int    `json:"frames"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// maxChunk bounds the chunk read into memory.
const maxChunk = 64 << 20

func main() {
	action.Run(func(_ context.Context, p params) (result, error) {
		chunk, err := mounts.ReadFile(p.Path, maxChunk)
		if err != nil {
			return result{}, err
		}
		out, frames, size, err := mjpeg.Transform(chunk)
		if err != nil {
			return result{}, err
		}
		cid, err := action.IPFSAdd(out)
		if err != nil {
			return result{}, fmt.Errorf("publish the output chunk: %w", err)
		}
		sum := sha256.Sum256(out)
		return result{CID: cid, SHA256: hex.EncodeToString(sum[:]), Bytes: len(out), Frames: frames, Width: size.X, Height: size.Y}, nil
	})
}
