package controller

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// ruleResult is RuleActivationResult, one line of a trigger activation's
// logs.
type ruleResult struct {
	Rule         string `json:"rule"`
	Action       string `json:"action"`
	StatusCode   int    `json:"statusCode"`
	Success      bool   `json:"success"`
	ActivationID string `json:"activationId,omitempty"`
	Error        string `json:"error,omitempty"`
}

// fire is Triggers.activate: with no active rule nothing happens (the
// caller answers 204); otherwise every active rule's action is invoked
// (not blocking) with the trigger's parameters under the payload, and the
// trigger's activation record lists each rule's activation in its logs.
// It returns the trigger activation id, "" when no rule is active.
func (c *Controller) fire(user whisk.Identity, tid string, t *triggerDoc, payload map[string]json.RawMessage, headers http.Header) string {
	var active []string
	for name, l := range t.Rules {
		if l.Status == statusActive {
			active = append(active, name)
		}
	}
	if len(active) == 0 {
		return ""
	}
	sort.Strings(active)
	aid := string(activation.NewID())
	result, _ := json.Marshal(payload)
	record := whisk.Activation{
		Namespace: user.Namespace.Name, Name: t.Name, Subject: user.Subject, ActivationID: aid,
		Start: c.now().UnixMilli(), Version: t.Version, Annotations: whisk.Annotations{},
		Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: result},
	}
	// The rules' actions get the request's headers as __ow_headers, as
	// stock passes them on.
	hs := map[string]string{}
	for k, v := range headers {
		hs[strings.ToLower(k)] = strings.Join(v, ",")
	}
	args := map[string]json.RawMessage{}
	for _, p := range t.Parameters {
		args[p.Key] = p.Value
	}
	args["__ow_headers"], _ = json.Marshal(hs)
	maps.Copy(args, payload)
	c.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for _, name := range active {
			r := c.activateRule(ctx, user, tid, name, t.Rules[name].Action, args)
			line, _ := json.Marshal(r)
			record.Logs = append(record.Logs, string(line))
		}
		if err := c.activations.put(ctx, record, c.now()); err != nil {
			c.log.Error("controller: trigger activation record", "trigger", t.ID, "activationId", aid, "err", err)
		}
	})
	return aid
}

// activateRule invokes one rule's action as the trigger's user would by
// POST .../actions/A.
func (c *Controller) activateRule(ctx context.Context, user whisk.Identity, tid, rule string, action fqn, args map[string]json.RawMessage) ruleResult {
	r := ruleResult{Rule: rule, Action: action.String()}
	a, err := c.entities.resolveAction(ctx, user.Namespace.Name, action)
	if err == nil {
		r.ActivationID, _, err = c.invoke(ctx, invocation{user: user, tid: tid, action: a, payload: args})
	}
	if err != nil {
		var ae *apiError
		r.StatusCode, r.Error = int(whisk.StatusWhiskError), "Internal Server Error"
		if errors.As(err, &ae) && ae.status < 500 {
			r.StatusCode, r.Error = int(whisk.StatusApplicationError), ae.msg
		}
		c.log.Warn("controller: trigger-fired action failed to invoke", "rule", rule, "action", action.String(), "err", err)
		return r
	}
	r.Success = true
	return r
}
