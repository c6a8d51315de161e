package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faasedge/faasedge/whisk"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (c *Controller) listActionsHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		q.methodNotAllowed("GET")
		return
	}
	skip, limit, count, ok := listParams(q, "actions")
	if !ok {
		return
	}
	all, err := c.entities.listActions(q.r.Context(), q.ns)
	if err != nil {
		q.failErr(c, err)
		return
	}
	if count {
		q.json(http.StatusOK, map[string]int{"actions": len(page(all, skip, 0))})
		return
	}
	q.json(http.StatusOK, page(all, skip, limit))
}

func (c *Controller) actionHTTP(q *request) {
	name, ok := q.entityName("name")
	if !ok {
		return
	}
	ctx := q.r.Context()
	docID := q.ns + "/" + name
	switch q.r.Method {
	case http.MethodGet:
		a, err := c.entities.getAction(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		var code *string
		if q.r.URL.Query().Get("code") != "false" {
			s, err := c.entities.code(ctx, a)
			if err != nil {
				q.failErr(c, err)
				return
			}
			code = &s
		}
		q.json(http.StatusOK, toActionJSON(a, code))
	case http.MethodPut:
		c.putActionHTTP(q, name)
	case http.MethodDelete:
		a, err := c.entities.deleteAction(ctx, docID)
		if err != nil {
			q.failErr(c, err)
			return
		}
		q.json(http.StatusOK, toActionJSON(a, nil))
	case http.MethodPost:
		c.invokeHTTP(q, docID)
	default:
		q.methodNotAllowed("GET, PUT, POST, DELETE")
	}
}

func (c *Controller) putActionHTTP(q *request, name string) {
	body, ok := readLimited(q, execSizeLimit+(1<<20))
	if !ok {
		return
	}
	var put actionPut
	if err := json.Unmarshal(body, &put); err != nil {
		q.fail(http.StatusBadRequest, fmt.Sprintf("The request content was malformed:\n%v", err))
		return
	}
	a, err := c.entities.putAction(q.r.Context(), q.ns, name, put, q.r.URL.Query().Get("overwrite") == "true")
	if err != nil {
		q.failErr(c, err)
		return
	}
	q.json(http.StatusOK, toActionJSON(a, nil))
}

// invokeHTTP is POST .../actions/name: publish an ActivationMessage and,
// when blocking, wait for the result up to ?timeout (60 s at most).
func (c *Controller) invokeHTTP(q *request, docID string) {
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
	a, err := c.entities.getAction(ctx, docID)
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
