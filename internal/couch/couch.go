// Package couch holds the CouchDB idioms the project's components share:
// connecting as the stock OpenWhisk components do, creating the databases
// a component owns, and reading the code an action document names.
package couch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/faasedge/faasedge/whisk"
)

// Open connects to CouchDB at url as the stock components do: basic auth
// when user is set, and uncompressed requests (pouchdb-server and some
// proxies reject gzip bodies). extra are further kivik options.
func Open(url, user, password string, extra ...kivik.Option) (*kivik.Client, error) {
	opts := append([]kivik.Option{couchdb.OptionNoRequestCompression()}, extra...)
	if user != "" {
		opts = append(opts, couchdb.BasicAuth(user, password))
	}
	return kivik.New("couch", url, opts...)
}

// CreateDBs creates the databases that do not exist yet; one that exists
// already, or that another process created meanwhile, is fine.
func CreateDBs(ctx context.Context, c *kivik.Client, names ...string) error {
	for _, name := range names {
		if err := c.CreateDB(ctx, name); err != nil && kivik.HTTPStatus(err) != http.StatusPreconditionFailed {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return nil
}

// CodeAttachment returns the code that the exec.code attachment name of
// document docID in db names: a mem: name holds the bytes itself, a
// couch: name is the document's attachment, read from db.
func CodeAttachment(ctx context.Context, db *kivik.DB, docID, name string) ([]byte, error) {
	if strings.HasPrefix(name, whisk.MemScheme) {
		return whisk.DecodeMemAttachment(name)
	}
	att, err := db.GetAttachment(ctx, docID, strings.TrimPrefix(name, whisk.CouchScheme))
	if err != nil {
		return nil, err
	}
	defer att.Content.Close()
	return io.ReadAll(att.Content)
}
