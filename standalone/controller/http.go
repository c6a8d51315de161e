package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// The stock controller's texts for errors the REST API reports
// (ErrorResponse.scala and pekko-http's default rejection messages).
const (
	msgAuthMissing       = "The resource requires authentication, which was not supplied with the request"
	msgAuthInvalid       = "The supplied authentication is invalid"
	msgForbidden         = "The supplied authentication is not authorized to access this resource."
	msgUnavailable       = "The server is currently unavailable (because it is overloaded or down for maintenance)."
	msgRouteNotFound     = "The requested resource could not be found."
	msgEntityNameIllegal = "The name of the entity contains illegal characters."
	msgActivationIDBad   = "The activation id is not valid."
	msgTooLarge          = "The request content was larger than permitted."
)

// Collection list limits: default 30, at most 200.
const (
	defaultListLimit = 30
	maxListLimit     = 200
)

// entityNameRE is EntityName's pattern.
var entityNameRE = regexp.MustCompile(`^([\w]|[\w][\w@ .-]*[\w@.-]+)$`)

// Handler is the REST API: /api/v1 and, for operators, /invokers and /ping.
// Patterns match segment by segment after unescaping, so an entity name
// holding %2F stays one segment.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h func(*request)) { mux.Handle(pattern, c.serve(h, false)) }
	authed := func(pattern string, h func(*request)) { mux.Handle(pattern, c.serve(h, true)) }
	open("/ping", func(q *request) {
		q.w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(q.w, "pong")
	})
	open("/invokers", c.invokersHTTP)
	open("/api/v1", c.apiInfoHTTP)
	open("/api/v1/{$}", c.apiInfoHTTP)
	open("/", c.rootInfoHTTP)
	// Shared routes read (GET) or activate (POST) what other namespaces
	// publish; the handlers check the entitlement.
	shared := func(pattern string, h func(*request)) { mux.Handle(pattern, c.serveShared(h)) }
	authed("/api/v1/namespaces", c.namespacesHTTP)
	authed("/api/v1/namespaces/{ns}", c.namespaceHTTP)
	for _, p := range []string{"/api/v1/namespaces/{ns}/actions", "/api/v1/namespaces/{ns}/actions/{$}", "/api/v1/namespaces/{ns}/actions/{pkg}/{$}"} {
		shared(p, c.listActionsHTTP)
	}
	shared("/api/v1/namespaces/{ns}/actions/{name}", c.actionHTTP)
	shared("/api/v1/namespaces/{ns}/actions/{pkg}/{name}", c.actionHTTP)
	for _, col := range []collection{c.packages(), c.triggers(), c.rules()} {
		reg := authed
		if col.name == "packages" {
			reg = shared
		}
		reg("/api/v1/namespaces/{ns}/"+col.name, c.listHTTP(col))
		reg("/api/v1/namespaces/{ns}/"+col.name+"/{$}", c.listHTTP(col))
		reg("/api/v1/namespaces/{ns}/"+col.name+"/{name}", c.entityHTTP(col))
	}
	// Web actions authenticate only when the action asks for it.
	open("/api/v1/web/{ns}/{pkg}/{action}", c.webHTTP)
	open("/api/v1/web/{ns}/{pkg}/{action}/{rest...}", c.webHTTP)
	for _, p := range []string{"/api/v1/namespaces/{ns}/activations", "/api/v1/namespaces/{ns}/activations/{$}"} {
		authed(p, c.listActivationsHTTP)
	}
	authed("/api/v1/namespaces/{ns}/activations/{aid}", c.activationHTTP)
	authed("/api/v1/namespaces/{ns}/activations/{aid}/{part}", c.activationHTTP)
	return withTransID(c.withAPICORS(mux))
}

// withAPICORS sends the REST API's CORS headers on /api/v1 routes.
func (c *Controller) withAPICORS(mux http.Handler) http.Handler {
	cors := withCORS(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1") && !strings.HasPrefix(r.URL.Path, "/api/v1/web/") {
			cors.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// maxHeaderValue is pekko-http's max-header-value-length (8k), which bounds
// the X-Request-ID that becomes the transaction id.
const maxHeaderValue = 8 << 10

// withTransID gives every request its transaction id, echoed in
// X-Request-ID: the caller's, unless missing or a system id (sid_...).
func withTransID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tid := r.Header.Get("X-Request-ID")
		if len(tid) > maxHeaderValue {
			// pekko-http refuses the request while parsing it, in plain text.
			http.Error(w, fmt.Sprintf("HTTP header value exceeds the configured limit of %d characters", maxHeaderValue), http.StatusRequestHeaderFieldsTooLarge)
			return
		}
		if tid == "" || strings.HasPrefix(tid, "sid_") {
			tid = randomAlnum(32)
		}
		w.Header().Set("X-Request-ID", tid)
		next.ServeHTTP(w, r)
	})
}

type request struct {
	w    http.ResponseWriter
	r    *http.Request
	tid  string
	ns   string // the path's namespace, "_" resolved to the user's
	user whisk.Identity
}

// serve adapts a route: authenticated routes check the credentials and
// that the path's namespace is the user's.
func (c *Controller) serve(h func(*request), authenticated bool) http.Handler {
	return c.route(h, authenticated, false)
}

// serveShared adapts an authenticated route on which GET and POST may
// name another namespace; its handler checks the entitlement.
func (c *Controller) serveShared(h func(*request)) http.Handler {
	return c.route(h, true, true)
}

func (c *Controller) route(h func(*request), authenticated, shared bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r, tid: w.Header().Get("X-Request-ID")}
		if authenticated {
			if !c.authenticate(q) {
				return
			}
			if ns := r.PathValue("ns"); ns != "" {
				q.ns = ns
				if ns == "_" {
					q.ns = q.user.Namespace.Name
				}
				readOnly := r.Method == http.MethodGet || r.Method == http.MethodPost
				if q.ns != q.user.Namespace.Name && !(shared && readOnly) {
					q.fail(http.StatusForbidden, msgForbidden)
					return
				}
			}
		}
		h(q)
	})
}

func (q *request) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(status)
	_, _ = q.w.Write(b)
}

// fail writes the stock error body {"error": ..., "code": <transaction id>}.
func (q *request) fail(status int, msg string) {
	q.json(status, map[string]string{"error": msg, "code": q.tid})
}

func (q *request) failErr(c *Controller, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		q.fail(ae.status, ae.msg)
		return
	}
	c.log.Error("controller: request failed", "method", q.r.Method, "path", q.r.URL.Path, "tid", q.tid, "err", err)
	q.fail(http.StatusInternalServerError, "Internal Server Error")
}

// methodNotAllowed is pekko-http's rejection of a method a route lacks.
func (q *request) methodNotAllowed(supported string) {
	q.fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: "+supported)
}

// authenticate is BasicAuthenticationDirective: the user name is the
// namespace uuid, the password its key.
func (c *Controller) authenticate(q *request) bool {
	u, p, ok := q.r.BasicAuth()
	q.w.Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
	if !ok {
		q.fail(http.StatusUnauthorized, msgAuthMissing)
		return false
	}
	id, found := c.subjects.identity(q.r.Context(), u, p)
	if !found {
		q.fail(http.StatusUnauthorized, msgAuthInvalid)
		return false
	}
	q.w.Header().Del("WWW-Authenticate")
	q.user = id
	return true
}

func (c *Controller) invokersHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	}
	out := map[string]string{}
	for _, h := range c.Invokers() {
		out[h.ID.String()] = h.Status.String()
	}
	q.json(http.StatusOK, out)
}

func (c *Controller) namespacesHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	q.json(http.StatusOK, []string{q.user.Namespace.Name})
}

// entityName is the path value key checked as an EntityName.
func (q *request) entityName(key string) (string, bool) {
	name := q.r.PathValue(key)
	if len(name) > 256 || !entityNameRE.MatchString(name) {
		q.fail(http.StatusBadRequest, msgEntityNameIllegal)
		return "", false
	}
	return name, true
}

func listParams(q *request, collection string) (skip, limit int, count bool, ok bool) {
	limit = defaultListLimit
	n, given, ok := queryInt(q, "limit", collection)
	switch {
	case !ok:
		return
	case given && (n < 0 || n > maxListLimit):
		q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%d' is not in the range of 0 to %d for %s.", n, maxListLimit, collection))
		return skip, limit, false, false
	case given && n == 0:
		limit = maxListLimit
	case given:
		limit = n
	}
	n, given, ok = queryInt(q, "skip", collection)
	switch {
	case !ok:
		return
	case given && n < 0:
		q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%d' is not greater than or equal to 0 for %s.", n, collection))
		return skip, limit, false, false
	case given:
		skip = n
	}
	return skip, limit, q.r.URL.Query().Get("count") == "true", true
}

// queryInt reads the query parameter name as an integer: given is false
// when it is absent; ok is false (the request answered 400) when it is not
// an integer.
func queryInt(q *request, name, collection string) (n int, given, ok bool) {
	s := q.r.URL.Query().Get(name)
	if s == "" {
		return 0, false, true
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%s' is not an integer for %s.", s, collection))
		return 0, true, false
	}
	return n, true, true
}

// readLimited reads a JSON body, answering 415 for a body of another media
// type (as the stock entity(as[...]) routes reject it) and 413 when it
// exceeds max bytes. A body without Content-Type is taken as JSON.
func readLimited(q *request, max int64) ([]byte, bool) {
	if ct := q.r.Header.Get("Content-Type"); ct != "" && q.r.ContentLength != 0 {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			q.fail(http.StatusUnsupportedMediaType, "The request's Content-Type ["+ct+"] is not supported. Expected:\napplication/json")
			return nil, false
		}
	}
	if q.r.ContentLength > max {
		q.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request larger than allowed: %d > %d bytes.", q.r.ContentLength, max))
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(q.r.Body, max+1))
	if err != nil {
		q.fail(http.StatusBadRequest, "Failed extracting request body.")
		return nil, false
	}
	if int64(len(b)) > max {
		q.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request larger than allowed: %d > %d bytes.", len(b), max))
		return nil, false
	}
	return b, true
}
