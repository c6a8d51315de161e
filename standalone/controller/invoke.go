package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// invocation is one activation of a primitive action, as
// PrimitiveActions.invokeSimpleAction gets it.
type invocation struct {
	user     whisk.Identity
	tid      string
	action   *resolvedAction
	payload  map[string]json.RawMessage
	blocking bool
	wait     time.Duration
	cause    string // the enclosing sequence's activation id
}

// invoke publishes an ActivationMessage for inv and, when blocking, waits
// for the activation up to inv.wait. It returns the activation id and the
// activation, nil when not blocking or when the wait ran out.
func (c *Controller) invoke(ctx context.Context, inv invocation) (string, *whisk.Activation, error) {
	a := inv.action
	if a.Exec.Kind == sequenceKind {
		return c.invokeSequence(ctx, inv)
	}
	// Parameters merged with the payload on top; a payload key unlocks
	// (replaces) an encrypted parameter.
	content := map[string]json.RawMessage{}
	initArgs, locked := []string{}, map[string]string{}
	for _, p := range a.params {
		content[p.Key] = p.Value
		if p.Init {
			initArgs = append(initArgs, p.Key)
		}
		if p.Encryption != "" {
			locked[p.Key] = p.Encryption
		}
	}
	for k, val := range inv.payload {
		content[k] = val
		delete(locked, k)
	}
	contentJSON, err := json.Marshal(content)
	if err != nil {
		return "", nil, fmt.Errorf("controller: encode content: %w", err)
	}
	rev := a.Rev
	msg := &whisk.ActivationMessage{
		TransID:             whisk.NewTransID(inv.tid, time.Now().UnixMilli()),
		Action:              whisk.FullyQualifiedEntityName{Path: a.Namespace, Name: a.Name, Version: a.Version},
		Revision:            &rev,
		User:                inv.user,
		ActivationID:        string(activation.NewID()),
		RootControllerIndex: c.lb.controllerID,
		Blocking:            inv.blocking,
		Content:             contentJSON,
		InitArgs:            initArgs,
		LockedArgs:          locked,
		Cause:               inv.cause,
	}
	done, err := c.lb.Publish(ctx, a.Limits, msg)
	if err != nil {
		return "", nil, err
	}
	if done == nil {
		return msg.ActivationID, nil, nil
	}
	defer done.Close()
	return msg.ActivationID, c.activations.wait(ctx, inv.user.Namespace.Name, done, inv.wait), nil
}
