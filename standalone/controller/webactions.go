package controller

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// Web action texts (Messages).
const (
	msgParametersNotAllowed = "Request defines parameters that are not allowed (e.g., reserved properties)."
	msgPropertyNotFound     = "Response does not include requested property."
	msgErrorProcessing      = "There was an error processing your request."
	msgResponseNotReady     = "Response not yet ready."
	msgHTTPContentTypeError = "Response type in header did not match generated content type."
)

// webExtensions are the media extensions of web actions; .http is the
// default when the name has none.
var webExtensions = []string{".http", ".json", ".html", ".svg", ".text"}

// webReserved are the __ow_ properties a request may not set itself.
var webReserved = []string{"__ow_method", "__ow_headers", "__ow_path", "__ow_user", "__ow_query", "__ow_body"}

// webRequest is one call of a web action, as WhiskWebActionsApi reads it.
type webRequest struct {
	q      *request
	action fqn
	ext    string
	path   string          // __ow_path: what follows the action in the URL
	user   *whisk.Identity // the caller, when it authenticated
}

// webHTTP serves /api/v1/web/{ns}/{pkg}/{action}[/rest]: actions annotated
// web-export, without authentication, answered by their extension.
func (c *Controller) webHTTP(q *request) {
	name, ext := q.r.PathValue("action"), ".http"
	for _, e := range webExtensions {
		if base, ok := strings.CutSuffix(name, e); ok {
			name, ext = base, e
			break
		}
	}
	f := fqn{Path: q.r.PathValue("ns"), Name: name}
	if pkg := q.r.PathValue("pkg"); pkg != "default" {
		f.Path += "/" + pkg
	}
	for _, n := range strings.Split(f.docID(), "/") {
		if !validName(n) {
			q.fail(http.StatusNotFound, errNotFound.msg)
			return
		}
	}
	wr := &webRequest{q: q, action: f, ext: ext}
	if rest := q.r.PathValue("rest"); rest != "" {
		wr.path = "/" + rest
	}
	if u, p, ok := q.r.BasicAuth(); ok {
		if id, found := c.subjects.identity(q.r.Context(), u, p); found {
			wr.user = &id
		}
	}
	c.serveWeb(wr)
}

func (c *Controller) serveWeb(wr *webRequest) {
	q, ctx := wr.q, wr.q.r.Context()
	owner, ok := c.subjects.byNamespace(ctx, wr.action.root())
	if !ok {
		q.fail(http.StatusNotFound, errNotFound.msg)
		return
	}
	a, err := c.entities.resolveAction(ctx, owner.Namespace.Name, wr.action)
	if err != nil || !a.Annotations.Truthy("web-export", false) {
		q.fail(http.StatusNotFound, errNotFound.msg)
		return
	}
	if !a.Annotations.Truthy("web-custom-options", false) {
		webCORS(q)
		if q.r.Method == http.MethodOptions {
			q.w.WriteHeader(http.StatusOK)
			return
		}
	}
	if q.r.Method != http.MethodOptions && !wr.authorized(a) {
		q.fail(http.StatusUnauthorized, msgAuthMissing)
		return
	}
	args, ok := wr.arguments(owner, a)
	if !ok {
		return
	}
	aid, act, err := c.invoke(ctx, invocation{user: owner, tid: q.tid, action: a, payload: args, blocking: true, wait: c.cfg.MaxWaitForBlocking})
	switch {
	case errors.Is(err, ErrNoInvokers):
		q.fail(http.StatusServiceUnavailable, msgUnavailable)
		return
	case err != nil:
		q.failErr(c, err)
		return
	}
	q.w.Header().Set("x-openwhisk-activation-id", aid)
	if act == nil {
		q.fail(http.StatusAccepted, msgResponseNotReady)
		return
	}
	wr.respond(act)
}

// webCORS is defaultCorsResponse: the caller's requested headers are
// allowed when it names them.
func webCORS(q *request) {
	h := q.w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH")
	allow := q.r.Header.Get("Access-Control-Request-Headers")
	if allow == "" {
		allow = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
	}
	h.Set("Access-Control-Allow-Headers", allow)
}

// authorized is confirmAuthenticated: require-whisk-auth true wants an
// authenticated caller, a string or number wants X-Require-Whisk-Auth to
// match it.
func (wr *webRequest) authorized(a *resolvedAction) bool {
	raw, ok := a.Annotations.Get("require-whisk-auth")
	if !ok {
		return true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	header := wr.q.r.Header.Get("X-Require-Whisk-Auth")
	switch v := v.(type) {
	case bool:
		return !v || wr.user != nil
	case string:
		return header == v
	case float64:
		return header == string(raw)
	}
	return false
}
