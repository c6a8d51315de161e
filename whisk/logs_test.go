package whisk

import (
	"strings"
	"testing"
	"time"
)

func TestFormatLogLine(t *testing.T) {
	tests := []struct {
		time   time.Time
		stream string
		text   string
		want   string
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 152334817, time.UTC), Stdout, "computing greeting\n",
			"2024-01-01T00:00:00.152334817Z stdout: computing greeting"},
		{time.Date(2024, 1, 1, 0, 0, 0, 152334800, time.UTC), Stderr, "x",
			"2024-01-01T00:00:00.1523348Z   stderr: x"},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Stdout, "",
			"2024-01-01T00:00:00Z           stdout: "},
		{time.Date(2024, 1, 1, 1, 0, 0, 5, time.FixedZone("CET", 3600)), Stdout, "in UTC",
			"2024-01-01T00:00:00.000000005Z stdout: in UTC"},
	}
	for _, tt := range tests {
		got := FormatLogLine(tt.time, tt.stream, tt.text)
		if got != tt.want {
			t.Errorf("FormatLogLine(%v, %q) = %q, want %q", tt.time, tt.text, got, tt.want)
		}
		ts, stream, text, ok := ParseLogLine(got)
		if !ok || stream != tt.stream || text != strings.TrimSuffix(tt.text, "\n") || ts != tt.time.UTC().Format(time.RFC3339Nano) {
			t.Errorf("ParseLogLine(%q) = %q, %q, %q, %v", got, ts, stream, text, ok)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("x", 30) + " stdin: x"} {
		if _, _, _, ok := ParseLogLine(bad); ok {
			t.Errorf("ParseLogLine(%q) accepted a malformed line", bad)
		}
	}
}

func TestFormatNoticeLine(t *testing.T) {
	tests := []struct {
		ns   int
		want string
	}{
		{0, "2024-01-01T00:00:00Z"},
		{120000000, "2024-01-01T00:00:00.120Z"},
		{120300000, "2024-01-01T00:00:00.120300Z"},
		{120300001, "2024-01-01T00:00:00.120300001Z"},
	}
	for _, tt := range tests {
		got := FormatNoticeLine(time.Date(2024, 1, 1, 0, 0, 0, tt.ns, time.UTC), MsgLogCollectionIssue)
		want := tt.want + strings.Repeat(" ", 30-len(tt.want)) + " stderr: " + MsgLogCollectionIssue
		if got != want {
			t.Errorf("notice at %d ns = %q, want %q", tt.ns, got, want)
		}
	}
}

func TestLogCollector(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 152334817, time.UTC)
	// Each line costs its Docker record plus one byte:
	// {"log":"abc\n","stream":"stdout","time":"2024-01-01T00:00:00.152334817Z"} is 73 bytes.
	const lineCost = 74
	tests := []struct {
		name      string
		limit     int64
		lines     int
		kept      int
		truncated bool
	}{
		{"all fit", 3 * lineCost, 3, 3, false},
		{"one byte short", 3*lineCost - 1, 3, 2, true},
		{"nothing fits", lineCost - 1, 2, 0, true},
		{"no lines", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewLogCollector(tt.limit)
			added := 0
			for range tt.lines {
				if c.Add(at, Stdout, "abc\n") {
					added++
				}
			}
			if added != tt.kept || c.Truncated() != tt.truncated {
				t.Fatalf("kept %d lines (truncated %v), want %d (%v)", added, c.Truncated(), tt.kept, tt.truncated)
			}
			if tt.truncated && c.Add(at, Stdout, "") {
				t.Error("Add accepted a line after the limit")
			}
			now := time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC)
			got := c.Lines(now)
			want := make([]string, tt.kept, tt.kept+1)
			for i := range want {
				want[i] = "2024-01-01T00:00:00.152334817Z stdout: abc"
			}
			if tt.truncated {
				want = append(want, "2024-01-01T00:00:01Z           stderr: "+MsgLogsTruncated(tt.limit))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("lines = %q, want %q", got, want)
			}
		})
	}
}
