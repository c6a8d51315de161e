// Package cnn runs small convolutional networks stored as ONNX models: it
// decodes the ModelProto (protobuf, with protowire) and evaluates its graph
// for one input with the operators the ONNX model zoo's MNIST CNN uses:
// Conv (auto_pad SAME_UPPER, SAME_LOWER or explicit pads, one group), Add
// and MatMul (with broadcasting), Relu, MaxPool and Reshape.
//
// It is the evaluation's classifier in WebAssembly because onnx-go's
// Gorgonia backend, which runs the same model, compiles to a 28 MB module
// that takes a minute to compile before its first run; this is a few
// hundred lines. Its answers are checked against onnx-go's in the tests.
package cnn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Tensor is a dense row-major float32 tensor; shape tensors (ONNX int64)
// are kept in I.
type Tensor struct {
	Dims []int
	F    []float32
	I    []int64
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

type attr struct {
	i    int64
	s    string
	ints []int64
}

type node struct {
	op      string
	inputs  []string
	outputs []string
	attrs   map[string]attr
}

// Model is a decoded graph.
type Model struct {
	nodes   []node
	weights map[string]*Tensor
	input   string // the one graph input that is not an initializer
	output  string
}

// maxElements bounds a tensor the model declares, so a corrupt model
// cannot make the decoder allocate without bound.
const maxElements = 1 << 24

// Parse decodes an ONNX model.
func Parse(b []byte) (*Model, error) {
	m := &Model{weights: map[string]*Tensor{}}
	var inputs []string
	err := fields(b, func(num protowire.Number, v []byte) error {
		if num != 7 { // ModelProto.graph
			return nil
		}
		return fields(v, func(num protowire.Number, v []byte) error {
			switch num {
			case 1: // node
				n, err := parseNode(v)
				m.nodes = append(m.nodes, n)
				return err
			case 5: // initializer
				name, t, err := parseTensor(v)
				m.weights[name] = t
				return err
			case 11: // input (ValueInfoProto.name = 1)
				return fields(v, func(num protowire.Number, v []byte) error {
					if num == 1 {
						inputs = append(inputs, string(v))
					}
					return nil
				})
			case 12: // output
				return fields(v, func(num protowire.Number, v []byte) error {
					if num == 1 && m.output == "" {
						m.output = string(v)
					}
					return nil
				})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cnn: %w", err)
	}
	for _, in := range inputs {
		if _, ok := m.weights[in]; !ok {
			if m.input != "" {
				return nil, errors.New("cnn: the graph has more than one input")
			}
			m.input = in
		}
	}
	if m.input == "" || m.output == "" || len(m.nodes) == 0 {
		return nil, errors.New("cnn: no graph, or a graph without input or output")
	}
	return m, nil
}

// fields calls f with each length-delimited field of a message (the only
// kind the graph's structure uses); other wire types are skipped.
func fields(b []byte, f func(protowire.Number, []byte) error) error {
	return each(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			return n, protowire.ParseError(n)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return n, protowire.ParseError(n)
		}
		return n, f(num, v)
	})
}

// each walks a message's fields: f consumes one value and says how many
// bytes it took.
func each(b []byte, f func(protowire.Number, protowire.Type, []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m, err := f(num, typ, b)
		if err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// str reads a string field.
func str(b []byte, s *string) (int, error) {
	v, n := protowire.ConsumeBytes(b)
	*s = string(v)
	return n, protowire.ParseError(n)
}

// varint reads an int64 field.
func varint(b []byte, i *int64) (int, error) {
	v, n := protowire.ConsumeVarint(b)
	*i = int64(v)
	return n, protowire.ParseError(n)
}

// varints reads a repeated int64 field, packed or not.
func varints(typ protowire.Type, b []byte, out *[]int64) (int, error) {
	if typ == protowire.VarintType {
		v, n := protowire.ConsumeVarint(b)
		*out = append(*out, int64(v))
		return n, protowire.ParseError(n)
	}
	if typ != protowire.BytesType {
		return 0, errors.New("int64 field of a wrong wire type")
	}
	p, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n, protowire.ParseError(n)
	}
	for len(p) > 0 {
		v, k := protowire.ConsumeVarint(p)
		if k < 0 {
			return k, protowire.ParseError(k)
		}
		*out = append(*out, int64(v))
		p = p[k:]
	}
	return n, nil
}

func parseNode(b []byte) (node, error) {
	n := node{attrs: map[string]attr{}}
	err := fields(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			n.inputs = append(n.inputs, string(v))
		case 2:
			n.outputs = append(n.outputs, string(v))
		case 4:
			n.op = string(v)
		case 5:
			var name string
			var a attr
			err := each(v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				switch {
				case num == 1 && typ == protowire.BytesType:
					return str(b, &name)
				case num == 3 && typ == protowire.VarintType:
					return varint(b, &a.i)
				case num == 4 && typ == protowire.BytesType:
					return str(b, &a.s)
				case num == 8:
					return varints(typ, b, &a.ints)
				}
				n := protowire.ConsumeFieldValue(num, typ, b)
				return n, protowire.ParseError(n)
			})
			n.attrs[name] = a
			return err
		}
		return nil
	})
	return n, err
}

func parseTensor(b []byte) (string, *Tensor, error) {
	var name string
	var dims, ints []int64
	var floats []float32
	var raw []byte
	dtype := int64(0)
	err := each(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch {
		case num == 1:
			return varints(typ, b, &dims)
		case num == 2 && typ == protowire.VarintType:
			return varint(b, &dtype)
		case num == 4 && typ == protowire.BytesType: // float_data, packed
			p, n := protowire.ConsumeBytes(b)
			for ; len(p) >= 4; p = p[4:] {
				v, _ := protowire.ConsumeFixed32(p)
				floats = append(floats, math.Float32frombits(v))
			}
			return n, protowire.ParseError(n)
		case num == 4 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			floats = append(floats, math.Float32frombits(v))
			return n, protowire.ParseError(n)
		case num == 7:
			return varints(typ, b, &ints)
		case num == 8 && typ == protowire.BytesType:
			return str(b, &name)
		case num == 9 && typ == protowire.BytesType:
			s, n := protowire.ConsumeBytes(b)
			raw = s
			return n, protowire.ParseError(n)
		}
		n := protowire.ConsumeFieldValue(num, typ, b)
		return n, protowire.ParseError(n)
	})
	if err != nil {
		return "", nil, err
	}
	t := &Tensor{}
	for _, d := range dims {
		if d < 0 || d > maxElements {
			return "", nil, fmt.Errorf("initializer %s: dimension %d", name, d)
		}
		t.Dims = append(t.Dims, int(d))
	}
	n := size(t.Dims)
	if n > maxElements {
		return "", nil, fmt.Errorf("initializer %s: %d elements", name, n)
	}
	switch dtype {
	case 1: // FLOAT
		if raw != nil {
			for ; len(raw) >= 4; raw = raw[4:] {
				floats = append(floats, math.Float32frombits(uint32(raw[0])|uint32(raw[1])<<8|uint32(raw[2])<<16|uint32(raw[3])<<24))
			}
		}
		t.F = floats
		if len(t.F) != n {
			return "", nil, fmt.Errorf("initializer %s: %d floats for dimensions %v", name, len(t.F), t.Dims)
		}
	case 7: // INT64
		if raw != nil {
			for ; len(raw) >= 8; raw = raw[8:] {
				var v uint64
				for k := 7; k >= 0; k-- {
					v = v<<8 | uint64(raw[k])
				}
				ints = append(ints, int64(v))
			}
		}
		t.I = ints
		if len(t.I) != n {
			return "", nil, fmt.Errorf("initializer %s: %d ints for dimensions %v", name, len(t.I), t.Dims)
		}
	default:
		return "", nil, fmt.Errorf("initializer %s: data type %d is not supported", name, dtype)
	}
	return name, t, nil
}

// Run evaluates the graph for input, of the graph input's shape, and
// returns the output tensor's values.
func (m *Model) Run(input *Tensor) ([]float32, error) {
	env := map[string]*Tensor{m.input: input}
	get := func(name string) (*Tensor, error) {
		if t, ok := env[name]; ok {
			return t, nil
		}
		if t, ok := m.weights[name]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("cnn: tensor %q is used before it is computed", name)
	}
	for _, n := range m.nodes {
		ins := make([]*Tensor, len(n.inputs))
		for i, name := range n.inputs {
			var err error
			if ins[i], err = get(name); err != nil {
				return nil, err
			}
		}
		out, err := n.eval(ins)
		if err != nil {
			return nil, fmt.Errorf("cnn: %s: %w", n.op, err)
		}
		if len(n.outputs) != 1 {
			return nil, fmt.Errorf("cnn: %s: %d outputs", n.op, len(n.outputs))
		}
		env[n.outputs[0]] = out
	}
	out, err := get(m.output)
	if err != nil {
		return nil, err
	}
	return out.F, nil
}

func (n node) eval(in []*Tensor) (*Tensor, error) {
	want := map[string]int{"Conv": 2, "Add": 2, "MatMul": 2, "Relu": 1, "MaxPool": 1, "Reshape": 2}
	k, ok := want[n.op]
	if !ok {
		return nil, errors.New("operator not supported")
	}
	if len(in) < k || n.op != "Conv" && len(in) != k {
		return nil, fmt.Errorf("%d inputs", len(in))
	}
	switch n.op {
	case "Relu":
		out := &Tensor{Dims: in[0].Dims, F: make([]float32, len(in[0].F))}
		for i, v := range in[0].F {
			out.F[i] = max(v, 0)
		}
		return out, nil
	case "Add":
		return broadcast(in[0], in[1])
	case "MatMul":
		return matmul(in[0], in[1])
	case "Reshape":
		return reshape(in[0], in[1])
	case "MaxPool":
		return n.maxPool(in[0])
	}
	return n.conv(in)
}

func broadcast(a, b *Tensor) (*Tensor, error) {
	r := max(len(a.Dims), len(b.Dims))
	pad := func(d []int) []int { return append(slices.Repeat([]int{1}, r-len(d)), d...) }
	ad, bd := pad(a.Dims), pad(b.Dims)
	dims := make([]int, r)
	for i := range dims {
		switch {
		case ad[i] == bd[i] || bd[i] == 1:
			dims[i] = ad[i]
		case ad[i] == 1:
			dims[i] = bd[i]
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a.Dims, b.Dims)
		}
	}
	out := &Tensor{Dims: dims, F: make([]float32, size(dims))}
	idx := make([]int, r)
	for o := range out.F {
		ai, bi := 0, 0
		for i := range r {
			ai = ai*ad[i] + min(idx[i], ad[i]-1)
			bi = bi*bd[i] + min(idx[i], bd[i]-1)
		}
		out.F[o] = a.F[ai] + b.F[bi]
		for i := r - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

func matmul(a, b *Tensor) (*Tensor, error) {
	if len(a.Dims) != 2 || len(b.Dims) != 2 || a.Dims[1] != b.Dims[0] {
		return nil, fmt.Errorf("shapes %v and %v: want [m k] x [k n]", a.Dims, b.Dims)
	}
	m, k, n := a.Dims[0], a.Dims[1], b.Dims[1]
	out := &Tensor{Dims: []int{m, n}, F: make([]float32, m*n)}
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				s += a.F[i*k+p] * b.F[p*n+j]
			}
			out.F[i*n+j] = s
		}
	}
	return out, nil
}

func reshape(t, shape *Tensor) (*Tensor, error) {
	dims := make([]int, len(shape.I))
	known, infer := 1, -1
	for i, d := range shape.I {
		switch {
		case d == -1 && infer < 0:
			infer = i
			continue
		case d == 0 && i < len(t.Dims):
			dims[i] = t.Dims[i]
		case d > 0:
			dims[i] = int(d)
		default:
			return nil, fmt.Errorf("shape %v", shape.I)
		}
		known *= dims[i]
	}
	if infer >= 0 && known > 0 {
		dims[infer] = len(t.F) / known
	}
	if size(dims) != len(t.F) {
		return nil, fmt.Errorf("%d elements into shape %v", len(t.F), shape.I)
	}
	return &Tensor{Dims: dims, F: t.F}, nil
}

// window is one spatial axis of a convolution or pooling: output size and
// the padding before it.
func (n node) window(axis, in, k, stride int) (out, before int, err error) {
	pads := n.attrs["pads"].ints
	switch p := n.attrs["auto_pad"].s; p {
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + stride - 1) / stride
		total := max((out-1)*stride+k-in, 0)
		before = total / 2
		if p == "SAME_LOWER" {
			before = total - total/2
		}
		return out, before, nil
	case "", "NOTSET", "VALID":
		after := 0
		if len(pads) == 4 && p != "VALID" {
			before, after = int(pads[axis]), int(pads[axis+2])
		}
		if in+before+after < k {
			return 0, 0, fmt.Errorf("window %d larger than the input %d", k, in)
		}
		return (in+before+after-k)/stride + 1, before, nil
	default:
		return 0, 0, fmt.Errorf("auto_pad %q", p)
	}
}

// geometry reads the kernel and strides of a 2-D window over x
// ([N C H W]): output height and width, and padding above and left.
func (n node) geometry(x *Tensor, kh, kw int) (oh, ow, ph, pw, sh, sw int, err error) {
	if len(x.Dims) != 4 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("input %v: want [N C H W]", x.Dims)
	}
	sh, sw = 1, 1
	if s := n.attrs["strides"].ints; len(s) == 2 {
		sh, sw = int(s[0]), int(s[1])
	}
	if d := n.attrs["dilations"].ints; len(d) == 2 && (d[0] != 1 || d[1] != 1) || sh < 1 || sw < 1 {
		return 0, 0, 0, 0, 0, 0, errors.New("dilations or strides not supported")
	}
	if oh, ph, err = n.window(0, x.Dims[2], kh, sh); err != nil {
		return
	}
	ow, pw, err = n.window(1, x.Dims[3], kw, sw)
	return
}

func (n node) maxPool(x *Tensor) (*Tensor, error) {
	k := n.attrs["kernel_shape"].ints
	if len(k) != 2 || k[0] < 1 || k[1] < 1 {
		return nil, fmt.Errorf("kernel_shape %v", k)
	}
	kh, kw := int(k[0]), int(k[1])
	oh, ow, ph, pw, sh, sw, err := n.geometry(x, kh, kw)
	if err != nil {
		return nil, err
	}
	nb, c, h, w := x.Dims[0], x.Dims[1], x.Dims[2], x.Dims[3]
	out := &Tensor{Dims: []int{nb, c, oh, ow}, F: make([]float32, nb*c*oh*ow)}
	o := 0
	for plane := range nb * c {
		in := x.F[plane*h*w : (plane+1)*h*w]
		for y := range oh {
			for xx := range ow {
				best := float32(math.Inf(-1))
				for dy := range kh {
					iy := y*sh + dy - ph
					for dx := range kw {
						ix := xx*sw + dx - pw
						if iy >= 0 && iy < h && ix >= 0 && ix < w {
							best = max(best, in[iy*w+ix])
						}
					}
				}
				out.F[o] = best
				o++
			}
		}
	}
	return out, nil
}

func (n node) conv(in []*Tensor) (*Tensor, error) {
	x, wt := in[0], in[1]
	if g := n.attrs["group"].i; g > 1 {
		return nil, fmt.Errorf("group %d not supported", g)
	}
	if len(wt.Dims) != 4 || len(x.Dims) != 4 || wt.Dims[1] != x.Dims[1] {
		return nil, fmt.Errorf("input %v, weights %v: want [N C H W] and [M C kh kw]", x.Dims, wt.Dims)
	}
	m, c, kh, kw := wt.Dims[0], wt.Dims[1], wt.Dims[2], wt.Dims[3]
	oh, ow, ph, pw, sh, sw, err := n.geometry(x, kh, kw)
	if err != nil {
		return nil, err
	}
	nb, h, w := x.Dims[0], x.Dims[2], x.Dims[3]
	out := &Tensor{Dims: []int{nb, m, oh, ow}, F: make([]float32, nb*m*oh*ow)}
	for b := range nb {
		for f := range m {
			var bias float32
			if len(in) > 2 && len(in[2].F) == m {
				bias = in[2].F[f]
			}
			dst := out.F[(b*m+f)*oh*ow : (b*m+f+1)*oh*ow]
			for y := range oh {
				for xx := range ow {
					s := bias
					for ch := range c {
						src := x.F[(b*c+ch)*h*w : (b*c+ch+1)*h*w]
						k := wt.F[(f*c+ch)*kh*kw : (f*c+ch+1)*kh*kw]
						for dy := range kh {
							iy := y*sh + dy - ph
							if iy < 0 || iy >= h {
								continue
							}
							for dx := range kw {
								ix := xx*sw + dx - pw
								if ix >= 0 && ix < w {
									s += src[iy*w+ix] * k[dy*kw+dx]
								}
							}
						}
					}
					dst[y*ow+xx] = s
				}
			}
		}
	}
	return out, nil
}
