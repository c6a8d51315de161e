package cnn

import (
	"os"
	"testing"
)

// FuzzParse: no model, however corrupt, panics the decoder or makes it
// allocate past its bound; the shipped model decodes.
func FuzzParse(f *testing.F) {
	model, err := os.ReadFile("../model.onnx")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := Parse(model); err != nil {
		f.Fatal(err)
	}
	f.Add(model)
	f.Add(model[:len(model)/2])
	f.Add([]byte{0x3a, 0x05, 0x2a, 0x03, 0x0a, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil && (m.input == "" || m.output == "") {
			t.Fatal("a model without input or output decoded")
		}
	})
}
