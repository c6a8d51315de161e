// Package mjpeg is the data and the work of the evaluation's video
// workload: a synthetic Motion-JPEG video (frames drawn in integer
// arithmetic and encoded with image/jpeg, concatenated as an MJPEG stream
// is), its split into chunks, and the per-chunk transformation the action
// runs: decode, gray, blur, downscale, edges, encode. Every step is integer
// arithmetic over Go's integer JPEG codec, so the host and the action
// (wasm) produce the same bytes, and a chunk's output is checked exactly.
package mjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// Quality of the encoded frames, input and output.
const Quality = 80

// MaxSide bounds a frame's width and height, and MaxFrames a chunk's
// frames, so a corrupt chunk cannot make the action allocate without
// bound.
const (
	MaxSide   = 4096
	MaxFrames = 10_000
)

// Frame draws frame t of a w x h video: a gradient that drifts, a square
// and a disc that move, and stripes, so that every stage of the pipeline
// has edges to find.
func Frame(t, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	sq := (t * 3) % max(w, 1)
	cx, cy, r := (t*5)%max(w, 1), h/2+(h/4)*((t/10)%3-1), max(h/8, 2)
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8((x + t) * 255 / max(w, 1)), uint8(y * 255 / max(h, 1)), uint8((x + y + 2*t) % 256), 255}
			if (x/8+t/4)%6 == 0 {
				c.B = 255 - c.B
			}
			if x >= sq && x < sq+w/6 && y >= h/6 && y < h/6+w/6 {
				c = color.RGBA{240, 200, 20, 255}
			}
			if dx, dy := x-cx, y-cy; dx*dx+dy*dy <= r*r {
				c = color.RGBA{20, 40, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// Video is frames w x h as one MJPEG stream: concatenated JPEG images.
func Video(frames, w, h int) ([]byte, error) {
	var b bytes.Buffer
	for t := range frames {
		if err := jpeg.Encode(&b, Frame(t, w, h), &jpeg.Options{Quality: Quality}); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// Split cuts an MJPEG stream into its JPEG images, by walking each
// image's segments (their lengths, then the entropy-coded data up to the
// next marker), not by searching for end markers that a segment's payload
// may hold.
func Split(stream []byte) ([][]byte, error) {
	var out [][]byte
	for len(stream) > 0 {
		n, err := imageLen(stream)
		if err != nil {
			return nil, fmt.Errorf("mjpeg: image %d: %w", len(out), err)
		}
		out = append(out, stream[:n])
		stream = stream[n:]
		if len(out) > MaxFrames {
			return nil, fmt.Errorf("mjpeg: more than %d frames", MaxFrames)
		}
	}
	return out, nil
}

var errTruncated = errors.New("truncated JPEG")

// imageLen is the length of the JPEG image at the start of b, through its
// EOI marker.
func imageLen(b []byte) (int, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, errors.New("no SOI marker")
	}
	i := 2
	for {
		if i+1 >= len(b) {
			return 0, errTruncated
		}
		if b[i] != 0xFF {
			return 0, fmt.Errorf("no marker at byte %d", i)
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xD9: // EOI
			return i + 2, nil
		case m >= 0xD0 && m <= 0xD7 || m == 0x01: // markers without a length
			i += 2
			continue
		}
		if i+3 >= len(b) {
			return 0, errTruncated
		}
		seg := int(b[i+2])<<8 | int(b[i+3]) // counts its own two bytes
		if seg < 2 {
			return 0, fmt.Errorf("segment of length %d at byte %d", seg, i)
		}
		i += 2 + seg
		if m != 0xDA { // not SOS: the next segment follows
			continue
		}
		// Entropy-coded data runs to the next marker that is neither a
		// stuffed 0xFF00 nor a restart marker.
		for {
			if i+1 >= len(b) {
				return 0, errTruncated
			}
			if b[i] == 0xFF && b[i+1] != 0x00 && (b[i+1] < 0xD0 || b[i+1] > 0xD7) {
				break
			}
			i++
		}
	}
}

// Transform runs the pipeline on one chunk, an MJPEG stream, and returns
// the output chunk: every frame decoded, made gray (its luma), blurred (3x3
// box), halved in each direction (2x2 mean), reduced to its edges (Sobel,
// |gx| + |gy|), and encoded again.
func Transform(chunk []byte) (out []byte, frames int, size image.Point, err error) {
	images, err := Split(chunk)
	if err != nil {
		return nil, 0, size, err
	}
	var b bytes.Buffer
	for k, img := range images {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			return nil, 0, size, fmt.Errorf("mjpeg: frame %d: %w", k, err)
		}
		if cfg.Width < 2 || cfg.Height < 2 || cfg.Width > MaxSide || cfg.Height > MaxSide {
			return nil, 0, size, fmt.Errorf("mjpeg: frame %d is %dx%d: want 2 to %d pixels a side", k, cfg.Width, cfg.Height, MaxSide)
		}
		src, err := jpeg.Decode(bytes.NewReader(img))
		if err != nil {
			return nil, 0, size, fmt.Errorf("mjpeg: frame %d: %w", k, err)
		}
		g := edges(downscale(blur(gray(src))))
		size = g.Rect.Size()
		if err := jpeg.Encode(&b, g, &jpeg.Options{Quality: Quality}); err != nil {
			return nil, 0, size, err
		}
	}
	return b.Bytes(), len(images), size, nil
}

// gray is the image's luma: the Y plane of a YCbCr JPEG as it is, and Go's
// integer luma of anything else.
func gray(src image.Image) *image.Gray {
	r := src.Bounds()
	g := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	if yc, ok := src.(*image.YCbCr); ok {
		for y := range r.Dy() {
			copy(g.Pix[y*g.Stride:y*g.Stride+r.Dx()], yc.Y[yc.YOffset(r.Min.X, r.Min.Y+y):])
		}
		return g
	}
	for y := range r.Dy() {
		for x := range r.Dx() {
			g.Pix[y*g.Stride+x] = color.GrayModel.Convert(src.At(r.Min.X+x, r.Min.Y+y)).(color.Gray).Y
		}
	}
	return g
}

// at reads g at (x, y) clamped to its edges.
func at(g *image.Gray, x, y int) int {
	x = min(max(x, 0), g.Rect.Dx()-1)
	y = min(max(y, 0), g.Rect.Dy()-1)
	return int(g.Pix[y*g.Stride+x])
}

func blur(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	for y := range g.Rect.Dy() {
		for x := range g.Rect.Dx() {
			s := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					s += at(g, x+dx, y+dy)
				}
			}
			out.Pix[y*out.Stride+x] = uint8((s + 4) / 9)
		}
	}
	return out
}

func downscale(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx()/2, g.Rect.Dy()/2
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			s := at(g, 2*x, 2*y) + at(g, 2*x+1, 2*y) + at(g, 2*x, 2*y+1) + at(g, 2*x+1, 2*y+1)
			out.Pix[y*out.Stride+x] = uint8((s + 2) / 4)
		}
	}
	return out
}

func edges(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	for y := range g.Rect.Dy() {
		for x := range g.Rect.Dx() {
			gx := at(g, x+1, y-1) + 2*at(g, x+1, y) + at(g, x+1, y+1) - at(g, x-1, y-1) - 2*at(g, x-1, y) - at(g, x-1, y+1)
			gy := at(g, x-1, y+1) + 2*at(g, x, y+1) + at(g, x+1, y+1) - at(g, x-1, y-1) - 2*at(g, x, y-1) - at(g, x+1, y-1)
			out.Pix[y*out.Stride+x] = uint8(min(abs(gx)+abs(gy), 255))
		}
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
