package docstore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-kivik/kivik/v4"
)

type seen struct {
	ID      string
	Deleted bool
	Doc     map[string]any
}

// changes reads one _changes answer through kivik (which POSTs, as the
// Kafka feed provider's longpoll loop does).
func changes(t *testing.T, db *kivik.DB, params map[string]any) ([]seen, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := db.Changes(ctx, kivik.Params(params))
	defer ch.Close()
	var out []seen
	for ch.Next() {
		s := seen{ID: ch.ID(), Deleted: ch.Deleted()}
		if params["include_docs"] == true && !ch.Deleted() {
			if err := ch.ScanDoc(&s.Doc); err != nil {
				t.Fatal(err)
			}
			delete(s.Doc, "_rev")
		}
		out = append(out, s)
	}
	if err := ch.Err(); err != nil {
		t.Fatalf("changes %v: %v", params, err)
	}
	meta, err := ch.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return out, meta.LastSeq
}

// TestChanges checks the changes feed against both backends: each
// document once at its latest change, deletions, include_docs, since and
// limit, and a long poll woken by a write.
func TestChanges(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := client(t, b.url(t))
			if err := c.CreateDB(ctx, "feed"); err != nil {
				t.Fatal(err)
			}
			db := c.DB("feed")
			revs := map[string]string{}
			for _, id := range []string{"a", "b", "c"} {
				rev, err := db.Put(ctx, id, map[string]any{"n": id})
				if err != nil {
					t.Fatal(err)
				}
				revs[id] = rev
			}
			if _, err := db.Put(ctx, "a", map[string]any{"n": "a2", "_rev": revs["a"]}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Delete(ctx, "b", revs["b"]); err != nil {
				t.Fatal(err)
			}
			got, last := changes(t, db, map[string]any{"include_docs": true, "since": "0"})
			want := []seen{
				{ID: "c", Doc: map[string]any{"_id": "c", "n": "c"}},
				{ID: "a", Doc: map[string]any{"_id": "a", "n": "a2"}},
				{ID: "b", Deleted: true},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("changes since 0: %+v, want %+v", got, want)
			}
			if got, _ := changes(t, db, map[string]any{"since": last}); len(got) != 0 {
				t.Errorf("changes since the last sequence: %+v", got)
			}
			first, firstSeq := changes(t, db, map[string]any{"since": "0", "limit": 1})
			if len(first) != 1 || first[0].ID != "c" {
				t.Errorf("limit 1: %+v", first)
			}
			if rest, _ := changes(t, db, map[string]any{"since": firstSeq}); len(rest) != 2 || rest[0].ID != "a" {
				t.Errorf("after the limited answer (last_seq %s): %+v", firstSeq, rest)
			}

			done := make(chan []seen, 1)
			go func() {
				got, _ := changes(t, db, map[string]any{"feed": "longpoll", "since": last, "timeout": 60000, "include_docs": true})
				done <- got
			}()
			time.Sleep(200 * time.Millisecond) // the poll is (most likely) waiting; either way it must see d
			if _, err := db.Put(ctx, "d", map[string]any{"n": "d"}); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-done:
				if fmt.Sprint(got) != fmt.Sprint([]seen{{ID: "d", Doc: map[string]any{"_id": "d", "n": "d"}}}) {
					t.Errorf("long poll: %+v", got)
				}
			case <-time.After(time.Minute):
				t.Fatal("the long poll did not return after a write")
			}
			if b.name == "pouchdb-server" {
				return // it does not end a long poll at its timeout
			}
			if got, _ := changes(t, db, map[string]any{"feed": "longpoll", "since": "now", "timeout": 100}); len(got) != 0 {
				t.Errorf("long poll since now that timed out: %+v", got)
			}
		})
	}
}

// TestContinuousChanges reads feed=continuous from both backends as the
// invoker's prewarming does (GET, one line per change, blank lines as
// heartbeats): the changes so far, then one written while the feed is
// open, each once.
func TestContinuousChanges(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := b.url(t)
			db := client(t, url).DB("feed")
			if err := client(t, url).CreateDB(ctx, "feed"); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a", "b"} {
				if _, err := db.Put(ctx, id, map[string]any{"n": id}); err != nil {
					t.Fatal(err)
				}
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/feed/_changes?feed=continuous&since=0&heartbeat=100", nil)
			req.Header.Set("Accept-Encoding", "identity")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			sc := bufio.NewScanner(resp.Body)
			next := func() string {
				t.Helper()
				for sc.Scan() {
					if strings.TrimSpace(sc.Text()) == "" {
						continue // heartbeat
					}
					var c struct{ ID string }
					if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
						t.Fatalf("line %q: %v", sc.Text(), err)
					}
					return c.ID
				}
				t.Fatalf("the feed ended: %v", sc.Err())
				return ""
			}
			if a, b := next(), next(); a != "a" || b != "b" {
				t.Fatalf("changes so far: %s, %s", a, b)
			}
			if _, err := db.Put(ctx, "c", map[string]any{"n": "c"}); err != nil {
				t.Fatal(err)
			}
			if c := next(); c != "c" {
				t.Fatalf("change while open: %s", c)
			}
		})
	}
}
