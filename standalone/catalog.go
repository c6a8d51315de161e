package standalone

import (
	"context"
	"fmt"
	"net/http"
	"time"

	ow "github.com/apache/openwhisk-client-go/whisk"
	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/catalog"
	"github.com/faasedge/faasedge/invoker"
)

// The whisk.system identity, OpenWhisk's default
// (ansible/files/auth.whisk.system), which its standalone creates too: the
// catalog's packages are installed with it.
const (
	SystemUUID = "789c46b1-71f6-4ed5-8c54-816aa4f8c502"
	SystemKey  = "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	SystemAuth = SystemUUID + ":" + SystemKey
)

// installCatalog writes the whisk.system subject unless it exists, then
// installs the catalog's packages through the stack's own REST API, as
// OpenWhisk's deployment installs its catalog.
func (s *Stack) installCatalog(ctx context.Context, couchUser, couchPass string) error {
	couch, err := invoker.OpenCouch(invoker.CouchConfig{URL: s.couch, Username: couchUser, Password: couchPass})
	if err != nil {
		return err
	}
	defer couch.Close()
	subject := map[string]any{
		"subject":    catalog.Namespace,
		"namespaces": []map[string]string{{"name": catalog.Namespace, "uuid": SystemUUID, "key": SystemKey}},
	}
	if _, err := couch.DB("subjects").Put(ctx, catalog.Namespace, subject); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		return fmt.Errorf("standalone: write the %s subject: %w", catalog.Namespace, err)
	}
	c, err := ow.NewClient(&http.Client{Timeout: 30 * time.Second}, &ow.Config{Host: s.APIHost(), AuthToken: SystemAuth, Namespace: catalog.Namespace})
	if err != nil {
		return err
	}
	if err := catalog.Install(ctx, c); err != nil {
		return fmt.Errorf("standalone: %w", err)
	}
	return nil
}
