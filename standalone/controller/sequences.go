package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// sequenceKind is Exec.SEQUENCE: an action composed of other actions,
// run by the controller, each component a real activation.
const sequenceKind = "sequence"

// Sequence errors (Messages).
const (
	msgSequenceTooLong       = "Too many actions in the sequence."
	msgSequenceNoComponent   = "No component specified for the sequence."
	msgSequenceCyclic        = "Sequence may not refer to itself."
	msgSequenceComponentGone = "Sequence component does not exist."
	msgSequenceFailure       = "Sequence failed."
)

// applySequence checks a sequence's components (checkSequenceActionLimits)
// and sets doc.Exec; components are stored fully qualified, "/ns/pkg/a".
func (s *entityStore) applySequence(ctx context.Context, doc *whisk.ActionDoc, components []string) error {
	switch {
	case len(components) == 0:
		return badRequest(msgSequenceNoComponent)
	case len(components) > sequenceLimit:
		return badRequest(msgSequenceTooLong)
	}
	root, _, _ := strings.Cut(doc.Namespace, "/")
	stored := make([]string, len(components))
	for i, c := range components {
		f, err := parseFQN(c, root)
		if err != nil {
			return err
		}
		stored[i] = "/" + f.docID()
	}
	n, err := s.countAtomic(ctx, root, doc.ID, stored, 0)
	if err != nil {
		return err
	}
	if n > sequenceLimit {
		return badRequest(msgSequenceTooLong)
	}
	doc.Exec = whisk.Exec{Kind: sequenceKind, Components: stored}
	return nil
}

// countAtomic is countAtomicActionsAndCheckCycle: the atomic actions of
// components with nested sequences inlined, refusing any that reaches the
// sequence being written.
func (s *entityStore) countAtomic(ctx context.Context, user, self string, components []string, depth int) (int, error) {
	n := 0
	for _, c := range components {
		f, err := parseFQN(c, user)
		if err != nil {
			return 0, err
		}
		a, err := s.resolveAction(ctx, user, f)
		switch {
		case err == errNotFound:
			return 0, badRequest(msgSequenceComponentGone)
		case err != nil:
			return 0, err
		case a.ID == self:
			return 0, badRequest(msgSequenceCyclic)
		case a.Exec.Kind != sequenceKind:
			n++
			continue
		case depth > sequenceLimit:
			return 0, badRequest(msgSequenceTooLong)
		}
		m, err := s.countAtomic(ctx, user, self, a.Exec.Components, depth+1)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// sequenceRun is SequenceAccounting: what the components so far added up to.
type sequenceRun struct {
	atomic    int
	response  whisk.ActivationResponse
	logs      []string
	duration  int64
	maxMemory int64
	stop      bool
}

// invokeSequence is SequenceActions.invokeSequence for a topmost sequence:
// it runs the components in the background and, when blocking, waits for
// the sequence's activation up to inv.wait.
func (c *Controller) invokeSequence(ctx context.Context, inv invocation) (string, *whisk.Activation, error) {
	aid := string(activation.NewID())
	done := make(chan *whisk.Activation, 1)
	// The sequence outlives a request that stops waiting for it.
	c.background(func(ctx context.Context) { done <- c.runSequence(ctx, inv, aid, "", 0) })
	if !inv.blocking {
		return aid, nil, nil
	}
	t := time.NewTimer(inv.wait)
	defer t.Stop()
	select {
	case act := <-done:
		return aid, act, nil
	case <-t.C:
		return aid, nil, nil
	case <-ctx.Done():
		return aid, nil, nil
	}
}

// runSequence invokes the components one after the other, each with the
// previous result as its input, stops at the first result with an error
// field, and stores the sequence's activation record. cause is the
// enclosing sequence's activation id for an inner sequence.
func (c *Controller) runSequence(ctx context.Context, inv invocation, aid, cause string, atomic int) *whisk.Activation {
	start := c.now()
	first, _ := json.Marshal(mergePayload(inv.action.params, inv.payload))
	run := &sequenceRun{atomic: atomic, response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: first}}
	root := inv.user.Namespace.Name
	for _, comp := range inv.action.Exec.Components {
		if run.atomic >= sequenceLimit {
			run.fail(whisk.ErrorResponse(whisk.StatusApplicationError, msgSequenceTooLong), "")
			break
		}
		c.runComponent(ctx, inv, root, comp, aid, run)
		if run.stop {
			break
		}
	}
	a := inv.action
	limits := a.Limits
	limits.Memory = max(run.maxMemory, limits.Memory)
	ann := whisk.Annotations{}
	ann.Set("topmost", cause == "")
	ann.Set("path", a.Namespace+"/"+a.Name)
	ann.Set("kind", sequenceKind)
	if cause != "" {
		ann.Set("causedBy", sequenceKind)
	}
	ann.Set("waitTime", 0)
	ann.Set("limits", limits)
	duration := run.duration
	record := whisk.Activation{
		Namespace: root, Name: a.Name, Subject: inv.user.Subject, ActivationID: aid,
		Start: start.UnixMilli(), End: c.now().UnixMilli(), Cause: cause, Response: run.response,
		Logs: run.logs, Version: a.Version, Annotations: ann, Duration: &duration,
	}
	if err := c.activations.put(ctx, record, c.now()); err != nil {
		c.log.Error("controller: sequence activation record", "sequence", a.ID, "activationId", aid, "err", err)
	}
	return &record
}

// runComponent is invokeNextAction: one component, atomic or a nested
// sequence, run blocking with the previous result as its input.
func (c *Controller) runComponent(ctx context.Context, inv invocation, root, comp, cause string, run *sequenceRun) {
	var input map[string]json.RawMessage
	if json.Unmarshal(run.response.Result, &input) != nil {
		input = nil
	}
	f, err := parseFQN(comp, root)
	var a *resolvedAction
	if err == nil {
		a, err = c.entities.resolveAction(ctx, root, f)
	}
	if err != nil {
		if err == errNotFound {
			run.fail(whisk.ErrorResponse(whisk.StatusApplicationError, msgSequenceComponentGone), "")
		} else {
			run.fail(whisk.ErrorResponse(whisk.StatusWhiskError, msgSequenceFailure), "")
		}
		return
	}
	next := invocation{user: inv.user, tid: inv.tid, action: a, payload: input, blocking: true, cause: cause,
		wait: time.Duration(a.Limits.Timeout)*time.Millisecond + time.Minute}
	var act *whisk.Activation
	if a.Exec.Kind == sequenceKind {
		act = c.runSequence(ctx, invocation{user: inv.user, tid: inv.tid, action: a, payload: input}, string(activation.NewID()), cause, run.atomic)
		run.atomic += countAtomicIn(act)
	} else {
		var id string
		if id, act, err = c.invoke(ctx, next); err != nil {
			run.fail(whisk.ErrorResponse(whisk.StatusWhiskError, msgSequenceFailure), "")
			return
		}
		if act == nil {
			run.fail(whisk.ErrorResponse(whisk.StatusWhiskError, fmt.Sprintf("Timeout reached when retrieving activation %s for sequence component.", id)), id)
			return
		}
		run.atomic++
	}
	run.add(act)
}

// countAtomicIn is how many atomic activations a nested sequence's record
// lists (its logs).
func countAtomicIn(a *whisk.Activation) int { return len(a.Logs) }

// add is SequenceAccounting.maybe: tally the activation and stop when its
// result carries an error field.
func (r *sequenceRun) add(a *whisk.Activation) {
	r.logs = append(r.logs, a.ActivationID)
	r.response = a.Response
	if a.Duration != nil {
		r.duration += *a.Duration
	} else if a.End > a.Start {
		r.duration += a.End - a.Start
	}
	if raw, ok := a.Annotations.Get("limits"); ok {
		var l whisk.Limits
		if json.Unmarshal(raw, &l) == nil {
			r.maxMemory = max(r.maxMemory, l.Memory)
		}
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(a.Response.Result, &res) == nil {
		if _, failed := res["error"]; failed {
			r.stop = true
		}
	}
}

func (r *sequenceRun) fail(resp whisk.ActivationResponse, aid string) {
	if aid != "" {
		r.logs = append(r.logs, aid)
	}
	r.response, r.stop = resp, true
}

// mergePayload is the parameters under the payload, as the first
// component's input.
func mergePayload(params []whisk.Parameter, payload map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, p := range params {
		out[p.Key] = p.Value
	}
	maps.Copy(out, payload)
	return out
}
