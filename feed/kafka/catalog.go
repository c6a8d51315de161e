package kafka

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	fewhisk "github.com/faasedge/faasedge/whisk"
)

// The feed actions' code: the shared part, then each feed's main.
var (
	//go:embed actions/common.js
	commonJS string
	//go:embed actions/kafkaFeed.js
	kafkaFeedJS string
	//go:embed actions/messageHubFeed.js
	messageHubFeedJS string
)

// FeedAction is one action of the messaging package.
type FeedAction struct {
	Name        string
	Description string
	Code        string          // nodejs:20 source
	Parameters  json.RawMessage // the "parameters" annotation, as upstream's
}

// PackageDescription is the messaging package's description annotation.
const PackageDescription = "Kafka and Message Hub feeds (FaaS@Edge provider)"

// FeedActions are the feed actions kafkaFeed and messageHubFeed.
func FeedActions() []FeedAction {
	return []FeedAction{
		{"kafkaFeed", "Feed to listen to Kafka messages", commonJS + kafkaFeedJS, json.RawMessage(kafkaFeedParams)},
		{"messageHubFeed", "Feed to listen to Message Hub messages", commonJS + messageHubFeedJS, json.RawMessage(messageHubFeedParams)},
	}
}

// Catalog says where to install the messaging package.
type Catalog struct {
	// APIHost is the OpenWhisk API (https://host[:port], or http://...).
	APIHost string
	// AuthKey is whisk.system's key (uuid:key).
	AuthKey string
	// Endpoint is the provider's lifecycle address as the feed actions
	// reach it from the invokers, bound as the package's `endpoint`.
	Endpoint string
	// Insecure skips TLS verification of the API host.
	Insecure bool
	// Kind is the feed actions' runtime kind (nodejs:20).
	Kind string
	// Namespace receives the package (whisk.system).
	Namespace string
}

// upstream's parameter descriptions, from installCatalog.sh, plus the
// security extensions of kafkaFeed.
const (
	kafkaFeedParams = `[{"name":"brokers","required":true,"description":"Array of Kafka brokers"},` +
		`{"name":"topic","required":true,"description":"Topic to subscribe to"},` +
		`{"name":"isJSONData","required":false,"description":"Attempt to parse message value as JSON"},` +
		`{"name":"isBinaryKey","required":false,"description":"Encode key as Base64"},` +
		`{"name":"isBinaryValue","required":false,"description":"Encode message value as Base64"},` +
		`{"name":"security_protocol","required":false,"description":"PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL"},` +
		`{"name":"sasl_mechanism","required":false,"description":"PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512"},` +
		`{"name":"user","required":false,"description":"SASL username"},` +
		`{"name":"password","required":false,"description":"SASL password","type":"password"},` +
		`{"name":"ssl_ca","required":false,"description":"PEM CA certificate of the brokers"},` +
		`{"name":"endpoint","required":true,"description":"Address of the feed provider"}]`
	messageHubFeedParams = `[{"name":"kafka_brokers_sasl","required":true,"description":"Array of Message Hub brokers"},` +
		`{"name":"user","required":true,"description":"Message Hub username"},` +
		`{"name":"password","required":true,"description":"Message Hub password","type":"password"},` +
		`{"name":"topic","required":true,"description":"Topic to subscribe to"},` +
		`{"name":"isJSONData","required":false,"description":"Attempt to parse message value as JSON"},` +
		`{"name":"isBinaryKey","required":false,"description":"Encode key as Base64"},` +
		`{"name":"isBinaryValue","required":false,"description":"Encode message value as Base64"},` +
		`{"name":"endpoint","required":true,"description":"Address of the feed provider"},` +
		`{"name":"kafka_admin_url","required":true,"description":"Your Message Hub admin REST URL"},` +
		`{"name":"ssl_ca","required":false,"description":"PEM CA certificate of the brokers, when the system does not trust theirs"}]`
)

// Install creates or updates /whisk.system/messaging (shared, with
// `endpoint` bound) and its feed actions kafkaFeed and messageHubFeed
// through the REST API, as upstream's installCatalog.sh does with wsk.
func (c Catalog) Install(ctx context.Context) error {
	if c.APIHost == "" || c.AuthKey == "" || c.Endpoint == "" {
		return errors.New("kafkafeed: installing the catalog needs the API host, whisk.system's key and the provider's endpoint")
	}
	if c.Kind == "" {
		c.Kind = fewhisk.KindNodejs
	}
	if c.Namespace == "" {
		c.Namespace = "whisk.system"
	}
	base, err := url.Parse(strings.TrimRight(c.APIHost, "/"))
	if err != nil || base.Host == "" {
		if base, err = url.Parse("https://" + strings.TrimRight(c.APIHost, "/")); err != nil {
			return fmt.Errorf("kafkafeed: API host %q: %w", c.APIHost, err)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for, as wsk -i
	}
	hc := &http.Client{Timeout: time.Minute, Transport: tr}
	baseURL, _ := url.Parse(base.String() + "/api")
	cl, err := whisk.NewClient(hc, &whisk.Config{
		Host: base.Host, BaseURL: baseURL, AuthToken: c.AuthKey, Namespace: c.Namespace, Version: "v1", Insecure: c.Insecure,
	})
	if err != nil {
		return fmt.Errorf("kafkafeed: openwhisk client: %w", err)
	}
	publish := true
	pkg := &whisk.Package{
		Namespace: c.Namespace, Name: "messaging", Publish: &publish,
		Annotations: whisk.KeyValueArr{{Key: "description", Value: PackageDescription}},
		Parameters:  whisk.KeyValueArr{{Key: "endpoint", Value: c.Endpoint}},
	}
	if _, _, err := cl.Packages.Insert(pkg, true); err != nil {
		return fmt.Errorf("kafkafeed: create package /%s/messaging: %w", c.Namespace, err)
	}
	for _, a := range FeedActions() {
		act := &whisk.Action{
			Namespace: c.Namespace, Name: "messaging/" + a.Name,
			Exec: &whisk.Exec{Kind: c.Kind, Code: &a.Code},
			Annotations: whisk.KeyValueArr{
				{Key: "feed", Value: true},
				{Key: "description", Value: a.Description},
				{Key: "parameters", Value: a.Parameters},
			},
		}
		if _, _, err := cl.Actions.Insert(act, true); err != nil {
			return fmt.Errorf("kafkafeed: create action /%s/messaging/%s: %w", c.Namespace, a.Name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}
