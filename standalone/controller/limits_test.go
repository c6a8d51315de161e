package controller

import (
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

func TestLimitsPutRanges(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	conc := func(v int) *int { return &v }
	for _, tc := range []struct {
		in   limitsPut
		want string // error message; "" for accepted
	}{
		{limitsPut{Timeout: i64(50)}, "timeout 50 milliseconds below allowed threshold of 100 milliseconds"},
		{limitsPut{Timeout: i64(300001)}, "timeout 300001 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{limitsPut{Memory: i64(64)}, "memory 64 MB below allowed threshold of 128 MB"},
		{limitsPut{Memory: i64(513)}, "memory 513 MB exceeds allowed threshold of 512 MB"},
		{limitsPut{Logs: i64(-1)}, "log size -1 MB below allowed threshold of 0 MB"},
		{limitsPut{Logs: i64(11)}, "log size 11 MB exceeds allowed threshold of 10 MB"},
		{limitsPut{Concurrency: conc(0)}, "concurrency 0 below allowed threshold of 1"},
		{limitsPut{Concurrency: conc(501)}, "concurrency 501 exceeds allowed threshold of 500"},
		{limitsPut{Timeout: i64(1000), Memory: i64(128), Logs: i64(0), Concurrency: conc(500)}, ""},
	} {
		got, err := tc.in.apply(whisk.DefaultLimits())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v refused: %v", tc.in, err)
		case tc.want == "" && got != (whisk.Limits{Timeout: 1000, Memory: 128, Logs: 0, Concurrency: 500}):
			t.Errorf("applied %+v", got)
		case tc.want != "" && (err == nil || err.(*apiError).msg != tc.want):
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
