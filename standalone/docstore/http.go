package docstore

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxBody bounds a request body: a little over CouchDB's default
// max_document_size would be 8 MB; actions are at most a few MB.
const maxBody = 64 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"internal_server_error","reason":"encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Store) authorized(r *http.Request) bool {
	if s.user == "" {
		return true
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessMu.Lock()
		defer s.sessMu.Unlock()
		return s.sessions[c.Value]
	}
	u, p, ok := r.BasicAuth()
	return ok && s.credentialsMatch(u, p)
}

func (s *Store) credentialsMatch(user, pass string) bool {
	return subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.pass)) == 1
}

const sessionCookie = "AuthSession"

// serveSession is CouchDB's cookie login, which kivik uses when the URL
// carries credentials.
func (s *Store) serveSession(w http.ResponseWriter, r *http.Request) error {
	ctx := map[string]any{"name": nil, "roles": []string{}}
	if r.Method == http.MethodGet {
		if s.authorized(r) {
			ctx = map[string]any{"name": s.user, "roles": []string{"_admin"}}
		}
		writeJSON(w, 200, map[string]any{"ok": true, "userCtx": ctx})
		return nil
	}
	if r.Method == http.MethodDelete {
		if c, err := r.Cookie(sessionCookie); err == nil {
			s.sessMu.Lock()
			delete(s.sessions, c.Value)
			s.sessMu.Unlock()
		}
		writeJSON(w, 200, map[string]bool{"ok": true})
		return nil
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var cred struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, _ := url.ParseQuery(string(body))
		cred.Name, cred.Password = v.Get("name"), v.Get("password")
	} else if err := json.Unmarshal(body, &cred); err != nil {
		return badRequest("invalid session request body")
	}
	if s.user != "" && !s.credentialsMatch(cred.Name, cred.Password) {
		return &Error{401, "unauthorized", "Name or password is incorrect."}
	}
	tok := newUUID()
	s.sessMu.Lock()
	s.sessions[tok] = true
	s.sessMu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true})
	writeJSON(w, 200, map[string]any{"ok": true, "name": cred.Name, "roles": []string{"_admin"}})
	return nil
}

func (s *Store) serveDB(w http.ResponseWriter, r *http.Request, db string) error {
	switch r.Method {
	case http.MethodPut:
		if err := s.CreateDB(db); err != nil {
			return err
		}
		writeJSON(w, 201, map[string]bool{"ok": true})
	case http.MethodDelete:
		if err := s.DeleteDB(db); err != nil {
			return err
		}
		writeJSON(w, 200, map[string]bool{"ok": true})
	case http.MethodGet, http.MethodHead:
		docs, del, err := s.DBInfo(db)
		if err != nil {
			return err
		}
		writeJSON(w, 200, map[string]any{"db_name": db, "doc_count": docs, "doc_del_count": del, "update_seq": "0", "instance_start_time": "0"})
	case http.MethodPost:
		body, err := readBody(r)
		if err != nil {
			return err
		}
		var probe struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(body, &probe)
		if probe.ID == "" {
			probe.ID = newUUID()
		}
		rev, err := s.Put(db, probe.ID, body, "")
		if err != nil {
			return err
		}
		w.Header().Set("ETag", strconv.Quote(rev))
		writeJSON(w, 201, map[string]any{"ok": true, "id": probe.ID, "rev": rev})
	default:
		return &Error{405, "method_not_allowed", "Only GET,HEAD,PUT,POST,DELETE allowed"}
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("reading body: " + err.Error())
	}
	if len(b) > maxBody {
		return nil, &Error{413, "too_large", "the request entity is too large"}
	}
	return b, nil
}

// revParam is the revision named by ?rev= or If-Match, for writes.
func revParam(r *http.Request) string {
	if rev := r.URL.Query().Get("rev"); rev != "" {
		return rev
	}
	return strings.Trim(r.Header.Get("If-Match"), `"`)
}

func (s *Store) serveDoc(w http.ResponseWriter, r *http.Request, db, id string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// Like CouchDB, a GET reads the winning revision unless ?rev= names
		// another; If-Match does not select a revision on reads.
		d, err := s.Get(db, id, r.URL.Query().Get("rev"))
		if err != nil {
			return err
		}
		out, err := renderDoc(s, db, d, r.URL.Query().Get("attachments") == "true")
		if err != nil {
			return err
		}
		w.Header().Set("ETag", strconv.Quote(d.Rev))
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", strconv.Itoa(len(out)+1))
			w.WriteHeader(200)
			return nil
		}
		_, _ = w.Write(append(out, '\n'))
	case http.MethodPut:
		body, err := readBody(r)
		if err != nil {
			return err
		}
		rev, err := s.Put(db, id, body, r.URL.Query().Get("rev"))
		if err != nil {
			return err
		}
		w.Header().Set("ETag", strconv.Quote(rev))
		writeJSON(w, 201, map[string]any{"ok": true, "id": id, "rev": rev})
	case http.MethodDelete:
		rev, err := s.Delete(db, id, revParam(r))
		if err != nil {
			return err
		}
		w.Header().Set("ETag", strconv.Quote(rev))
		writeJSON(w, 200, map[string]any{"ok": true, "id": id, "rev": rev})
	default:
		return &Error{405, "method_not_allowed", "Only DELETE,GET,HEAD,PUT allowed"}
	}
	return nil
}

// renderDoc writes a document as CouchDB does: _id, _rev, the fields in
// the order stored, then _attachments (stubs, or data when asked).
func renderDoc(s *Store, db string, d *Doc, withData bool) ([]byte, error) {
	fields := make([]field, 0, len(d.Fields)+3)
	idj, _ := json.Marshal(d.ID)
	revj, _ := json.Marshal(d.Rev)
	fields = append(fields, field{"_id", idj}, field{"_rev", revj})
	if d.Deleted {
		fields = append(fields, field{"_deleted", json.RawMessage("true")})
	}
	fields = append(fields, d.Fields...)
	if len(d.Atts) > 0 {
		atts := map[string]map[string]any{}
		for name, m := range d.Atts {
			a := map[string]any{"content_type": m.ContentType, "revpos": m.RevPos, "digest": m.Digest, "length": m.Length}
			if withData {
				_, data, err := s.Attachment(db, d.ID, name, d.Rev)
				if err != nil {
					return nil, err
				}
				a["data"] = base64.StdEncoding.EncodeToString(data)
			} else {
				a["stub"] = true
			}
			atts[name] = a
		}
		b, err := json.Marshal(atts)
		if err != nil {
			return nil, fmt.Errorf("docstore: encode attachments: %w", err)
		}
		fields = append(fields, field{"_attachments", b})
	}
	return joinObject(fields)
}

func (s *Store) serveAttachment(w http.ResponseWriter, r *http.Request, db, id, name string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		m, data, err := s.Attachment(db, id, name, r.URL.Query().Get("rev"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", m.ContentType)
		w.Header().Set("ETag", strconv.Quote(strings.TrimPrefix(m.Digest, "md5-")))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(200)
		if r.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	case http.MethodPut:
		data, err := readBody(r)
		if err != nil {
			return err
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		rev, err := s.PutAttachment(db, id, name, ct, data, revParam(r))
		if err != nil {
			return err
		}
		w.Header().Set("ETag", strconv.Quote(rev))
		writeJSON(w, 201, map[string]any{"ok": true, "id": id, "rev": rev})
	case http.MethodDelete:
		rev, err := s.DeleteAttachment(db, id, name, revParam(r))
		if err != nil {
			return err
		}
		writeJSON(w, 200, map[string]any{"ok": true, "id": id, "rev": rev})
	default:
		return &Error{405, "method_not_allowed", "Only DELETE,GET,HEAD,PUT allowed"}
	}
	return nil
}

func (s *Store) serveBulkDocs(w http.ResponseWriter, r *http.Request, db string) error {
	if r.Method != http.MethodPost {
		return &Error{405, "method_not_allowed", "Only POST allowed"}
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Docs     []json.RawMessage `json:"docs"`
		NewEdits *bool             `json:"new_edits"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Docs == nil {
		return badRequest("POST body must include `docs` parameter.")
	}
	if req.NewEdits != nil && !*req.NewEdits {
		return badRequest("new_edits=false (replication) is not supported")
	}
	res, err := s.BulkDocs(db, req.Docs)
	if err != nil {
		return err
	}
	writeJSON(w, 201, res)
	return nil
}

// queryParams merges the URL query with a POST body's JSON object, as
// CouchDB accepts view parameters either way; values are JSON texts.
func queryParams(r *http.Request) (map[string]json.RawMessage, error) {
	p := map[string]json.RawMessage{}
	if r.Method == http.MethodPost {
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p); err != nil {
				return nil, badRequest("invalid JSON body")
			}
		}
	}
	for k, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "startkey", "start_key", "endkey", "end_key", "key", "keys", "startkey_docid", "endkey_docid":
			if !json.Valid([]byte(v)) {
				return nil, badRequest(fmt.Sprintf("Invalid value for JSON parameter %s: %q", k, v))
			}
			p[k] = json.RawMessage(v)
		default:
			b, _ := json.Marshal(v)
			if v == "true" || v == "false" || isInt(v) {
				b = []byte(v)
			}
			p[k] = b
		}
	}
	return p, nil
}

func isInt(s string) bool { _, err := strconv.Atoi(s); return err == nil }

func boolParam(p map[string]json.RawMessage, k string, def bool) bool {
	v, ok := p[k]
	if !ok {
		return def
	}
	return string(v) == "true" || string(v) == `"true"`
}

func intParam(p map[string]json.RawMessage, k string, def int) (int, error) {
	v, ok := p[k]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.Trim(string(v), `"`))
	if err != nil || n < 0 {
		return 0, badRequest(fmt.Sprintf("Invalid value for integer: %q", v))
	}
	return n, nil
}

func stringParam(p map[string]json.RawMessage, keys ...string) (*string, error) {
	for _, k := range keys {
		if v, ok := p[k]; ok {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, badRequest(k + " must be a string for _all_docs")
			}
			return &s, nil
		}
	}
	return nil, nil
}

type row struct {
	ID    string          `json:"id,omitempty"`
	Key   any             `json:"key"`
	Value any             `json:"value"`
	Doc   json.RawMessage `json:"doc,omitempty"`
	Error string          `json:"error,omitempty"`
}

func (s *Store) serveAllDocs(w http.ResponseWriter, r *http.Request, db string) error {
	p, err := queryParams(r)
	if err != nil {
		return err
	}
	includeDocs := boolParam(p, "include_docs", false)
	render := func(d *Doc) (row, error) {
		rw := row{ID: d.ID, Key: d.ID, Value: map[string]string{"rev": d.Rev}}
		if includeDocs {
			b, err := renderDoc(s, db, d, boolParam(p, "attachments", false))
			if err != nil {
				return row{}, err
			}
			rw.Doc = b
		}
		return rw, nil
	}
	rows := []row{}
	if keysRaw, ok := p["keys"]; ok {
		var keys []string
		if err := json.Unmarshal(keysRaw, &keys); err != nil {
			return badRequest("`keys` member must be an array of strings")
		}
		for _, k := range keys {
			d, err := s.Get(db, k, "")
			var ce *Error
			switch {
			case err == nil:
				rw, err := render(d)
				if err != nil {
					return err
				}
				rows = append(rows, rw)
			case errors.As(err, &ce) && ce == errDeleted:
				cur, _ := s.load(db, k)
				rows = append(rows, row{ID: k, Key: k, Value: map[string]any{"rev": cur.Rev, "deleted": true}, Doc: json.RawMessage("null")})
			case errors.As(err, &ce) && ce == errMissing:
				rows = append(rows, row{Key: k, Error: "not_found"})
			default:
				return err
			}
		}
		total, _, err := s.DBInfo(db)
		if err != nil {
			return err
		}
		writeJSON(w, 200, map[string]any{"total_rows": total, "offset": 0, "rows": rows})
		return nil
	}
	q := Range{InclusiveEnd: boolParam(p, "inclusive_end", true), Descending: boolParam(p, "descending", false), Limit: -1}
	if q.Start, err = stringParam(p, "startkey", "start_key", "key"); err != nil {
		return err
	}
	if q.End, err = stringParam(p, "endkey", "end_key", "key"); err != nil {
		return err
	}
	if q.Skip, err = intParam(p, "skip", 0); err != nil {
		return err
	}
	if q.Limit, err = intParam(p, "limit", -1); err != nil {
		return err
	}
	total, err := s.AllDocs(db, q, func(d *Doc) error {
		rw, err := render(d)
		rows = append(rows, rw)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"total_rows": total, "offset": q.Skip, "rows": rows})
	return nil
}

// serveView runs a registered Go view over every live document.
func (s *Store) serveView(w http.ResponseWriter, r *http.Request, db, ddoc, name string) error {
	v, ok := s.views[db+"/"+ddoc+"/"+name]
	if !ok {
		if _, err := s.Get(db, "_design/"+ddoc, ""); err != nil {
			return err
		}
		return &Error{501, "not_implemented", "views run only when registered in Go; _design/" + ddoc + "/_view/" + name + " is not"}
	}
	p, err := queryParams(r)
	if err != nil {
		return err
	}
	var rows []row
	_, err = s.AllDocs(db, Range{Limit: -1, InclusiveEnd: true}, func(d *Doc) error {
		b, err := renderDoc(s, db, d, false)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("docstore: view %s: %w", name, err)
		}
		v.Map(doc, func(key, value any) {
			rows = append(rows, row{ID: d.ID, Key: normalize(key), Value: normalize(value)})
		})
		return nil
	})
	if err != nil {
		return err
	}
	desc := boolParam(p, "descending", false)
	sort.SliceStable(rows, func(i, j int) bool {
		c := collate(rows[i].Key, rows[j].Key)
		if c == 0 {
			c = strings.Compare(rows[i].ID, rows[j].ID)
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	if k, ok := p["key"]; ok {
		var want any
		_ = json.Unmarshal(k, &want)
		kept := rows[:0]
		for _, rw := range rows {
			if collate(rw.Key, want) == 0 {
				kept = append(kept, rw)
			}
		}
		rows = kept
	}
	if v.SumReduce && boolParam(p, "reduce", true) {
		sum := 0.0
		for _, rw := range rows {
			if f, ok := rw.Value.(float64); ok {
				sum += f
			}
		}
		out := []row{}
		if len(rows) > 0 {
			out = append(out, row{Key: nil, Value: sum})
		}
		writeJSON(w, 200, map[string]any{"rows": out})
		return nil
	}
	skip, err := intParam(p, "skip", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(p, "limit", -1)
	if err != nil {
		return err
	}
	total := len(rows)
	rows = rows[min(skip, len(rows)):]
	if limit >= 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	if rows == nil {
		rows = []row{}
	}
	writeJSON(w, 200, map[string]any{"total_rows": total, "offset": skip, "rows": rows})
	return nil
}

// collate orders JSON values as CouchDB views do: null, false, true,
// numbers, strings, arrays, objects (strings by code point, not ICU).
func collate(a, b any) int {
	rank := func(v any) int {
		switch v := v.(type) {
		case nil:
			return 0
		case bool:
			if v {
				return 2
			}
			return 1
		case float64:
			return 3
		case string:
			return 4
		case []any:
			return 5
		}
		return 6
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch av := a.(type) {
	case float64:
		bv := b.(float64)
		switch {
		case av < bv:
			return -1
		case av > bv:
			return 1
		}
		return 0
	case string:
		return strings.Compare(av, b.(string))
	case []any:
		bv := b.([]any)
		for i := 0; i < len(av) && i < len(bv); i++ {
			if c := collate(av[i], bv[i]); c != 0 {
				return c
			}
		}
		return len(av) - len(bv)
	}
	return 0
}

// normalize gives an emitted value its JSON reading (numbers as float64),
// so that collation compares like with like.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// splitObject reads a JSON object's members in order.
func splitObject(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON object")
	}
	return out, nil
}

// joinObject writes members as one JSON object, in order.
func joinObject(fields []field) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		if err := json.Compact(&buf, f.Value); err != nil {
			return nil, fmt.Errorf("docstore: member %s: %w", f.Key, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
