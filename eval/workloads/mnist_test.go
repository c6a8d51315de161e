package workloads

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	"gorgonia.org/tensor"

	"github.com/faasedge/faasedge/eval/workloads/actions/mnist/cnn"
)

// TestMNISTModel: the action's model.onnx is, byte for byte, the MNIST CNN
// inside github.com/owulveryck/onnx-go v0.5.0 (its GetMnist literal), and
// package cnn, which runs it in the action, answers what onnx-go's
// Gorgonia backend answers for the same images.
func TestMNISTModel(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("actions", "mnist", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := moduleDir("github.com/owulveryck/onnx-go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "internal", "examples", "mnist", "mnist_binary.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var upstream []byte
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && upstream == nil {
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			upstream = []byte(s)
		}
		return true
	})
	if !bytes.Equal(shipped, upstream) {
		t.Fatalf("model.onnx (%d bytes) differs from onnx-go's GetMnist (%d bytes)", len(shipped), len(upstream))
	}

	ours, err := cnn.Parse(shipped)
	if err != nil {
		t.Fatal(err)
	}
	graph := gorgonnx.NewGraph()
	theirs := onnx.NewModel(graph)
	if err := theirs.UnmarshalBinary(upstream); err != nil {
		t.Fatal(err)
	}
	m, err := NewMNIST(30, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range m.images {
		px := make([]float32, len(img))
		for k, v := range img {
			px[k] = float32(v)
		}
		got, err := ours.Run(&cnn.Tensor{Dims: []int{1, 1, 28, 28}, F: px})
		if err != nil {
			t.Fatal(err)
		}
		theirs.SetInput(0, tensor.New(tensor.WithShape(1, 1, 28, 28), tensor.WithBacking(append([]float32(nil), px...))))
		if err := graph.Run(); err != nil {
			t.Fatal(err)
		}
		out, err := theirs.GetOutputTensors()
		if err != nil {
			t.Fatal(err)
		}
		want := out[0].Data().([]float32)
		if len(got) != len(want) {
			t.Fatalf("image %d: %d scores, onnx-go %d", i, len(got), len(want))
		}
		for d := range want {
			if math.Abs(float64(got[d]-want[d])) > 1e-3*max(1, math.Abs(float64(want[d]))) {
				t.Fatalf("image %d: scores %v, onnx-go %v", i, got, want)
			}
		}
	}
}
