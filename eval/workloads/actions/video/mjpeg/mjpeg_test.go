package mjpeg

import (
	"bytes"
	"image/jpeg"
	"testing"
)

// TestSplitAndTransform: a video splits back into its frames, each a JPEG
// of the frame's size, and the transformation halves each side and keeps
// every frame.
func TestSplitAndTransform(t *testing.T) {
	v, err := Video(5, 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := Split(v)
	if err != nil || len(frames) != 5 {
		t.Fatalf("split: %d frames, %v", len(frames), err)
	}
	for _, f := range frames {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(f))
		if err != nil || cfg.Width != 64 || cfg.Height != 48 {
			t.Fatalf("frame: %+v %v", cfg, err)
		}
	}
	out, n, size, err := Transform(v)
	if err != nil || n != 5 || size.X != 32 || size.Y != 24 {
		t.Fatalf("transform: %d frames of %v, %v", n, size, err)
	}
	if got, err := Split(out); err != nil || len(got) != 5 {
		t.Fatalf("output: %d frames, %v", len(got), err)
	}
	for _, bad := range [][]byte{{0xFF, 0xD8}, v[:len(v)-1], append([]byte{0}, v...)} {
		if _, err := Split(bad); err == nil {
			t.Fatalf("split of %d corrupt bytes succeeded", len(bad))
		}
	}
}

// FuzzSplit: no stream panics the splitter or the transformation.
func FuzzSplit(f *testing.F) {
	v, err := Video(2, 16, 16)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add(v[:len(v)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		if frames, err := Split(b); err == nil {
			total := 0
			for _, fr := range frames {
				total += len(fr)
			}
			if total != len(b) {
				t.Fatalf("frames of %d bytes from %d", total, len(b))
			}
		}
		Transform(b)
	})
}
