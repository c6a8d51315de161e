package controller

import (
	"context"
	"net/http"

	"github.com/faasedge/faasedge/whisk"
)

// ruleDoc is WhiskRule in the whisks database.
type ruleDoc struct {
	docHead
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Trigger     fqn               `json:"trigger"`
	Action      fqn               `json:"action"`
	Version     string            `json:"version"`
	Publish     bool              `json:"publish"`
	Annotations whisk.Annotations `json:"annotations"`
	Updated     int64             `json:"updated"`
}

// ruleResponse is WhiskRuleResponse: the rule with its status, which the
// trigger holds.
type ruleResponse struct {
	ruleDoc
	Status string `json:"status"`
}

func (r ruleDoc) withStatus(status string) ruleResponse {
	r.docHead = docHead{}
	_, r.Annotations = nonNil(nil, r.Annotations)
	return ruleResponse{ruleDoc: r, Status: status}
}

// rulePut is WhiskRulePut.
type rulePut struct {
	entityPut
	Trigger *ref `json:"trigger"`
	Action  *ref `json:"action"`
}

func (s *entityStore) getRule(ctx context.Context, docID string) (*ruleDoc, error) {
	return readEntity[ruleDoc](ctx, s, docID, kindRule)
}

// ruleStatus is the rule's status as its trigger records it (inactive
// when the trigger is gone).
func (s *entityStore) ruleStatus(ctx context.Context, r *ruleDoc) (string, *triggerDoc) {
	t, err := s.getTrigger(ctx, r.Trigger.docID())
	if err != nil {
		return statusInactive, nil
	}
	if l, ok := t.Rules[r.Namespace+"/"+r.Name]; ok {
		return l.Status, t
	}
	return statusInactive, t
}

// checkRuleTargets is checkTriggerAndActionExist.
func (s *entityStore) checkRuleTargets(ctx context.Context, user string, trigger, action fqn) (*triggerDoc, error) {
	t, err := s.getTrigger(ctx, trigger.docID())
	if err != nil {
		if err == errNotFound {
			return nil, badRequest("trigger /%s does not exist", trigger)
		}
		return nil, err
	}
	if _, err := s.resolveAction(ctx, user, action); err != nil {
		if err == errNotFound {
			return nil, badRequest("action /%s does not exist", action)
		}
		return nil, err
	}
	return t, nil
}

// putRule creates a rule (active, linked from its trigger) or updates
// one, keeping its status and moving the link when the trigger changes.
func (s *entityStore) putRule(ctx context.Context, ns, name string, put rulePut, overwrite bool) (*ruleResponse, error) {
	docID, cur, err := replaced[ruleDoc](ctx, s, ns, name, kindRule, overwrite)
	if err != nil {
		return nil, err
	}
	doc := ruleDoc{docHead: docHead{ID: docID, EntityType: kindRule}, Namespace: ns, Name: name, Version: "0.0.1", Annotations: whisk.Annotations{}}
	status := statusActive
	var oldTrigger *triggerDoc
	if cur != nil {
		doc = *cur
		doc.Version = upPatch(doc.Version)
		status, oldTrigger = s.ruleStatus(ctx, cur)
	} else if put.Trigger == nil || put.Action == nil {
		return nil, badRequest("rule requires a valid trigger and a valid action")
	}
	for _, f := range []struct {
		r   *ref
		dst *fqn
	}{{put.Trigger, &doc.Trigger}, {put.Action, &doc.Action}} {
		if f.r == nil {
			continue
		}
		if *f.dst, err = f.r.resolve(ns); err != nil {
			return nil, err
		}
	}
	t, err := s.checkRuleTargets(ctx, ns, doc.Trigger, doc.Action)
	if err != nil {
		return nil, err
	}
	put.apply(&doc.Version, nil, &doc.Publish, &doc.Annotations)
	doc.Updated = s.now().UnixMilli()
	if oldTrigger != nil && oldTrigger.ID != t.ID {
		if err := s.linkRule(ctx, oldTrigger, docID, nil); err != nil {
			return nil, err
		}
	}
	if err := s.linkRule(ctx, t, docID, &ruleLink{Action: doc.Action, Status: status}); err != nil {
		return nil, err
	}
	if doc.Rev, err = s.put(ctx, docID, doc, nil); err != nil {
		return nil, err
	}
	r := doc.withStatus(status)
	return &r, nil
}

// setRuleStatus is POST /rules/R {"status": ...}.
func (s *entityStore) setRuleStatus(ctx context.Context, docID, status string) error {
	r, err := s.getRule(ctx, docID)
	if err != nil {
		return err
	}
	old, t := s.ruleStatus(ctx, r)
	if t == nil {
		return &apiError{http.StatusNotFound, "Only rules with existing triggers can be activated"}
	}
	if old == status {
		return nil
	}
	return s.linkRule(ctx, t, docID, &ruleLink{Action: r.Action, Status: status})
}

// deleteRule deletes a rule and its link on the trigger.
func (s *entityStore) deleteRule(ctx context.Context, docID string) (*ruleResponse, error) {
	r, err := s.getRule(ctx, docID)
	if err != nil {
		return nil, err
	}
	if _, t := s.ruleStatus(ctx, r); t != nil {
		if err := s.linkRule(ctx, t, docID, nil); err != nil {
			return nil, err
		}
	}
	if err := s.delete(ctx, docID, r.Rev); err != nil {
		return nil, err
	}
	resp := r.withStatus(statusInactive)
	return &resp, nil
}

// listRules lists a namespace's rules with their status, newest first.
func (s *entityStore) listRules(ctx context.Context, ns string) ([]ruleResponse, error) {
	docs, err := listEntities(ctx, s, ns, kindRule, func(r *ruleDoc) int64 { return r.Updated }, nil)
	if err != nil {
		return nil, err
	}
	out := make([]ruleResponse, len(docs))
	for i := range docs {
		status, _ := s.ruleStatus(ctx, &docs[i])
		out[i] = docs[i].withStatus(status)
	}
	return out, nil
}
