package standalone

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/faasedge/faasedge/standalone/docstore"
)

// TestBlockedNamespacesView queries the blacklist view as a stock invoker
// does (GET .../_design/namespaceThrottlings/_view/blockedNamespaces) on the
// embedded store.
func TestBlockedNamespacesView(t *testing.T) {
	st, err := docstore.Open(t.TempDir(), docstore.WithView("subjects", "namespaceThrottlings", "blockedNamespaces", BlockedNamespaces))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	defer func() { srv.Close(); st.Close() }()
	ctx := context.Background()
	c, err := kivik.New("couch", srv.URL, couchdb.OptionNoRequestCompression())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDB(ctx, "subjects"); err != nil {
		t.Fatal(err)
	}
	db := c.DB("subjects")
	docs := map[string]any{
		"guest":            map[string]any{"subject": "guest", "namespaces": []any{map[string]any{"name": "guest", "uuid": "u", "key": "k"}}},
		"mallory":          map[string]any{"subject": "mallory", "blocked": true, "namespaces": []any{map[string]any{"name": "mallory", "uuid": "u2", "key": "k2"}, map[string]any{"name": "mallory2", "uuid": "u3", "key": "k3"}}},
		"throttled/limits": map[string]any{"concurrentInvocations": 0},
		"fine/limits":      map[string]any{"concurrentInvocations": 5, "invocationsPerMinute": 10},
	}
	for id, d := range docs {
		if _, err := db.Put(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	rows := db.Query(ctx, "_design/namespaceThrottlings", "_view/blockedNamespaces", kivik.Params(map[string]any{"reduce": false, "descending": true}))
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.ScanKey(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"throttled", "mallory2", "mallory"}; !slices.Equal(keys, want) {
		t.Fatalf("blocked namespaces %v, want %v", keys, want)
	}
	// Reduced (_sum) it counts them.
	rows = db.Query(ctx, "_design/namespaceThrottlings", "_view/blockedNamespaces")
	var n float64
	for rows.Next() {
		if err := rows.ScanValue(&n); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 {
		t.Fatalf("reduced count %v, want 3", n)
	}
}
