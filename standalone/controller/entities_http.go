package controller

import (
	"bytes"
	"encoding/json"
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

func (c *Controller) listPackagesHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	// Another namespace's listing shows its published packages only.
	all, err := c.entities.listPackages(q.r.Context(), q.ns, q.ns != q.user.Namespace.Name)
	if err != nil {
		q.failErr(c, err)
		return
	}
	listPage(q, "packages", all)
}

func (c *Controller) packageHTTP(q *request) {
	name, ok := q.entityName("name")
	if !ok {
		return
	}
	ctx := q.r.Context()
	docID := q.ns + "/" + name
	switch q.r.Method {
	case http.MethodGet:
		rp, err := c.entities.resolvePackage(ctx, docID)
		if err == nil && !rp.readable(q.user.Namespace.Name) {
			err = errForbidden
		}
		if err == errNotFound && q.ns != q.user.Namespace.Name {
			err = errForbidden
		}
		if err != nil {
			q.failErr(c, err)
			return
		}
		p, err := c.entities.packageWithActions(ctx, rp)
		q.reply(c, p, err)
	case http.MethodPut:
		var put packagePut
		if !decodePut(q, &put) {
			return
		}
		p, err := c.entities.putPackage(ctx, q.ns, name, put, q.overwrite())
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, p.api())
	case http.MethodDelete:
		p, err := c.entities.deletePackage(ctx, docID, q.r.URL.Query().Get("force") == "true")
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, p.api())
	default:
		q.methodNotAllowed("GET, PUT, DELETE")
	}
}

func (c *Controller) listTriggersHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	all, err := c.entities.listTriggers(q.r.Context(), q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	listPage(q, "triggers", all)
}

func (c *Controller) triggerHTTP(q *request) {
	name, ok := q.entityName("name")
	if !ok {
		return
	}
	ctx := q.r.Context()
	docID := q.ns + "/" + name
	switch q.r.Method {
	case http.MethodGet:
		t, err := c.entities.getTrigger(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, t.api())
	case http.MethodPut:
		var put triggerPut
		if !decodePut(q, &put) {
			return
		}
		t, err := c.entities.putTrigger(ctx, q.ns, name, put, q.overwrite())
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, t.api())
	case http.MethodDelete:
		t, err := c.entities.deleteTrigger(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, t.api())
	case http.MethodPost:
		c.fireHTTP(q, docID)
	default:
		q.methodNotAllowed("GET, PUT, POST, DELETE")
	}
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
	aid := c.fire(q.r.Context(), q.user, q.tid, t, payload, q.r.Header)
	if aid == "" {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	q.w.Header().Set("x-openwhisk-activation-id", aid)
	q.json(http.StatusAccepted, map[string]string{"activationId": aid})
}

func (c *Controller) listRulesHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	all, err := c.entities.listRules(q.r.Context(), q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	listPage(q, "rules", all)
}

func (c *Controller) ruleHTTP(q *request) {
	name, ok := q.entityName("name")
	if !ok {
		return
	}
	ctx := q.r.Context()
	docID := q.ns + "/" + name
	switch q.r.Method {
	case http.MethodGet:
		r, err := c.entities.getRule(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		status, _ := c.entities.ruleStatus(ctx, r)
		q.json(http.StatusOK, r.withStatus(status))
	case http.MethodPut:
		var put rulePut
		if !decodePut(q, &put) {
			return
		}
		r, err := c.entities.putRule(ctx, q.ns, name, put, q.overwrite())
		q.reply(c, r, err)
	case http.MethodDelete:
		r, err := c.entities.deleteRule(ctx, docID)
		q.reply(c, r, err)
	case http.MethodPost:
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
		if err := c.entities.setRuleStatus(ctx, docID, *body.Status); err != nil {
			q.failErr(c, err)
			return
		}
		q.w.WriteHeader(http.StatusOK)
	default:
		q.methodNotAllowed("GET, PUT, POST, DELETE")
	}
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
