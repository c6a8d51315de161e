package invoker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzChangesFeed: a _changes feed body as CouchDB (or anyone on its
// address) sends it. Lines come out whole and within the limit, longer
// ones are dropped without losing the lines after them, and whatever a
// line holds decodes to a change or an error, and a sequence or nothing.
func FuzzChangesFeed(f *testing.F) {
	f.Add([]byte("{\"seq\":1,\"id\":\"guest/a\",\"changes\":[{\"rev\":\"1-x\"}]}\n\n\n{\"last_seq\":\"2-g1AAAA\"}\n"))
	f.Add([]byte("{\"seq\":\"12-abc\",\"id\":\"guest/b\",\"deleted\":true}\n" + string(bytes.Repeat([]byte("x"), 200)) + "\n{\"seq\":3}\n"))
	f.Add([]byte("{\"seq\":[1,2],\"id\":7}\n{\"seq\":null}"))
	const limit = 64
	f.Fuzz(func(t *testing.T, body []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(body), 16)
		var kept int
		for range len(body) + 1 {
			line, err := readLine(br, limit)
			if errors.Is(err, errLineTooLong) {
				continue
			}
			if len(line) > limit {
				t.Fatalf("line of %d bytes, limit %d", len(line), limit)
			}
			kept += len(line)
			var c change
			if json.Unmarshal(bytes.TrimSpace(line), &c) == nil {
				if s, ok := seqParam(c.Seq); ok && s == "" {
					t.Fatalf("empty sequence from %q", c.Seq)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if kept > len(body) {
			t.Fatalf("%d bytes read from a body of %d", kept, len(body))
		}
	})
}
