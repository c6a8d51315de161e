package whisk

import (
	"fmt"
	"strings"
	"time"
)

// Log streams, as Docker's json-file driver names them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// LogSentinel is what managed runtimes print on stdout and on stderr after
// each activation; the stock log collector stops after seeing it on both and
// drops it from the logs.
const LogSentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// logTimeWidth is the field the stock collector left-justifies Docker's
// timestamp in.
const logTimeWidth = 30

// FormatLogLine formats one activation log line as the stock invoker stores
// it: Docker's timestamp (RFC 3339 in UTC with nanoseconds, trailing zeros
// trimmed, which is Go's time.RFC3339Nano) left-justified in 30 characters,
// a space, the stream, ": " and the text without its trailing newline.
func FormatLogLine(t time.Time, stream, text string) string {
	return formatLine(t.UTC().Format(time.RFC3339Nano), stream, text)
}

// FormatNoticeLine formats a line the log collector adds itself (truncation
// and collection notices): its time is Java's Instant.toString, which keeps
// the fraction in groups of three digits.
func FormatNoticeLine(t time.Time, msg string) string {
	return formatLine(javaInstant(t), Stderr, msg)
}

func formatLine(ts, stream, text string) string {
	text = strings.TrimSuffix(text, "\n")
	var b strings.Builder
	b.Grow(logTimeWidth + len(stream) + len(text) + 3)
	b.WriteString(ts)
	for i := len(ts); i < logTimeWidth; i++ {
		b.WriteByte(' ')
	}
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteString(": ")
	b.WriteString(text)
	return b.String()
}

// ParseLogLine splits a line made by FormatLogLine or FormatNoticeLine back
// into its timestamp (unpadded), stream and text.
func ParseLogLine(line string) (ts, stream, text string, ok bool) {
	if len(line) <= logTimeWidth+1 || line[logTimeWidth] != ' ' {
		return "", "", "", false
	}
	rest := line[logTimeWidth+1:]
	for _, s := range [...]string{Stdout, Stderr} {
		if t, found := strings.CutPrefix(rest, s+": "); found {
			return strings.TrimRight(line[:logTimeWidth], " "), s, t, true
		}
	}
	return "", "", "", false
}

// javaInstant formats t as java.time.Instant.toString does.
func javaInstant(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	switch ns := t.Nanosecond(); {
	case ns == 0:
	case ns%1e6 == 0:
		s += fmt.Sprintf(".%03d", ns/1e6)
	case ns%1e3 == 0:
		s += fmt.Sprintf(".%06d", ns/1e3)
	default:
		s += fmt.Sprintf(".%09d", ns)
	}
	return s + "Z"
}

// LogCollector gathers an activation's log lines under limits.logs the way
// the stock collector does: each line costs the size of its Docker
// json-file record plus one byte, the first line that does not fit ends the
// collection, and Lines then ends with the stock truncation notice.
type LogCollector struct {
	limit     int64
	used      int64
	lines     []string
	truncated bool
}

// NewLogCollector returns a collector for limitBytes of logs
// (limits.logs MB times 1 MiB).
func NewLogCollector(limitBytes int64) *LogCollector {
	return &LogCollector{limit: limitBytes}
}

// Add formats and keeps one line, and reports false once the limit has been
// reached; later lines are dropped.
func (c *LogCollector) Add(t time.Time, stream, text string) bool {
	if c.truncated {
		return false
	}
	ts := t.UTC().Format(time.RFC3339Nano)
	text = strings.TrimSuffix(text, "\n")
	size := dockerRecordSize(ts, stream, text) + 1
	if c.used+size > c.limit {
		c.truncated = true
		return false
	}
	c.used += size
	c.lines = append(c.lines, formatLine(ts, stream, text))
	return true
}

// Truncated reports whether a line was dropped for the limit.
func (c *LogCollector) Truncated() bool { return c.truncated }

// Lines returns the collected lines, followed, if lines were dropped, by the
// truncation notice stamped now.
func (c *LogCollector) Lines(now time.Time) []string {
	if c.truncated {
		return append(c.lines, FormatNoticeLine(now, MsgLogsTruncated(c.limit)))
	}
	return c.lines
}

// dockerRecordSize is the length of {"log":"<text>\n","stream":"<stream>","time":"<ts>"}.
func dockerRecordSize(ts, stream, text string) int64 {
	n := int64(len(`{"log":"\n","stream":"","time":""}`) + len(stream) + len(ts))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}
