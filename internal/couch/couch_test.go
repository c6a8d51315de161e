package couch_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/faasedge/faasedge/internal/couch"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/whisk"
)

// TestCouch runs the helpers against pouchdb-server: databases are created
// once and creating them again is fine, and an action's code is read from
// a mem: name and from a couch: attachment, stored uncompressed.
func TestCouch(t *testing.T) {
	ctx := context.Background()
	pouch := testenv.StartPouchDB(t)
	c, err := couch.Open(pouch.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		if err := couch.CreateDBs(ctx, c, "a", "b"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := c.DBExists(ctx, "b"); !ok || err != nil {
		t.Fatalf("database b: exists %v, %v", ok, err)
	}

	code := []byte("\x00asm\x01\x00\x00\x00")
	db := c.DB("a")
	doc := map[string]any{"_attachments": map[string]any{"code": map[string]string{
		"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(code),
	}}}
	if _, err := db.Put(ctx, "guest/f", doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{whisk.EncodeMemAttachment(code), whisk.CouchScheme + "code"} {
		if got, err := couch.CodeAttachment(ctx, db, "guest/f", name); err != nil || string(got) != string(code) {
			t.Errorf("CodeAttachment(%s) = %q, %v; want %q", name, got, err, code)
		}
	}
	if _, err := couch.CodeAttachment(ctx, db, "guest/f", whisk.CouchScheme+"missing"); err == nil {
		t.Error("a missing attachment: no error")
	}
	if _, err := couch.CodeAttachment(ctx, db, "guest/f", whisk.MemScheme+"!!"); err == nil {
		t.Error("a mem: name that is not base64: no error")
	}
}
