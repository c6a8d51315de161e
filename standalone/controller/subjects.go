package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/whisk"
)

// subjectDoc is a subjects database entry (WhiskAuth).
type subjectDoc struct {
	ID         string `json:"_id"`
	Rev        string `json:"_rev,omitempty"`
	Subject    string `json:"subject"`
	Namespaces []struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
		Key  string `json:"key"`
	} `json:"namespaces"`
	Blocked bool `json:"blocked,omitempty"`
}

// subjectStore is the subjects database with the identities it holds,
// cached by "uuid:key" (the stock AuthStore behind BasicAuthenticationDirective).
type subjectStore struct {
	db  *kivik.DB
	log *slog.Logger

	mu         sync.Mutex
	identities map[string]whisk.Identity
}

// ensureGuest writes the guest subject unless it exists, then loads
// every identity.
func (c *subjectStore) ensureGuest(ctx context.Context) error {
	guest := map[string]any{
		"subject":    GuestNamespace,
		"namespaces": []map[string]string{{"name": GuestNamespace, "uuid": GuestUUID, "key": GuestKey}},
	}
	if _, err := c.db.Put(ctx, GuestNamespace, guest); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		return fmt.Errorf("controller: write guest subject: %w", err)
	}
	return c.loadIdentities(ctx)
}

func (c *subjectStore) loadIdentities(ctx context.Context) error {
	rows := c.db.AllDocs(ctx, kivik.Param("include_docs", true))
	defer rows.Close()
	ids := map[string]whisk.Identity{}
	for rows.Next() {
		var d subjectDoc
		if err := rows.ScanDoc(&d); err != nil || d.Blocked || strings.HasPrefix(d.ID, "_design/") {
			continue
		}
		for _, ns := range d.Namespaces {
			ids[ns.UUID+":"+ns.Key] = whisk.Identity{
				Subject:   d.Subject,
				Namespace: whisk.Namespace{Name: ns.Name, UUID: ns.UUID},
				AuthKey:   whisk.AuthKey{APIKey: ns.UUID + ":" + ns.Key},
				Rights:    []string{"READ", "PUT", "DELETE", "ACTIVATE"},
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("controller: read subjects: %w", err)
	}
	c.mu.Lock()
	c.identities = ids
	c.mu.Unlock()
	return nil
}

// identity authenticates "uuid:key"; an unknown key reloads the subjects
// once, so subjects added to the database work without a restart.
func (c *subjectStore) identity(ctx context.Context, uuid, key string) (whisk.Identity, bool) {
	c.mu.Lock()
	id, ok := c.identities[uuid+":"+key]
	c.mu.Unlock()
	if ok {
		return id, true
	}
	if err := c.loadIdentities(ctx); err != nil {
		c.log.Warn("controller: reload subjects", "err", err)
		return id, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok = c.identities[uuid+":"+key]
	return id, ok
}

// byNamespace is identityByNamespace: the identity that owns namespace ns,
// for web actions, which run as their owner.
func (c *subjectStore) byNamespace(ctx context.Context, ns string) (whisk.Identity, bool) {
	find := func() (whisk.Identity, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, id := range c.identities {
			if id.Namespace.Name == ns {
				return id, true
			}
		}
		return whisk.Identity{}, false
	}
	if id, ok := find(); ok {
		return id, true
	}
	if err := c.loadIdentities(ctx); err != nil {
		c.log.Warn("controller: reload subjects", "err", err)
		return whisk.Identity{}, false
	}
	return find()
}
