package executor

import (
	"bytes"
	"sync"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// capture collects what a guest writes on stdout and stderr during one
// activation: the lines, each stamped when it ends, and the last non-empty
// stdout line, which is a command's result. Memory stays bounded whatever
// the guest writes: lines are kept only up to the log limit, and the result
// candidate only up to the payload limit (plus its full length).
type capture struct {
	mu         sync.Mutex
	logLimit   int64 // bytes of lines to keep; the collector applies the exact limit
	maxResult  int64
	kept       int64
	lines      []line
	partial    [2]partialLine // stdout, stderr
	result     []byte         // last non-empty stdout line, up to maxResult+1 bytes
	resultLen  int64          // its full length
	resultLine int            // its index in lines, or -1
}

type line struct {
	t      time.Time
	stream string
	text   string
}

// partialLine is a line not yet ended by a newline. n counts all its bytes,
// b holds up to the capture's cap of them.
type partialLine struct {
	b []byte
	n int64
}

func newCapture(logLimit, maxResult int64) *capture {
	return &capture{logLimit: logLimit, maxResult: maxResult, resultLine: -1}
}

// streamWriter is an io.Writer for one stream of a capture.
type streamWriter struct {
	c      *capture
	stream int // 0 stdout, 1 stderr
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.c.append(w.stream, p)
			break
		}
		w.c.append(w.stream, p[:i])
		w.c.endLine(w.stream, time.Now())
		p = p[i+1:]
	}
	return n, nil
}

func (c *capture) stdout() streamWriter { return streamWriter{c, 0} }
func (c *capture) stderr() streamWriter { return streamWriter{c, 1} }

func (c *capture) append(stream int, p []byte) {
	pl := &c.partial[stream]
	pl.n += int64(len(p))
	if room := max(c.logLimit, c.maxResult) + 1 - int64(len(pl.b)); room > 0 {
		pl.b = append(pl.b, p[:min(int64(len(p)), room)]...)
	}
}

func (c *capture) endLine(stream int, t time.Time) {
	pl := &c.partial[stream]
	text := pl.b
	isResult := stream == 0 && len(bytes.TrimSpace(text)) > 0
	if isResult {
		c.result = append(c.result[:0], text[:min(int64(len(text)), c.maxResult+1)]...)
		c.resultLen = pl.n
		c.resultLine = -1
	}
	if c.kept <= c.logLimit {
		if isResult {
			c.resultLine = len(c.lines)
		}
		c.lines = append(c.lines, line{t, streamName(stream), string(text)})
		c.kept += int64(len(text)) + 64 // about a Docker record's overhead
	}
	pl.b, pl.n = pl.b[:0], 0
}

func streamName(stream int) string {
	if stream == 0 {
		return whisk.Stdout
	}
	return whisk.Stderr
}

// flush ends the lines the guest left without a newline.
func (c *capture) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for s := range c.partial {
		if c.partial[s].n > 0 {
			c.endLine(s, now)
		}
	}
}

// takeResult returns the result line (first maxResult+1 bytes at most) and
// its full length, and leaves it out of the logs.
func (c *capture) takeResult() ([]byte, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resultLine >= 0 {
		c.lines = append(c.lines[:c.resultLine], c.lines[c.resultLine+1:]...)
		c.resultLine = -1
	}
	return c.result, c.resultLen
}

// logs formats the kept lines under limitBytes, adding the stock notice
// lines: truncation, and after a developer error the "did not initialize or
// run as expected" line.
func (c *capture) logs(limitBytes int64, devError bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := whisk.NewLogCollector(limitBytes)
	for _, l := range c.lines {
		if !col.Add(l.t, l.stream, l.text) {
			break
		}
	}
	now := time.Now()
	out := col.Lines(now)
	if devError {
		out = append(out, whisk.FormatNoticeLine(now, whisk.MsgDeveloperErrorLogNote))
	}
	return out
}
