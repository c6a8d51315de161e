package whisk

import (
	"testing"
	"time"
)

func i64(v int64) *int64 { return &v }
func iptr(v int) *int    { return &v }

// TestCheckNamespace: the texts are Messages.*AllowedThreshold of the
// stock ErrorResponse.scala behind Scala's "requirement failed: ".
func TestCheckNamespace(t *testing.T) {
	std := DefaultLimits()
	with := func(f func(*Limits)) Limits { l := std; f(&l); return l }
	wide := DefaultLimitRanges()
	wide.Memory.Max, wide.Concurrency.Max = 2048, 500
	wide.NamespaceMemory, wide.NamespaceConcurrency = wide.Memory, wide.Concurrency
	for _, tc := range []struct {
		name   string
		limits Limits
		user   UserLimits
		ranges LimitRanges
		want   string
	}{
		{name: "defaults pass", limits: std},
		{name: "timeout above the namespace max", limits: with(func(l *Limits) { l.Timeout = 300000 }), user: UserLimits{MaxActionTimeout: i64(60000)},
			want: "requirement failed: duration 300000 milliseconds exceeds allowed threshold of 60000 milliseconds"},
		{name: "timeout below the namespace min", limits: with(func(l *Limits) { l.Timeout = 1000 }), user: UserLimits{MinActionTimeout: i64(5000)},
			want: "requirement failed: duration 1000 milliseconds below allowed threshold of 5000 milliseconds"},
		{name: "memory above the system max", limits: with(func(l *Limits) { l.Memory = 1024 }),
			want: "requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{name: "a namespace max above the system max is capped", limits: with(func(l *Limits) { l.Memory = 1024 }), user: UserLimits{MaxActionMemory: i64(4096)},
			want: "requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{name: "memory within a wider system range", limits: with(func(l *Limits) { l.Memory = 1024 }), ranges: wide},
		{name: "memory below the namespace min", limits: std, user: UserLimits{MinActionMemory: i64(384)},
			want: "requirement failed: memory size 256 MB below allowed threshold of 384 MB"},
		{name: "concurrency above the stock max of 1", limits: with(func(l *Limits) { l.Concurrency = 2 }),
			want: "requirement failed: concurrency 2 exceeds allowed threshold of 1"},
		{name: "concurrency below the namespace min", limits: with(func(l *Limits) { l.Concurrency = 2 }), ranges: wide, user: UserLimits{MinActionConcurrency: iptr(4)},
			want: "requirement failed: concurrency 2 below allowed threshold of 4"},
		{name: "logs above the namespace max", limits: std, user: UserLimits{MaxActionLogs: i64(5)},
			want: "requirement failed: log size 10 MB exceeds allowed threshold of 5 MB"},
		{name: "logs below the namespace min", limits: with(func(l *Limits) { l.Logs = 0 }), user: UserLimits{MinActionLogs: i64(1)},
			want: "requirement failed: log size 0 MB below allowed threshold of 1 MB"},
		{name: "timeout is checked first", limits: with(func(l *Limits) { l.Timeout, l.Memory = 400000, 1024 }),
			want: "requirement failed: duration 400000 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{name: "namespace default range applies without user limits", limits: std,
			ranges: func() LimitRanges { r := DefaultLimitRanges(); r.NamespaceMemory.Max = 200; return r }(),
			want:   "requirement failed: memory size 256 MB exceeds allowed threshold of 200 MB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.ranges
			if r == (LimitRanges{}) {
				r = DefaultLimitRanges()
			}
			err := tc.limits.CheckNamespace(tc.user, r)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestLimitRangesValidate(t *testing.T) {
	r := DefaultLimitRanges()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	r.NamespaceMemory.Max = 1024
	if err := r.Validate(); err == nil {
		t.Fatal("a namespace max above the system max passed")
	}
	r = DefaultLimitRanges()
	r.NamespaceTimeout.Min = 50
	if err := r.Validate(); err == nil {
		t.Fatal("a namespace min below the system min passed")
	}
}

func TestParseConfigDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "5 minutes", want: 5 * time.Minute},
		{in: "5m", want: 5 * time.Minute},
		{in: "100 ms", want: 100 * time.Millisecond},
		{in: "300000", want: 5 * time.Minute},
		{in: "1.5 s", want: 1500 * time.Millisecond},
		{in: "2 hours", want: 2 * time.Hour},
		{in: "1 day", want: 24 * time.Hour},
		{in: "250 milliseconds", want: 250 * time.Millisecond},
		{in: "10 seconds", want: 10 * time.Second},
		{in: "soon", bad: true},
		{in: "5 fortnights", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseConfigDuration(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("%q: %v, %v", tc.in, got, err)
		}
	}
}
