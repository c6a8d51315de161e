// Command mnist is the evaluation's image-classification action: the ONNX
// model zoo's MNIST CNN (model.onnx, the copy inside
// github.com/owulveryck/onnx-go v0.5.0), run by package cnn. It reads count images from start of an MNIST
// image file (IDX format, uncompressed) and answers the digit it sees in
// each:
//
//	{"path": "/data/mnist/t10k-images-idx3-ubyte", "start": 0, "count": 10}
//	-> {"predictions": [7, 2, 1, ...]}
//
// The model is decoded once per instance: a reactor keeps it warm across
// activations.
package main

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/faasedge/faasedge/action"
	"github.com/faasedge/faasedge/eval/workloads/actions/internal/mounts"
	"github.com/faasedge/faasedge/eval/workloads/actions/mnist/cnn"
)

//go:embed model.onnx
var modelONNX []byte

// MaxImages bounds one activation's batch, as the workload asks 1 to 100.
const MaxImages = 100

const (
	side       = 28
	pixels     = side * side
	idxHeader  = 16
	imageMagic = 0x00000803
)

type params struct {
	Path  string `json:"path"`
	Start int    `json:"start"`
	Count int    `json:"count"`
}

type result struct {
	Predictions []int `json:"predictions"`
}

var (
	load    sync.Once
	model   *cnn.Model
	loadErr error
)

func main() {
	action.Run(func(_ context.Context, p params) (result, error) {
		if p.Count < 1 || p.Count > MaxImages || p.Start < 0 {
			return result{}, fmt.Errorf("start %d count %d: want start >= 0 and 1 to %d images", p.Start, p.Count, MaxImages)
		}
		images, err := readImages(p.Path, p.Start, p.Count)
		if err != nil {
			return result{}, err
		}
		load.Do(func() { model, loadErr = cnn.Parse(modelONNX) })
		if loadErr != nil {
			return result{}, fmt.Errorf("model: %w", loadErr)
		}
		r := result{Predictions: make([]int, 0, len(images))}
		for _, img := range images {
			d, err := classify(img)
			if err != nil {
				return result{}, err
			}
			r.Predictions = append(r.Predictions, d)
		}
		return r, nil
	})
}

// readImages reads count images from start of the IDX file at path.
func readImages(path string, start, count int) ([][]byte, error) {
	f, err := mounts.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h [idxHeader]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	n := int(binary.BigEndian.Uint32(h[4:]))
	if binary.BigEndian.Uint32(h[:]) != imageMagic || binary.BigEndian.Uint32(h[8:]) != side || binary.BigEndian.Uint32(h[12:]) != side {
		return nil, fmt.Errorf("%s: not an IDX file of %dx%d images", path, side, side)
	}
	if start+count > n {
		return nil, fmt.Errorf("%s holds %d images: images %d to %d asked", path, n, start, start+count)
	}
	buf := make([]byte, count*pixels)
	if _, err := f.ReadAt(buf, int64(idxHeader+start*pixels)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	images := make([][]byte, count)
	for i := range images {
		images[i] = buf[i*pixels : (i+1)*pixels]
	}
	return images, nil
}

// classify runs the model on one image: raw intensities, 0 (background)
// to 255, as the zoo's model takes them; the answer is the largest of the
// ten scores.
func classify(img []byte) (int, error) {
	px := make([]float32, pixels)
	for i, v := range img {
		px[i] = float32(v)
	}
	scores, err := model.Run(&cnn.Tensor{Dims: []int{1, 1, side, side}, F: px})
	if err != nil {
		return 0, err
	}
	if len(scores) != 10 {
		return 0, errors.New("the model did not answer ten scores")
	}
	best := 0
	for d, s := range scores {
		if s > scores[best] {
			best = d
		}
	}
	return best, nil
}
