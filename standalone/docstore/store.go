// Package docstore is the standalone stack's embedded document store: the
// subset of CouchDB's HTTP API that OpenWhisk's controller and invoker use
// (databases, documents with revisions, attachments, _all_docs, _bulk_docs
// and views), served in-process over a Pebble database so that any CouchDB
// client, kivik's included, talks to it unchanged and nothing written is lost
// when the process stops.
//
// kivik's own experimental fs and memory drivers and its x/server were judged
// and not used: at v4.5.2 they leave PUT of documents, attachments,
// _bulk_docs and _all_docs unimplemented.
//
// Semantics follow CouchDB for a single node without replication: each
// document keeps only its winning revision (gen-hash), an update must name
// the current revision or it is a conflict, deletes leave a tombstone, and
// attachments carried as stubs keep their content across revisions. Design
// documents are stored but their JavaScript is not run: views are Go
// functions registered with WithView.
package docstore

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/faasedge/faasedge/internal/pebblelog"
)

// Store is a set of CouchDB databases persisted in one Pebble directory.
// It is safe for concurrent use.
type Store struct {
	db    *pebble.DB
	mu    sync.Mutex // serialises read-modify-write of documents
	views map[string]View
	user  string
	pass  string
	log   *slog.Logger

	sessMu   sync.Mutex
	sessions map[string]bool // AuthSession cookie values issued by /_session

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced at each write (changes.go)

	routes http.Handler // the CouchDB API (routes.go)
}

// View is a map function written in Go, the stand-in for a design
// document's JavaScript view. Reduce, when set, is "_sum".
type View struct {
	Map       func(doc map[string]any, emit func(key, value any))
	SumReduce bool
}

// Option configures a Store.
type Option func(*Store)

// WithCredentials requires HTTP basic auth with this user and password, as
// an admin party would.
func WithCredentials(user, password string) Option {
	return func(s *Store) { s.user, s.pass = user, password }
}

// WithView registers the view db/_design/ddoc/_view/name.
func WithView(db, ddoc, name string, v View) Option {
	return func(s *Store) { s.views[db+"/"+ddoc+"/"+name] = v }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open opens (creating it if needed) the store in dir.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{views: map[string]View{}, sessions: map[string]bool{}, log: slog.New(slog.DiscardHandler), changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebblelog.Logger{L: s.log, What: "docstore"}})
	if err != nil {
		return nil, fmt.Errorf("docstore: open %s: %w", dir, err)
	}
	s.db = db
	s.routes = s.newRoutes()
	return s, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("docstore: close: %w", err)
	}
	return nil
}

// Error is a CouchDB error: the HTTP status and the {"error","reason"} body.
type Error struct {
	Status int
	Code   string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Reason) }

var (
	errNoDB     = &Error{404, "not_found", "Database does not exist."}
	errMissing  = &Error{404, "not_found", "missing"}
	errDeleted  = &Error{404, "not_found", "deleted"}
	errConflict = &Error{409, "conflict", "Document update conflict."}
	errDBExists = &Error{412, "file_exists", "The database could not be created, the file already exists."}
)

func badRequest(reason string) *Error { return &Error{400, "bad_request", reason} }

// record is what a document key holds: the winning revision only.
type record struct {
	Rev     string             `json:"rev"`
	Deleted bool               `json:"deleted,omitempty"`
	Body    []field            `json:"-"`
	RawBody json.RawMessage    `json:"body"`
	Atts    map[string]attMeta `json:"atts,omitempty"`
	Seq     uint64             `json:"seq,omitempty"` // of its entry in the changes feed
}

type attMeta struct {
	ContentType string `json:"content_type"`
	Digest      string `json:"digest"`
	Length      int64  `json:"length"`
	RevPos      int    `json:"revpos"`
}

// field is one top-level member of a document, kept in the order written.
type field struct {
	Key   string
	Value json.RawMessage
}

// Keys: b\0db (database), d\0db\0id (document), a\0db\0id\0name (attachment data);
// the changes feed's are in changes.go.
func dbKey(db string) []byte            { return []byte("b\x00" + db) }
func docPrefix(db string) []byte        { return []byte("d\x00" + db + "\x00") }
func docKey(db, id string) []byte       { return append(docPrefix(db), id...) }
func attPrefix(db, id string) []byte    { return []byte("a\x00" + db + "\x00" + id + "\x00") }
func attKey(db, id, name string) []byte { return append(attPrefix(db, id), name...) }

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

var dbNameRE = regexp.MustCompile(`^[a-z][a-z0-9_$()+/-]*$`)

// CreateDB creates a database.
func (s *Store) CreateDB(name string) error {
	if !dbNameRE.MatchString(name) {
		return &Error{400, "illegal_database_name", "Name: '" + name + "'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hasDB(name) {
		return errDBExists
	}
	return s.commit(func(b *pebble.Batch) error { return b.Set(dbKey(name), []byte("{}"), nil) })
}

// DeleteDB removes a database and all its documents.
func (s *Store) DeleteDB(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasDB(name) {
		return errNoDB
	}
	return s.commit(func(b *pebble.Batch) error {
		if err := b.Delete(dbKey(name), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(docPrefix(name), prefixEnd(docPrefix(name)), nil); err != nil {
			return err
		}
		if err := b.Delete(lastSeqKey(name), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(changePrefix(name), prefixEnd(changePrefix(name)), nil); err != nil {
			return err
		}
		ap := []byte("a\x00" + name + "\x00")
		return b.DeleteRange(ap, prefixEnd(ap), nil)
	})
}

// DBs lists the databases in name order.
func (s *Store) DBs() ([]string, error) {
	var out []string
	p := []byte("b\x00")
	err := s.scan(p, prefixEnd(p), false, func(k, _ []byte) (bool, error) {
		out = append(out, string(k[len(p):]))
		return true, nil
	})
	return out, err
}

func (s *Store) hasDB(name string) bool {
	_, c, err := s.db.Get(dbKey(name))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// DBInfo counts a database's documents.
func (s *Store) DBInfo(name string) (docs, deleted int, err error) {
	if !s.hasDB(name) {
		return 0, 0, errNoDB
	}
	err = s.scan(docPrefix(name), prefixEnd(docPrefix(name)), false, func(_, v []byte) (bool, error) {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		if r.Deleted {
			deleted++
		} else {
			docs++
		}
		return true, nil
	})
	return docs, deleted, err
}

func (s *Store) commit(fill func(*pebble.Batch) error) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := fill(b); err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("docstore: commit: %w", err)
	}
	return nil
}

// scan visits keys in [lo, hi) in order (or reverse), until fn returns false.
func (s *Store) scan(lo, hi []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("docstore: iterate: %w", err)
	}
	defer it.Close()
	valid := it.First
	next := it.Next
	if reverse {
		valid, next = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("docstore: read: %w", err)
		}
		more, err := fn(bytes.Clone(it.Key()), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

func (s *Store) load(db, id string) (*record, error) {
	v, c, err := s.db.Get(docKey(db, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("docstore: get %s/%s: %w", db, id, err)
	}
	defer c.Close()
	return decodeRecord(v)
}

func decodeRecord(v []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("docstore: corrupt record: %w", err)
	}
	body, err := splitObject(r.RawBody)
	if err != nil {
		return nil, fmt.Errorf("docstore: corrupt record: %w", err)
	}
	r.Body = body
	return &r, nil
}

// Doc is a document as read: its fields in order, id, revision and
// attachment metadata.
type Doc struct {
	ID      string
	Rev     string
	Deleted bool
	Fields  []field
	Atts    map[string]attMeta
}

// Get reads the winning revision of a document. rev, when not empty, must
// name it: older revisions are not kept.
func (s *Store) Get(db, id, rev string) (*Doc, error) {
	if !s.hasDB(db) {
		return nil, errNoDB
	}
	r, err := s.load(db, id)
	if err != nil {
		return nil, err
	}
	switch {
	case r == nil:
		return nil, errMissing
	case rev != "" && rev != r.Rev:
		return nil, errMissing
	case r.Deleted && rev == "":
		return nil, errDeleted
	}
	return &Doc{ID: id, Rev: r.Rev, Deleted: r.Deleted, Fields: r.Body, Atts: r.Atts}, nil
}

// Attachment reads an attachment's metadata and bytes.
func (s *Store) Attachment(db, id, name, rev string) (attMeta, []byte, error) {
	d, err := s.Get(db, id, rev)
	if err != nil {
		return attMeta{}, nil, err
	}
	m, ok := d.Atts[name]
	if !ok {
		return attMeta{}, nil, &Error{404, "not_found", "Document is missing attachment"}
	}
	v, c, err := s.db.Get(attKey(db, id, name))
	if err != nil {
		return attMeta{}, nil, fmt.Errorf("docstore: attachment %s/%s/%s: %w", db, id, name, err)
	}
	defer c.Close()
	return m, bytes.Clone(v), nil
}

// newAtt is an attachment carried with an update.
type newAtt struct {
	Stub        bool   `json:"stub"`
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
	Follows     bool   `json:"follows"`
}

// Put writes a document given as a JSON object. The object's _rev (or rev)
// must be the current revision of an existing document; _deleted true
// deletes; _attachments holds stubs (kept) and base64 data (stored). It
// returns the new revision.
func (s *Store) Put(db, id string, body []byte, rev string) (string, error) {
	fields, err := splitObject(body)
	if err != nil {
		return "", badRequest("Document must be a JSON object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(db, id, fields, rev)
}

func (s *Store) put(db, id string, fields []field, rev string) (string, error) {
	if !s.hasDB(db) {
		return "", errNoDB
	}
	if id == "" || strings.ContainsRune(id, 0) {
		return "", badRequest("Document id must be a non-empty string")
	}
	var (
		keep    []field
		deleted bool
		attsRaw json.RawMessage
		bodyRev string
	)
	for _, f := range fields {
		switch f.Key {
		case "_id":
		case "_rev":
			if err := json.Unmarshal(f.Value, &bodyRev); err != nil {
				return "", badRequest("Invalid rev format")
			}
		case "_deleted":
			deleted = string(f.Value) == "true"
		case "_attachments":
			attsRaw = f.Value
		case "_revisions", "_conflicts", "_local_seq", "_revs_info":
		default:
			if strings.HasPrefix(f.Key, "_") {
				return "", &Error{400, "doc_validation", "Bad special document member: " + f.Key}
			}
			keep = append(keep, f)
		}
	}
	if rev == "" {
		rev = bodyRev
	} else if bodyRev != "" && bodyRev != rev {
		return "", badRequest("Document rev from request body and query string have different values")
	}
	cur, err := s.load(db, id)
	if err != nil {
		return "", err
	}
	gen := 0
	switch {
	case cur == nil && rev != "":
		return "", errConflict
	case cur != nil && !cur.Deleted && rev != cur.Rev:
		return "", errConflict
	case cur != nil && cur.Deleted && rev != "" && rev != cur.Rev:
		return "", errConflict
	}
	if cur != nil {
		gen, _ = strconv.Atoi(strings.SplitN(cur.Rev, "-", 2)[0])
	}
	gen++

	atts := map[string]attMeta{}
	data := map[string][]byte{}
	if !deleted && len(attsRaw) > 0 && string(attsRaw) != "null" {
		var in map[string]newAtt
		if err := json.Unmarshal(attsRaw, &in); err != nil {
			return "", badRequest("Bad _attachments field: " + err.Error())
		}
		for name, a := range in {
			switch {
			case a.Stub:
				old, ok := cur.attachment(name)
				if !ok {
					return "", &Error{412, "missing_stub", "Invalid attachment stub in " + id + " for " + name}
				}
				atts[name] = old
			case a.Follows:
				return "", badRequest("multipart attachments are not supported; send data inline")
			default:
				b, err := base64.StdEncoding.DecodeString(a.Data)
				if err != nil {
					return "", badRequest("Invalid attachment data for " + name)
				}
				sum := md5.Sum(b)
				ct := a.ContentType
				if ct == "" {
					ct = "application/octet-stream"
				}
				atts[name] = attMeta{ContentType: ct, Digest: "md5-" + base64.StdEncoding.EncodeToString(sum[:]), Length: int64(len(b)), RevPos: gen}
				data[name] = b
			}
		}
	}
	if deleted {
		keep = nil
	}
	rawBody, err := joinObject(keep)
	if err != nil {
		return "", err
	}
	newRev := makeRev(gen, cur, deleted, rawBody, atts)
	rec := record{Rev: newRev, Deleted: deleted, RawBody: rawBody}
	if len(atts) > 0 {
		rec.Atts = atts
	}
	err = s.commit(func(b *pebble.Batch) error {
		var err error
		if rec.Seq, err = s.recordChange(b, db, id, cur); err != nil {
			return err
		}
		enc, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := b.Set(docKey(db, id), enc, nil); err != nil {
			return err
		}
		if cur != nil {
			for name := range cur.Atts {
				if _, kept := atts[name]; !kept {
					if err := b.Delete(attKey(db, id, name), nil); err != nil {
						return err
					}
				}
			}
		}
		for name, d := range data {
			if err := b.Set(attKey(db, id, name), d, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.notify()
	return newRev, nil
}

func (r *record) attachment(name string) (attMeta, bool) {
	if r == nil || r.Deleted {
		return attMeta{}, false
	}
	m, ok := r.Atts[name]
	return m, ok
}

func makeRev(gen int, prev *record, deleted bool, body []byte, atts map[string]attMeta) string {
	h := md5.New()
	if prev != nil {
		h.Write([]byte(prev.Rev))
	}
	fmt.Fprintf(h, "\x00%t\x00", deleted)
	h.Write(body)
	names := make([]string, 0, len(atts))
	for n := range atts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(h, "\x00%s\x00%s", n, atts[n].Digest)
	}
	return strconv.Itoa(gen) + "-" + hex.EncodeToString(h.Sum(nil))
}

// Delete deletes the document at rev, leaving a tombstone.
func (s *Store) Delete(db, id, rev string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev == "" {
		return "", errConflict
	}
	return s.put(db, id, []field{{Key: "_deleted", Value: json.RawMessage("true")}}, rev)
}

// PutAttachment stores one attachment, creating the document if it does not
// exist and rev is empty; it returns the new revision.
func (s *Store) PutAttachment(db, id, name, contentType string, data []byte, rev string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rewriteAttachments(db, id, rev, func(atts map[string]json.RawMessage) {
		b, _ := json.Marshal(newAtt{ContentType: contentType, Data: base64.StdEncoding.EncodeToString(data)})
		atts[name] = b
	})
}

// DeleteAttachment removes one attachment; it returns the new revision.
func (s *Store) DeleteAttachment(db, id, name, rev string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.load(db, id)
	if err != nil {
		return "", err
	}
	if _, ok := cur.attachment(name); !ok {
		return "", &Error{404, "not_found", "Document is missing attachment"}
	}
	return s.rewriteAttachments(db, id, rev, func(atts map[string]json.RawMessage) { delete(atts, name) })
}

func (s *Store) rewriteAttachments(db, id, rev string, edit func(map[string]json.RawMessage)) (string, error) {
	if !s.hasDB(db) {
		return "", errNoDB
	}
	cur, err := s.load(db, id)
	if err != nil {
		return "", err
	}
	var fields []field
	atts := map[string]json.RawMessage{}
	if cur != nil && !cur.Deleted {
		fields = cur.Body
		for n := range cur.Atts {
			atts[n] = json.RawMessage(`{"stub":true}`)
		}
	}
	edit(atts)
	raw, err := json.Marshal(atts)
	if err != nil {
		return "", fmt.Errorf("docstore: encode: %w", err)
	}
	fields = append(append([]field(nil), fields...), field{Key: "_attachments", Value: raw})
	return s.put(db, id, fields, rev)
}

// BulkResult is one entry of a _bulk_docs answer.
type BulkResult struct {
	ID     string `json:"id"`
	Rev    string `json:"rev,omitempty"`
	OK     bool   `json:"ok,omitempty"`
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// BulkDocs writes each document on its own, as CouchDB does (no
// all-or-nothing); a document without _id gets a generated one.
func (s *Store) BulkDocs(db string, docs []json.RawMessage) ([]BulkResult, error) {
	if !s.hasDB(db) {
		return nil, errNoDB
	}
	out := make([]BulkResult, 0, len(docs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		fields, err := splitObject(d)
		if err != nil {
			out = append(out, BulkResult{Error: "bad_request", Reason: "Document must be a JSON object"})
			continue
		}
		id := ""
		for _, f := range fields {
			if f.Key == "_id" {
				_ = json.Unmarshal(f.Value, &id)
			}
		}
		if id == "" {
			id = newUUID()
		}
		rev, err := s.put(db, id, fields, "")
		var ce *Error
		switch {
		case err == nil:
			out = append(out, BulkResult{ID: id, Rev: rev, OK: true})
		case errors.As(err, &ce):
			out = append(out, BulkResult{ID: id, Error: ce.Code, Reason: ce.Reason})
		default:
			return nil, err
		}
	}
	return out, nil
}

// Range is an _all_docs query over document ids.
type Range struct {
	Start, End   *string // inclusive bounds, in the query's direction
	InclusiveEnd bool
	Descending   bool
	Skip, Limit  int // Limit < 0: no limit
}

// AllDocs lists live documents by id.
func (s *Store) AllDocs(db string, q Range, fn func(d *Doc) error) (total int, err error) {
	if !s.hasDB(db) {
		return 0, errNoDB
	}
	total, _, err = s.DBInfo(db)
	if err != nil {
		return 0, err
	}
	p := docPrefix(db)
	lo, hi := p, prefixEnd(p)
	low, high := q.Start, q.End
	lowIncl, highIncl := true, q.InclusiveEnd
	if q.Descending {
		low, high = q.End, q.Start
		lowIncl, highIncl = q.InclusiveEnd, true
	}
	if low != nil {
		lo = append(bytes.Clone(p), *low...)
		if !lowIncl {
			lo = append(lo, 0)
		}
	}
	if high != nil {
		hi = append(bytes.Clone(p), *high...)
		if highIncl {
			hi = append(hi, 0)
		}
	}
	if bytes.Compare(lo, hi) >= 0 {
		return total, nil
	}
	skip, n := q.Skip, 0
	err = s.scan(lo, hi, q.Descending, func(k, v []byte) (bool, error) {
		r, err := decodeRecord(v)
		if err != nil {
			return false, err
		}
		if r.Deleted {
			return true, nil
		}
		if skip > 0 {
			skip--
			return true, nil
		}
		if q.Limit >= 0 && n >= q.Limit {
			return false, nil
		}
		n++
		return true, fn(&Doc{ID: string(k[len(p):]), Rev: r.Rev, Fields: r.Body, Atts: r.Atts})
	})
	return total, err
}
