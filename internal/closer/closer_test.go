package closer_test

import (
	"errors"
	"io"
	"testing"

	"github.com/faasedge/faasedge/internal/closer"
)

type part struct {
	closed int
	err    error
}

func (p *part) Close() error {
	p.closed++
	return p.err
}

func TestClose(t *testing.T) {
	var never *part // a nil *part would panic in Close
	if err := closer.Close(never); err != nil {
		t.Fatalf("nil *part: %v", err)
	}
	var none io.Closer
	if err := closer.Close(none); err != nil {
		t.Fatalf("nil io.Closer: %v", err)
	}
	bad := errors.New("disk gone")
	for _, tc := range []struct {
		name string
		p    *part
		want error
	}{
		{"ok", &part{}, nil},
		{"failed", &part{err: bad}, bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := closer.Close(tc.p); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Close = %v, want %v", err, tc.want)
			}
			var c io.Closer = tc.p // an interface holding a part is closed too
			_ = closer.Close(c)
			if tc.p.closed != 2 {
				t.Fatalf("closed %d times, want 2", tc.p.closed)
			}
		})
	}
}
