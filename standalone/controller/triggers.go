package controller

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// ruleLink is ReducedRule, a trigger's view of one of its rules.
type ruleLink struct {
	Action fqn    `json:"action"`
	Status string `json:"status"`
}

// Rule states.
const (
	statusActive   = "active"
	statusInactive = "inactive"
)

// triggerDoc is WhiskTrigger in the whisks database; without _id, _rev
// and entityType it is what the API writes.
type triggerDoc struct {
	docHead
	Namespace   string              `json:"namespace"`
	Name        string              `json:"name"`
	Parameters  []whisk.Parameter   `json:"parameters"`
	Limits      struct{}            `json:"limits"`
	Version     string              `json:"version"`
	Publish     bool                `json:"publish"`
	Annotations whisk.Annotations   `json:"annotations"`
	Rules       map[string]ruleLink `json:"rules,omitempty"`
	Updated     int64               `json:"updated"`
}

func (t triggerDoc) api() triggerDoc {
	t.docHead = docHead{}
	t.Parameters, t.Annotations = nonNil(t.Parameters, t.Annotations)
	return t
}

// triggerPut is WhiskTriggerPut.
type triggerPut struct {
	entityPut
}

func (s *entityStore) getTrigger(ctx context.Context, docID string) (*triggerDoc, error) {
	return readEntity[triggerDoc](ctx, s, docID, kindTrigger)
}

// putTrigger creates or updates a trigger; its rules stay.
func (s *entityStore) putTrigger(ctx context.Context, ns, name string, put triggerPut, overwrite bool) (*triggerDoc, error) {
	docID, cur, err := replaced[triggerDoc](ctx, s, ns, name, kindTrigger, overwrite)
	if err != nil {
		return nil, err
	}
	doc := triggerDoc{docHead: docHead{ID: docID, EntityType: kindTrigger}, Namespace: ns, Name: name, Version: "0.0.1", Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{}}
	if cur != nil {
		doc = *cur
		doc.Version = upPatch(doc.Version)
	}
	put.apply(&doc.Version, &doc.Parameters, &doc.Publish, &doc.Annotations)
	if cur == nil {
		// validateTriggerFeed: a feed annotation names an entity.
		if raw, ok := doc.Annotations.Get("feed"); ok {
			var f string
			if json.Unmarshal(raw, &f) != nil || !validFeedName(f) {
				return nil, badRequest("Feed name is not valid")
			}
		}
	}
	doc.Updated = s.now().UnixMilli()
	if doc.Rev, err = s.put(ctx, docID, doc, nil); err != nil {
		return nil, err
	}
	return &doc, nil
}

// validFeedName is EntityPath.validate: slash-separated entity names.
func validFeedName(f string) bool {
	parts := strings.Split(strings.TrimPrefix(f, "/"), "/")
	for _, p := range parts {
		if !validName(p) {
			return false
		}
	}
	return len(parts) > 0
}

func (s *entityStore) deleteTrigger(ctx context.Context, docID string) (*triggerDoc, error) {
	t, err := s.getTrigger(ctx, docID)
	if err != nil {
		return nil, err
	}
	return t, s.delete(ctx, docID, t.Rev)
}

// listTriggers lists a namespace's triggers, newest first.
func (s *entityStore) listTriggers(ctx context.Context, ns string) ([]entitySummary, error) {
	docs, err := listEntities(ctx, s, ns, kindTrigger, func(t *triggerDoc) int64 { return t.Updated }, nil)
	if err != nil {
		return nil, err
	}
	out := make([]entitySummary, len(docs))
	for i, t := range docs {
		out[i] = entitySummary{Namespace: t.Namespace, Name: t.Name, Version: t.Version, Publish: t.Publish, Annotations: t.api().Annotations, Updated: t.Updated}
	}
	return out, nil
}

// linkRule sets (or, with link nil, removes) a rule on a trigger.
func (s *entityStore) linkRule(ctx context.Context, t *triggerDoc, rule string, link *ruleLink) error {
	if link == nil {
		delete(t.Rules, rule)
	} else {
		if t.Rules == nil {
			t.Rules = map[string]ruleLink{}
		}
		t.Rules[rule] = *link
	}
	rev, err := s.put(ctx, t.ID, t, nil)
	if err != nil {
		return err
	}
	t.Rev = rev
	return nil
}
