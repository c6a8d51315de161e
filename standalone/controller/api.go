package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

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
func (c *Controller) Handler() http.Handler {
	return http.HandlerFunc(c.serveHTTP)
}

type request struct {
	w    http.ResponseWriter
	r    *http.Request
	tid  string
	user whisk.Identity
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

func (c *Controller) serveHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, tid: r.Header.Get("X-Request-ID")}
	if q.tid == "" || strings.HasPrefix(q.tid, "sid_") {
		q.tid = randomAlnum(32)
	}
	w.Header().Set("X-Request-ID", q.tid)
	seg, err := pathSegments(r)
	if err != nil {
		q.fail(http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case len(seg) == 1 && seg[0] == "ping":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "pong")
		return
	case len(seg) == 1 && seg[0] == "invokers" && r.Method == http.MethodGet:
		out := map[string]string{}
		for _, h := range c.Invokers() {
			out[h.ID.String()] = h.Status.String()
		}
		q.json(http.StatusOK, out)
		return
	case len(seg) < 2 || seg[0] != "api" || seg[1] != "v1":
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	case len(seg) == 2 && r.Method == http.MethodGet:
		q.json(http.StatusOK, map[string]any{
			"description": "OpenWhisk API", "api_version": "1.0.0", "api_version_path": "v1",
			"build": "faasedge standalone", "buildno": "standalone",
			"swagger_paths": map[string]string{"ui": "/api/v1/docs", "api-docs": "/api/v1/api-docs"},
		})
		return
	}
	if !c.authenticate(q) {
		return
	}
	seg = seg[2:]
	if seg[0] != "namespaces" {
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	}
	if len(seg) == 1 {
		if r.Method != http.MethodGet {
			q.fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET")
			return
		}
		q.json(http.StatusOK, []string{q.user.Namespace.Name})
		return
	}
	ns := seg[1]
	if ns == "_" {
		ns = q.user.Namespace.Name
	}
	if ns != q.user.Namespace.Name {
		q.fail(http.StatusForbidden, msgForbidden)
		return
	}
	if len(seg) < 3 {
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	}
	switch seg[2] {
	case "actions":
		c.serveActions(q, ns, seg[3:])
	case "activations":
		c.serveActivations(q, ns, seg[3:])
	default:
		q.fail(http.StatusNotFound, msgRouteNotFound)
	}
}

// pathSegments splits the escaped path so names keep encoded characters.
func pathSegments(r *http.Request) ([]string, error) {
	raw := strings.Trim(r.URL.EscapedPath(), "/")
	if raw == "" {
		return []string{""}, nil
	}
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("malformed path segment %q", p)
		}
		parts[i] = u
	}
	return parts, nil
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
	id, found := c.identity(q.r.Context(), u, p)
	if !found {
		q.fail(http.StatusUnauthorized, msgAuthInvalid)
		return false
	}
	q.w.Header().Del("WWW-Authenticate")
	q.user = id
	return true
}

func listParams(q *request, collection string) (skip, limit int, count bool, ok bool) {
	v := q.r.URL.Query()
	limit = defaultListLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%s' is not an integer for %s.", s, collection))
			return
		case n < 0 || n > maxListLimit:
			q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%d' is not in the range of 0 to %d for %s.", n, maxListLimit, collection))
			return
		}
		limit = n
		if n == 0 {
			limit = maxListLimit
		}
	}
	if s := v.Get("skip"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%s' is not an integer for %s.", s, collection))
			return
		case n < 0:
			q.fail(http.StatusBadRequest, fmt.Sprintf("The value '%d' is not greater than or equal to 0 for %s.", n, collection))
			return
		}
		skip = n
	}
	return skip, limit, v.Get("count") == "true", true
}

func (c *Controller) serveActions(q *request, ns string, rest []string) {
	ctx := q.r.Context()
	if len(rest) == 0 || (len(rest) == 1 && rest[0] == "") {
		if q.r.Method != http.MethodGet {
			q.fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET")
			return
		}
		skip, limit, count, ok := listParams(q, "actions")
		if !ok {
			return
		}
		all, err := c.listActions(ctx, ns, 0, 0)
		if err != nil {
			q.failErr(c, err)
			return
		}
		if count {
			q.json(http.StatusOK, map[string]int{"actions": len(page(all, skip, 0))})
			return
		}
		q.json(http.StatusOK, page(all, skip, limit))
		return
	}
	if len(rest) > 1 {
		// Packages are not part of the standalone's API subset.
		q.fail(http.StatusNotFound, "The requested resource does not exist.")
		return
	}
	name := rest[0]
	if len(name) > 256 || !entityNameRE.MatchString(name) {
		q.fail(http.StatusBadRequest, msgEntityNameIllegal)
		return
	}
	docID := ns + "/" + name
	switch q.r.Method {
	case http.MethodGet:
		a, err := c.getAction(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		var code *string
		if q.r.URL.Query().Get("code") != "false" {
			s, err := c.code(ctx, a)
			if err != nil {
				q.failErr(c, err)
				return
			}
			code = &s
		}
		q.json(http.StatusOK, toActionJSON(a, code))
	case http.MethodPut:
		body, ok := readLimited(q, execSizeLimit+(1<<20))
		if !ok {
			return
		}
		a, err := c.putAction(ctx, ns, name, body, q.r.URL.Query().Get("overwrite") == "true")
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, toActionJSON(a, nil))
	case http.MethodDelete:
		a, err := c.deleteAction(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, toActionJSON(a, nil))
	case http.MethodPost:
		c.invoke(q, ns, docID)
	default:
		q.fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET, PUT, POST, DELETE")
	}
}

// readLimited reads the body, answering 413 when it exceeds max bytes.
func readLimited(q *request, max int64) ([]byte, bool) {
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

// invoke is POST .../actions/name: publish an ActivationMessage and, when
// blocking, wait for the result up to ?timeout (60 s at most).
func (c *Controller) invoke(q *request, ns, docID string) {
	ctx := q.r.Context()
	v := q.r.URL.Query()
	blocking, result := v.Get("blocking") == "true", v.Get("result") == "true"
	wait := c.cfg.MaxWaitForBlocking
	if s := v.Get("timeout"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms <= 0 || time.Duration(ms)*time.Millisecond > c.cfg.MaxWaitForBlocking {
			q.fail(http.StatusBadRequest, fmt.Sprintf("Timeout must be number of milliseconds up to %d.", c.cfg.MaxWaitForBlocking.Milliseconds()))
			return
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	body, ok := readLimited(q, q.user.Limits.AllowedMaxPayloadSize())
	if !ok {
		return
	}
	payload := map[string]json.RawMessage{}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &payload); err != nil {
			q.fail(http.StatusBadRequest, "The request content was malformed:\n"+err.Error())
			return
		}
	}
	a, err := c.getAction(ctx, docID)
	if err != nil {
		q.failErr(c, err)
		return
	}
	// Parameters merged with the payload on top (the payload may not
	// override parameters of a package or binding, which do not exist here).
	content := map[string]json.RawMessage{}
	initArgs, locked := []string{}, map[string]string{}
	for _, p := range a.Parameters {
		content[p.Key] = p.Value
		if p.Init {
			initArgs = append(initArgs, p.Key)
		}
		if p.Encryption != "" {
			locked[p.Key] = p.Encryption
		}
	}
	for k, val := range payload {
		content[k] = val
		delete(locked, k)
	}
	contentJSON, err := json.Marshal(content)
	if err != nil {
		q.failErr(c, err)
		return
	}
	rev := a.Rev
	msg := &whisk.ActivationMessage{
		TransID:             whisk.NewTransID(q.tid, time.Now().UnixMilli()),
		Action:              whisk.FullyQualifiedEntityName{Path: a.Namespace, Name: a.Name, Version: a.Version},
		Revision:            &rev,
		User:                q.user,
		ActivationID:        newActivationID(),
		RootControllerIndex: c.controllerID,
		Blocking:            blocking,
		Content:             contentJSON,
		InitArgs:            initArgs,
		LockedArgs:          locked,
	}
	req := Request{
		Namespace: q.user.Namespace.Name, Action: a.Namespace + "/" + a.Name,
		ActionVersion: a.Namespace + "/" + a.Name + "@" + a.Version,
		MemoryMB:      int(a.Limits.Memory), MaxConcurrent: max(a.Limits.Concurrency, 1),
	}
	aid := msg.ActivationID
	var results chan *whisk.Activation
	var shrunk chan struct{}
	if blocking {
		results, shrunk = make(chan *whisk.Activation, 1), make(chan struct{}, 1)
		c.mu.Lock()
		c.promises[aid], c.shrunk[aid] = results, shrunk
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.promises, aid)
			delete(c.shrunk, aid)
			c.mu.Unlock()
		}()
	}
	if err := c.publish(ctx, req, time.Duration(a.Limits.Timeout)*time.Millisecond, msg); err != nil {
		switch {
		case errors.Is(err, ErrNoInvokers):
			q.fail(http.StatusServiceUnavailable, msgUnavailable)
		case errors.Is(err, kerr.MessageTooLarge):
			q.fail(http.StatusRequestEntityTooLarge, msgTooLarge)
		default:
			q.failErr(c, err)
		}
		return
	}
	q.w.Header().Set("x-openwhisk-activation-id", aid)
	if !blocking {
		q.json(http.StatusAccepted, map[string]string{"activationId": aid})
		return
	}
	act := c.waitForActivation(ctx, q.user.Namespace.Name, aid, results, shrunk, wait)
	if act == nil {
		q.json(http.StatusAccepted, map[string]string{"activationId": aid})
		return
	}
	status := http.StatusOK
	switch act.Response.StatusCode {
	case whisk.StatusApplicationError, whisk.StatusDeveloperError:
		status = http.StatusBadGateway
	case whisk.StatusWhiskError:
		status = http.StatusInternalServerError
	}
	res := act.Response.Result
	switch {
	case len(res) > 0 && res[0] == '[':
		q.json(status, res)
	case result:
		if len(res) == 0 {
			res = json.RawMessage("{}")
		}
		q.json(status, res)
	default:
		q.json(status, toExtended(*act))
	}
}

var activationIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (c *Controller) serveActivations(q *request, ns string, rest []string) {
	ctx := q.r.Context()
	if q.r.Method != http.MethodGet {
		q.fail(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET")
		return
	}
	if len(rest) == 0 || (len(rest) == 1 && rest[0] == "") {
		c.listActivationsHTTP(q, ns)
		return
	}
	aid := rest[0]
	if len(aid) != 32 {
		q.fail(http.StatusBadRequest, fmt.Sprintf("Activation id length is %d but must be 32.", len(aid)))
		return
	}
	if !activationIDRE.MatchString(aid) {
		q.fail(http.StatusBadRequest, msgActivationIDBad)
		return
	}
	d, err := c.getActivation(ctx, ns, aid)
	if err != nil {
		q.failErr(c, err)
		return
	}
	switch {
	case len(rest) == 1:
		q.json(http.StatusOK, toExtended(d.Activation))
	case len(rest) == 2 && rest[1] == "result":
		q.json(http.StatusOK, extend(d.Response))
	case len(rest) == 2 && rest[1] == "logs":
		logs := d.Logs
		if logs == nil {
			logs = []string{}
		}
		q.json(http.StatusOK, map[string][]string{"logs": logs})
	default:
		q.fail(http.StatusNotFound, msgRouteNotFound)
	}
}

func (c *Controller) listActivationsHTTP(q *request, ns string) {
	skip, limit, count, ok := listParams(q, "activations")
	if !ok {
		return
	}
	v := q.r.URL.Query()
	docs := v.Get("docs") == "true"
	if count && docs {
		q.fail(http.StatusBadRequest, "The parameter 'docs' is not permitted with 'count'.")
		return
	}
	f := activationFilter{name: strings.Trim(v.Get("name"), "/")}
	for key, dst := range map[string]*int64{"since": &f.since, "upto": &f.upto} {
		if s := v.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				q.fail(http.StatusBadRequest, "Parameter is not a valid value for epoch seconds: "+s)
				return
			}
			*dst = n
		}
	}
	all, err := c.listActivations(q.r.Context(), ns, f)
	if err != nil {
		q.failErr(c, err)
		return
	}
	if count {
		q.json(http.StatusOK, map[string]int{"activations": len(page(all, skip, 0))})
		return
	}
	sel := page(all, skip, limit)
	if docs {
		out := make([]extendedActivation, len(sel))
		for i, d := range sel {
			out[i] = toExtended(d.Activation)
		}
		q.json(http.StatusOK, out)
		return
	}
	out := make([]activationSummary, len(sel))
	for i, d := range sel {
		out[i] = summarize(d.Activation)
	}
	q.json(http.StatusOK, out)
}
