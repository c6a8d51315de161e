package docstore

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/faasedge/faasedge/internal/testenv"
)

// backend is a CouchDB API under test: the embedded store, and
// pouchdb-server as the reference its answers must match.
type backend struct {
	name string
	url  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"docstore", func(t *testing.T) string {
			st, err := Open(t.TempDir(), WithCredentials("admin", "secret"))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(st)
			t.Cleanup(func() { srv.Close(); st.Close() })
			return "http://admin:secret@" + srv.Listener.Addr().String()
		}},
		{"pouchdb-server", func(t *testing.T) string { return testenv.StartPouchDB(t).URL }},
	}
}

func client(t *testing.T, url string) *kivik.Client {
	t.Helper()
	c, err := kivik.New("couch", url, couchdb.OptionNoRequestCompression())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(err error) int { return kivik.HTTPStatus(err) }

// TestCouchSemantics runs the same document, revision and attachment
// sequence against both backends; the embedded store must answer as
// pouchdb-server does.
func TestCouchSemantics(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			c := client(t, b.url(t))
			if err := c.CreateDB(ctx, "whisks"); err != nil {
				t.Fatal(err)
			}
			if err := c.CreateDB(ctx, "whisks"); status(err) != http.StatusPreconditionFailed {
				t.Fatalf("second create: got %v, want 412", err)
			}
			db := c.DB("whisks")
			code := []byte("PK\x03\x04 not really a zip \x00\xff")
			doc := map[string]any{
				"_id": "guest/hello", "name": "hello", "exec": map[string]any{"kind": "wasm:wasip1"},
				"_attachments": map[string]any{"1b2c": map[string]any{
					"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(code)}},
			}
			rev1, err := db.Put(ctx, "guest/hello", doc)
			if err != nil {
				t.Fatal(err)
			}
			// An update without the current revision is a conflict and changes nothing.
			delete(doc, "_attachments")
			if _, err := db.Put(ctx, "guest/hello", doc); status(err) != http.StatusConflict {
				t.Fatalf("update without rev: got %v, want 409", err)
			}
			var got map[string]any
			if err := db.Get(ctx, "guest/hello").ScanDoc(&got); err != nil {
				t.Fatal(err)
			}
			if got["_rev"] != rev1 || got["name"] != "hello" {
				t.Fatalf("get: %v", got)
			}
			att := got["_attachments"].(map[string]any)["1b2c"].(map[string]any)
			if att["stub"] != true || att["length"].(float64) != float64(len(code)) {
				t.Fatalf("attachment stub: %v", att)
			}
			assertAttachment(t, db, "guest/hello", "1b2c", code)

			// An update that carries the stub keeps the attachment.
			got["version"] = "0.0.2"
			rev2, err := db.Put(ctx, "guest/hello", got)
			if err != nil {
				t.Fatal(err)
			}
			if rev2 == rev1 || rev2[:2] != "2-" {
				t.Fatalf("rev after update: %s (was %s)", rev2, rev1)
			}
			assertAttachment(t, db, "guest/hello", "1b2c", code)

			// A stub for an attachment that does not exist is refused.
			got["_rev"] = rev2
			got["_attachments"] = map[string]any{"nope": map[string]any{"stub": true}}
			if _, err := db.Put(ctx, "guest/hello", got); status(err) != http.StatusPreconditionFailed {
				t.Fatalf("missing stub: got %v, want 412", err)
			}

			// Bulk writes, then a prefix listing.
			res, err := db.BulkDocs(ctx, []any{
				map[string]any{"_id": "guest/a1", "start": 1},
				map[string]any{"_id": "guest/a2", "start": 2},
				map[string]any{"_id": "other/a3", "start": 3},
			})
			if err != nil || len(res) != 3 {
				t.Fatalf("bulk: %v %v", res, err)
			}
			rows := db.AllDocs(ctx, kivik.Params(map[string]any{"startkey": "guest/", "endkey": "guest/\ufff0", "include_docs": true}))
			var ids []string
			for rows.Next() {
				id, _ := rows.ID()
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if want := []string{"guest/a1", "guest/a2", "guest/hello"}; !equal(ids, want) {
				t.Fatalf("all_docs ids %v, want %v", ids, want)
			}

			// Delete needs the current revision; afterwards the doc reads as deleted.
			if _, err := db.Delete(ctx, "guest/hello", rev1); status(err) != http.StatusConflict {
				t.Fatalf("delete stale rev: got %v, want 409", err)
			}
			if _, err := db.Delete(ctx, "guest/hello", rev2); err != nil {
				t.Fatal(err)
			}
			if err := db.Get(ctx, "guest/hello").Err(); status(err) != http.StatusNotFound {
				t.Fatalf("get deleted: got %v, want 404", err)
			}
			// Re-creating over the tombstone starts a new generation.
			rev4, err := db.Put(ctx, "guest/hello", map[string]any{"name": "hello"})
			if err != nil || rev4[:2] != "4-" {
				t.Fatalf("recreate: %s %v", rev4, err)
			}
		})
	}
}

func assertAttachment(t *testing.T, db *kivik.DB, id, name string, want []byte) {
	t.Helper()
	a, err := db.GetAttachment(context.Background(), id, name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Content.Close()
	b, err := io.ReadAll(a.Content)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) || a.ContentType != "application/octet-stream" {
		t.Fatalf("attachment %q (%s), want %q", b, a.ContentType, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPersistsAcrossReopen proves that what was written survives a close.
func TestPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDB("activations"); err != nil {
		t.Fatal(err)
	}
	rev, err := st.PutAttachment("activations", "guest/x", "code", "text/plain", []byte("hi"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, data, err := st.Attachment("activations", "guest/x", "code", "")
	if err != nil || string(data) != "hi" || m.ContentType != "text/plain" {
		t.Fatalf("after reopen: %v %q %v", m, data, err)
	}
	d, err := st.Get("activations", "guest/x", "")
	if err != nil || d.Rev != rev {
		t.Fatalf("rev after reopen: %v %v", d, err)
	}
}

// TestBadInput checks that malformed requests get CouchDB's errors and
// change nothing.
func TestBadInput(t *testing.T) {
	st, err := Open(t.TempDir(), WithCredentials("admin", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateDB("whisks"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	defer srv.Close()
	cases := []struct {
		name, method, path, body string
		auth                     bool
		want                     int
	}{
		{"no auth", "GET", "/whisks", "", false, 401},
		{"bad db name", "PUT", "/Bad", "", true, 400},
		{"missing db", "GET", "/nope/x", "", true, 404},
		{"not an object", "PUT", "/whisks/x", "[1]", true, 400},
		{"bad attachment data", "PUT", "/whisks/x", `{"_attachments":{"a":{"data":"!!"}}}`, true, 400},
		{"special member", "PUT", "/whisks/x", `{"_foo":1}`, true, 400},
		{"bulk without docs", "POST", "/whisks/_bulk_docs", `{}`, true, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, stringsReader(c.body))
			if c.auth {
				req.SetBasicAuth("admin", "secret")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
	if _, err := st.Get("whisks", "x", ""); !errors.Is(err, errMissing) {
		t.Fatalf("bad input stored something: %v", err)
	}
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}
