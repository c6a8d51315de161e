package workloads

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing/fstest"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/eval/workloads/actions/video/mjpeg"
	"github.com/faasedge/faasedge/whisk"
)

// Video is the video-transformation workload: a synthetic MJPEG video
// (package mjpeg) split into chunks of whole frames, one activation of
// eval/video per chunk, so that a run sending the chunks at once fans them
// out over the edge nodes. The chunks are files in /data/video/ (Local) or
// a UnixFS directory (IPFS); each output chunk, which the action publishes
// to IPFS, is checked against the same pipeline run here: its SHA-256, its
// frames and their size.
type Video struct {
	chunks [][]byte
	want   []videoOut
	cid    string
}

type videoOut struct {
	sha256                string
	frames, width, height int
}

var _ Workload = (*Video)(nil)

// The video workload's default: ten seconds at 24 frames a second, 320 x
// 240, in 8 chunks.
const (
	VideoFrames = 240
	VideoWidth  = 320
	VideoHeight = 240
	VideoChunks = 8
)

// NewVideo is the workload over frames frames of w x h pixels in chunks
// chunks (frames are split as evenly as they go); zeros take the defaults.
func NewVideo(frames, w, h, chunks int) (*Video, error) {
	frames, w, h, chunks = cmp.Or(frames, VideoFrames), cmp.Or(w, VideoWidth), cmp.Or(h, VideoHeight), cmp.Or(chunks, VideoChunks)
	if chunks < 1 || frames < chunks || w < 4 || h < 4 || w > mjpeg.MaxSide || h > mjpeg.MaxSide {
		return nil, fmt.Errorf("workloads: video: %d frames of %dx%d in %d chunks", frames, w, h, chunks)
	}
	stream, err := mjpeg.Video(frames, w, h)
	if err != nil {
		return nil, err
	}
	images, err := mjpeg.Split(stream)
	if err != nil {
		return nil, err
	}
	v := &Video{}
	for c := range chunks {
		var chunk []byte
		for _, img := range images[c*frames/chunks : (c+1)*frames/chunks] {
			chunk = append(chunk, img...)
		}
		out, n, size, err := mjpeg.Transform(chunk)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(out)
		v.chunks = append(v.chunks, chunk)
		v.want = append(v.want, videoOut{hex.EncodeToString(sum[:]), n, size.X, size.Y})
	}
	return v, nil
}

// Name implements Workload.
func (*Video) Name() string { return "video" }

func chunkName(c int) string { return fmt.Sprintf("chunk-%03d.mjpeg", c) }

// Deploy implements Workload: the chunks go in one folder, video/.
func (v *Video) Deploy(ctx context.Context, env Env, p Placement) error {
	a := action{name: "video", annotations: map[string]any{activation.AnnotationIPFSAdd: true},
		limits: whisk.Limits{Timeout: 120_000, Memory: 512, Logs: 10, Concurrency: 1}}
	if err := deploy(ctx, env, a); err != nil {
		return err
	}
	fsys := fstest.MapFS{}
	for c, chunk := range v.chunks {
		fsys["video/"+chunkName(c)] = &fstest.MapFile{Data: chunk, Mode: 0o444}
	}
	var err error
	v.cid, err = place(ctx, env, p, fsys, "video")
	return err
}

// Request implements Workload: request i transforms chunk i modulo the
// number of chunks.
func (v *Video) Request(p Placement, i int) Request {
	path := dataPath(p, "video", v.cid, chunkName(i%len(v.chunks)))
	return Request{Action: Package + "/video", Params: params(map[string]string{"path": path})}
}

// Check implements Workload.
func (v *Video) Check(_ Placement, i int, result json.RawMessage) error {
	var r struct {
		CID    string `json:"cid"`
		SHA256 string `json:"sha256"`
		Frames int    `json:"frames"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("video: result %.200s: %w", result, err)
	}
	want := v.want[i%len(v.chunks)]
	got := videoOut{r.SHA256, r.Frames, r.Width, r.Height}
	if got != want || r.CID == "" {
		return fmt.Errorf("video: chunk %d: got %+v (cid %q), want %+v", i%len(v.chunks), got, r.CID, want)
	}
	return nil
}
