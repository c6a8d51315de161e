package docstore

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// ServeHTTP serves the CouchDB API.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes.ServeHTTP(w, r)
}

// newRoutes maps CouchDB's endpoints with http.ServeMux patterns. Patterns
// match segment by segment after unescaping, so a document id such as
// guest%2Fhello stays one segment, as CouchDB has it.
func (s *Store) newRoutes() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.handle(h, false))
	}
	authed := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.handle(h, true))
	}
	open("/{$}", func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return &Error{405, "method_not_allowed", "Only GET,HEAD allowed"}
		}
		writeJSON(w, 200, map[string]any{"couchdb": "Welcome", "version": "3.3.3", "vendor": map[string]string{"name": "FaaS@Edge docstore"}})
		return nil
	})
	open("/_up", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, 200, map[string]string{"status": "ok"})
		return nil
	})
	open("/_session", s.serveSession)
	authed("/_all_dbs", func(w http.ResponseWriter, r *http.Request) error {
		dbs, err := s.DBs()
		if err != nil {
			return err
		}
		if dbs == nil {
			dbs = []string{}
		}
		writeJSON(w, 200, dbs)
		return nil
	})
	authed("/_uuids", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, 200, map[string][]string{"uuids": {newUUID()}})
		return nil
	})
	for _, p := range []string{"/{db}", "/{db}/{$}"} {
		authed(p, func(w http.ResponseWriter, r *http.Request) error { return s.serveDB(w, r, r.PathValue("db")) })
	}
	authed("/{db}/_all_docs", func(w http.ResponseWriter, r *http.Request) error { return s.serveAllDocs(w, r, r.PathValue("db")) })
	authed("/{db}/_changes", func(w http.ResponseWriter, r *http.Request) error { return s.serveChanges(w, r, r.PathValue("db")) })
	authed("/{db}/_bulk_docs", func(w http.ResponseWriter, r *http.Request) error { return s.serveBulkDocs(w, r, r.PathValue("db")) })
	authed("/{db}/_design/{ddoc}/_view/{view}", func(w http.ResponseWriter, r *http.Request) error {
		return s.serveView(w, r, r.PathValue("db"), r.PathValue("ddoc"), r.PathValue("view"))
	})
	for _, prefix := range []string{"_design", "_local"} {
		authed("/{db}/"+prefix+"/{id}", func(w http.ResponseWriter, r *http.Request) error {
			return s.serveDoc(w, r, r.PathValue("db"), prefix+"/"+r.PathValue("id"))
		})
		authed("/{db}/"+prefix+"/{id}/{att...}", func(w http.ResponseWriter, r *http.Request) error {
			return s.serveAttachment(w, r, r.PathValue("db"), prefix+"/"+r.PathValue("id"), r.PathValue("att"))
		})
	}
	authed("/{db}/{id}", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := reserved(id); err != nil {
			return err
		}
		return s.serveDoc(w, r, r.PathValue("db"), id)
	})
	authed("/{db}/{id}/{att...}", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := reserved(id); err != nil {
			return err
		}
		return s.serveAttachment(w, r, r.PathValue("db"), id, r.PathValue("att"))
	})
	return mux
}

// reserved refuses the underscore endpoints this store does not serve
// (and _design or _local without a document id).
func reserved(id string) error {
	switch {
	case id == "_design" || id == "_local":
		return errMissing
	case strings.HasPrefix(id, "_"):
		return &Error{404, "not_found", "unsupported endpoint " + id}
	}
	return nil
}

// handle adapts a route: authentication when asked, the CouchDB error
// body for the error it returns, and a debug log line.
func (s *Store) handle(h func(w http.ResponseWriter, r *http.Request) error, authenticated bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var err error
		if authenticated && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="server"`)
			err = &Error{401, "unauthorized", "Name or password is incorrect."}
		} else {
			err = h(w, r)
		}
		s.log.Debug("docstore: request", "method", r.Method, "path", r.URL.EscapedPath(), "query", r.URL.RawQuery, "err", err, "took", time.Since(start))
		if err == nil {
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			s.log.Error("docstore: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ce = &Error{500, "internal_server_error", err.Error()}
		}
		writeJSON(w, ce.Status, map[string]string{"error": ce.Code, "reason": ce.Reason})
	})
}
