package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// decodePut reads a PUT body into v: 415, 413 and the stock malformed
// text as for actions.
func decodePut(q *request, v any) bool {
	body, ok := readLimited(q, execSizeLimit+(1<<20))
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		q.fail(http.StatusBadRequest, fmt.Sprintf("The request content was malformed:\n%v", err))
		return false
	}
	return true
}

func (q *request) overwrite() bool { return q.r.URL.Query().Get("overwrite") == "true" }

// reply answers 200 with v, or the error.
func (q *request) reply(c *Controller, v any, err error) {
	if err != nil {
		q.failErr(c, err)
		return
	}
	q.json(http.StatusOK, v)
}

// collection is one entity collection's REST operations, dispatched by
// method as WhiskCollectionAPI does: list on the collection; get, put
// (create or update), delete and, where the collection has it, post on an
// entity.
type collection struct {
	name   string
	list   func(q *request) ([]any, error)
	get    func(q *request, docID string) (any, error)
	put    func(q *request, name string) (any, error)
	delete func(q *request, docID string) (any, error)
	post   func(q *request, docID string) // nil: the collection has no POST
}

func (c *Controller) listHTTP(col collection) func(*request) {
	return func(q *request) {
		if q.r.Method != http.MethodGet {
			q.methodNotAllowed("GET")
			return
		}
		all, err := col.list(q)
		if err != nil {
			q.failErr(c, err)
			return
		}
		listPage(q, col.name, all)
	}
}

func (c *Controller) entityHTTP(col collection) func(*request) {
	return func(q *request) {
		name, ok := q.entityName("name")
		if !ok {
			return
		}
		docID := q.ns + "/" + name
		var v any
		var err error
		switch q.r.Method {
		case http.MethodGet:
			v, err = col.get(q, docID)
		case http.MethodPut:
			v, err = col.put(q, name)
		case http.MethodDelete:
			v, err = col.delete(q, docID)
		case http.MethodPost:
			if col.post != nil {
				col.post(q, docID)
				return
			}
			fallthrough
		default:
			if col.post != nil {
				q.methodNotAllowed("GET, PUT, POST, DELETE")
			} else {
				q.methodNotAllowed("GET, PUT, DELETE")
			}
			return
		}
		if err == errBodyAnswered {
			return
		}
		q.reply(c, v, err)
	}
}

// errBodyAnswered is a put whose body was refused with its own answer.
var errBodyAnswered = errors.New("request body refused")

// decode is decodePut for a collection's put.
func decode[T any](q *request) (T, error) {
	var v T
	if !decodePut(q, &v) {
		return v, errBodyAnswered
	}
	return v, nil
}

func (c *Controller) packages() collection {
	return collection{
		name: "packages",
		list: func(q *request) ([]any, error) {
			// Another namespace's listing (or ?public=true) shows published
			// packages only.
			publicOnly := q.ns != q.user.Namespace.Name || q.r.URL.Query().Get("public") == "true"
			return boxed(c.entities.listPackages(q.r.Context(), q.ns, publicOnly))
		},
		get: func(q *request, docID string) (any, error) {
			rp, err := c.entities.resolvePackage(q.r.Context(), docID)
			if err == nil && !rp.readable(q.user.Namespace.Name) {
				err = errForbidden
			}
			if err == errNotFound && q.ns != q.user.Namespace.Name {
				err = errForbidden
			}
			if err != nil {
				return nil, err
			}
			return c.entities.packageWithActions(q.r.Context(), rp)
		},
		put: func(q *request, name string) (any, error) {
			put, err := decode[packagePut](q)
			if err != nil {
				return nil, err
			}
			p, err := c.entities.putPackage(q.r.Context(), q.ns, name, put, q.overwrite())
			return apiOf(p, err)
		},
		delete: func(q *request, docID string) (any, error) {
			return apiOf(c.entities.deletePackage(q.r.Context(), docID, q.r.URL.Query().Get("force") == "true"))
		},
	}
}

func (c *Controller) triggers() collection {
	return collection{
		name: "triggers",
		list: func(q *request) ([]any, error) { return boxed(c.entities.listTriggers(q.r.Context(), q.ns)) },
		get: func(q *request, docID string) (any, error) {
			return apiOf(c.entities.getTrigger(q.r.Context(), docID))
		},
		put: func(q *request, name string) (any, error) {
			put, err := decode[triggerPut](q)
			if err != nil {
				return nil, err
			}
			return apiOf(c.entities.putTrigger(q.r.Context(), q.ns, name, put, q.overwrite()))
		},
		delete: func(q *request, docID string) (any, error) {
			return apiOf(c.entities.deleteTrigger(q.r.Context(), docID))
		},
		post: c.fireHTTP,
	}
}

func (c *Controller) rules() collection {
	return collection{
		name: "rules",
		list: func(q *request) ([]any, error) { return boxed(c.entities.listRules(q.r.Context(), q.ns)) },
		get: func(q *request, docID string) (any, error) {
			r, err := c.entities.getRule(q.r.Context(), docID)
			if err != nil {
				return nil, err
			}
			status, _ := c.entities.ruleStatus(q.r.Context(), r)
			return r.withStatus(status), nil
		},
		put: func(q *request, name string) (any, error) {
			put, err := decode[rulePut](q)
			if err != nil {
				return nil, err
			}
			return c.entities.putRule(q.r.Context(), q.ns, name, put, q.overwrite())
		},
		delete: func(q *request, docID string) (any, error) { return c.entities.deleteRule(q.r.Context(), docID) },
		post:   c.ruleStatusHTTP,
	}
}

// apiDoc is an entity document that has an API form.
type apiDoc[T any] interface{ api() T }

// apiOf is the API form of a document, or the error.
func apiOf[T any, D apiDoc[T]](d D, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return d.api(), nil
}

// boxed is a collection's listing as list gives it.
func boxed[T any](xs []T, err error) ([]any, error) {
	if err != nil {
		return nil, err
	}
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out, nil
}

// fireHTTP is POST .../triggers/T: 202 with the trigger activation id,
// 204 when no rule is active.
func (c *Controller) fireHTTP(q *request, docID string) {
	body, ok := readLimited(q, q.user.Limits.AllowedMaxPayloadSize())
	if !ok {
		return
	}
	payload := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &payload); err != nil {
			q.fail(http.StatusBadRequest, "The request content was malformed:\n"+err.Error())
			return
		}
	}
	t, err := c.entities.getTrigger(q.r.Context(), docID)
	if err != nil {
		q.failErr(c, err)
		return
	}
	aid := c.fire(q.user, q.tid, t, payload, q.r.Header)
	if aid == "" {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	q.w.Header().Set("x-openwhisk-activation-id", aid)
	q.json(http.StatusAccepted, map[string]string{"activationId": aid})
}

// ruleStatusHTTP is POST .../rules/R {"status": "active"|"inactive"}.
func (c *Controller) ruleStatusHTTP(q *request, docID string) {
	var body struct {
		Status *string `json:"status"`
	}
	if !decodePut(q, &body) {
		return
	}
	if body.Status == nil || (*body.Status != statusActive && *body.Status != statusInactive) {
		s := "null"
		if body.Status != nil {
			s = *body.Status
		}
		q.fail(http.StatusBadRequest, fmt.Sprintf("The request content was malformed:\n'%s' is not a recognized rule state, must be one of ['active', 'inactive']", s))
		return
	}
	if err := c.entities.setRuleStatus(q.r.Context(), docID, *body.Status); err != nil {
		q.failErr(c, err)
		return
	}
	q.w.WriteHeader(http.StatusOK)
}

// namespaceHTTP is GET /namespaces/{ns}: the namespace's entities by
// collection, as older controllers answered it.
func (c *Controller) namespaceHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	ctx := q.r.Context()
	actions, err := c.entities.listActions(ctx, q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	packages, err := c.entities.listPackages(ctx, q.ns, false)
	if err != nil {
		q.failErr(c, err)
		return
	}
	triggers, err := c.entities.listTriggers(ctx, q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	rules, err := c.entities.listRules(ctx, q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	q.json(http.StatusOK, map[string]any{"actions": page(actions, 0, 0), "packages": page(packages, 0, 0), "triggers": page(triggers, 0, 0), "rules": page(rules, 0, 0)})
}
