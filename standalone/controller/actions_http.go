package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/faasedge/faasedge/whisk"
)

func (c *Controller) listActionsHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	var all []actionJSON
	var err error
	if q.r.PathValue("pkg") == "" {
		if q.ns != q.user.Namespace.Name {
			q.fail(http.StatusForbidden, msgForbidden)
			return
		}
		all, err = c.entities.listActions(q.r.Context(), q.ns)
	} else if pkg, ok := q.entityName("pkg"); !ok {
		return
	} else {
		all, err = c.listPackageActions(q.r.Context(), q.user.Namespace.Name, q.ns+"/"+pkg)
	}
	if err != nil {
		q.failErr(c, err)
		return
	}
	listPage(q, "actions", all)
}

// listPackageActions lists the actions of a package, or of the package a
// binding names, when the user may read it.
func (c *Controller) listPackageActions(ctx context.Context, user, path string) ([]actionJSON, error) {
	rp, err := c.entities.resolvePackage(ctx, path)
	if err != nil {
		return nil, err
	}
	if !rp.readable(user) {
		return nil, errForbidden
	}
	return c.entities.packageActions(ctx, rp.origin.Namespace+"/"+rp.origin.Name)
}

// actionFQN is the action a route names: {name} in the path's namespace,
// or in its package {pkg}.
func (q *request) actionFQN() (fqn, bool) {
	name, ok := q.entityName("name")
	if !ok {
		return fqn{}, false
	}
	f := fqn{Path: q.ns, Name: name}
	if q.r.PathValue("pkg") != "" {
		pkg, ok := q.entityName("pkg")
		if !ok {
			return fqn{}, false
		}
		f.Path += "/" + pkg
	}
	return f, true
}

func (c *Controller) actionHTTP(q *request) {
	f, ok := q.actionFQN()
	if !ok {
		return
	}
	switch q.r.Method {
	case http.MethodGet:
		c.getActionHTTP(q, f)
	case http.MethodPut, http.MethodDelete:
		// Packaged actions are written only into a package, never through
		// a binding.
		if pkg := f.pkg(); pkg != "" {
			p, err := c.entities.getPackage(q.r.Context(), f.Path)
			if err == nil && p.Binding.isSet() {
				err = errNotAllowedOnBinding
			}
			if err != nil {
				q.failErr(c, err)
				return
			}
		}
		if q.r.Method == http.MethodPut {
			c.putActionHTTP(q, f)
			return
		}
		a, err := c.entities.deleteAction(q.r.Context(), f.docID())
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, toActionJSON(a, nil))
	case http.MethodPost:
		c.invokeHTTP(q, f)
	default:
		q.methodNotAllowed("GET, PUT, POST, DELETE")
	}
}

// getActionHTTP answers GET with the action's parameters merged with its
// package's, as stock shows an action reached through a binding.
func (c *Controller) getActionHTTP(q *request, f fqn) {
	ctx := q.r.Context()
	a, err := c.entities.resolveAction(ctx, q.user.Namespace.Name, f)
	if err != nil {
		q.failErr(c, err)
		return
	}
	var code *string
	if q.r.URL.Query().Get("code") != "false" {
		s, err := c.entities.code(ctx, a.storedAction)
		if err != nil {
			q.failErr(c, err)
			return
		}
		code = &s
	}
	out := toActionJSON(a.storedAction, code)
	out.Parameters = a.params
	q.json(http.StatusOK, out)
}

func (c *Controller) putActionHTTP(q *request, f fqn) {
	body, ok := readLimited(q, execSizeLimit+(1<<20))
	if !ok {
		return
	}
	var put actionPut
	if err := json.Unmarshal(body, &put); err != nil {
		q.fail(http.StatusBadRequest, fmt.Sprintf("The request content was malformed:\n%v", err))
		return
	}
	a, err := c.entities.putAction(q.r.Context(), f.Path, f.Name, put, q.r.URL.Query().Get("overwrite") == "true")
	if err != nil {
		q.failErr(c, err)
		return
	}
	// The stock response is the action written, code included.
	code, err := c.entities.code(q.r.Context(), a)
	if err != nil {
		q.failErr(c, err)
		return
	}
	if put.Exec != nil {
		c.precompile(a, code)
	}
	q.json(http.StatusOK, toActionJSON(a, &code))
}

// invokeHTTP is POST .../actions/name: publish an ActivationMessage and,
// when blocking, wait for the result up to ?timeout (60 s at most).
func (c *Controller) invokeHTTP(q *request, f fqn) {
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
	a, err := c.entities.resolveAction(ctx, q.user.Namespace.Name, f)
	if err != nil {
		q.failErr(c, err)
		return
	}
	aid, act, err := c.invoke(ctx, invocation{user: q.user, tid: q.tid, action: a, payload: payload, blocking: blocking, wait: wait})
	if err != nil {
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
	if act == nil {
		q.json(http.StatusAccepted, map[string]string{"activationId": aid})
		return
	}
	q.activationResult(act, result)
}

// activationResult answers a blocking invoke: 200 on success, 502 for
// application and developer errors, 500 for whisk errors; the result
// alone when asked (and always when it is an array).
func (q *request) activationResult(act *whisk.Activation, result bool) {
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
