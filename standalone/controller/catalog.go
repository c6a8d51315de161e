package controller

import (
	"context"
	"fmt"

	"github.com/faasedge/faasedge/whisk"
)

// CatalogPackage is a package installed at start, as the stock catalog's
// installers create them with wsk (packages of whisk.system, published).
type CatalogPackage struct {
	Namespace   string
	Name        string
	Publish     bool
	Parameters  []whisk.Parameter
	Annotations whisk.Annotations
	Actions     []CatalogAction
}

// CatalogAction is one action of a CatalogPackage.
type CatalogAction struct {
	Name        string
	Kind        string // e.g. "nodejs:default"
	Code        string // source text
	Parameters  []whisk.Parameter
	Annotations whisk.Annotations
}

// Install creates or replaces a package and its actions through the same
// checks as PUT with overwrite=true. Call it after Start.
func (c *Controller) Install(ctx context.Context, p CatalogPackage) error {
	publish := p.Publish
	put := packagePut{entityPut: entityPut{Publish: &publish, Parameters: p.Parameters, Annotations: p.Annotations}}
	if _, err := c.entities.putPackage(ctx, p.Namespace, p.Name, put, true); err != nil {
		return fmt.Errorf("controller: install package %s/%s: %w", p.Namespace, p.Name, err)
	}
	for _, a := range p.Actions {
		code := a.Code
		ap := actionPut{Exec: &execPut{Kind: a.Kind, Code: &code}, Parameters: a.Parameters, Annotations: a.Annotations}
		if _, err := c.entities.putAction(ctx, p.Namespace+"/"+p.Name, a.Name, ap, true); err != nil {
			return fmt.Errorf("controller: install action %s/%s/%s: %w", p.Namespace, p.Name, a.Name, err)
		}
	}
	return nil
}
