package kafka

import (
	"context"
	"crypto/tls"
	_ "embed"
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
	Code        string      // nodejs:20 source
	Parameters  []FeedParam // the "parameters" annotation, as upstream's
}

// FeedParam is one entry of a feed action's "parameters" annotation, the
// list wsk shows for the action.
type FeedParam struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
	Type        string `json:"type,omitempty"` // "password": wsk hides the value
}

// PackageDescription is the messaging package's description annotation.
const PackageDescription = "Kafka and Message Hub feeds (FaaS@Edge provider)"

// FeedActions are the feed actions kafkaFeed and messageHubFeed.
func FeedActions() []FeedAction {
	return []FeedAction{
		{"kafkaFeed", "Feed to listen to Kafka messages", commonJS + kafkaFeedJS, kafkaFeedParams},
		{"messageHubFeed", "Feed to listen to Message Hub messages", commonJS + messageHubFeedJS, messageHubFeedParams},
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
// security extensions of kafkaFeed. Both feeds take the topic, the
// decoding flags and the provider's endpoint alike.
var (
	topicParam         = FeedParam{Name: "topic", Required: true, Description: "Topic to subscribe to"}
	isJSONDataParam    = FeedParam{Name: "isJSONData", Description: "Attempt to parse message value as JSON"}
	isBinaryKeyParam   = FeedParam{Name: "isBinaryKey", Description: "Encode key as Base64"}
	isBinaryValueParam = FeedParam{Name: "isBinaryValue", Description: "Encode message value as Base64"}
	endpointParam      = FeedParam{Name: "endpoint", Required: true, Description: "Address of the feed provider"}

	kafkaFeedParams = []FeedParam{
		{Name: "brokers", Required: true, Description: "Array of Kafka brokers"},
		topicParam, isJSONDataParam, isBinaryKeyParam, isBinaryValueParam,
		{Name: "security_protocol", Description: "PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL"},
		{Name: "sasl_mechanism", Description: "PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512"},
		{Name: "user", Description: "SASL username"},
		{Name: "password", Description: "SASL password", Type: "password"},
		{Name: "ssl_ca", Description: "PEM CA certificate of the brokers"},
		endpointParam,
	}
	messageHubFeedParams = []FeedParam{
		{Name: "kafka_brokers_sasl", Required: true, Description: "Array of Message Hub brokers"},
		{Name: "user", Required: true, Description: "Message Hub username"},
		{Name: "password", Required: true, Description: "Message Hub password", Type: "password"},
		topicParam, isJSONDataParam, isBinaryKeyParam, isBinaryValueParam, endpointParam,
		{Name: "kafka_admin_url", Required: true, Description: "Your Message Hub admin REST URL"},
		{Name: "ssl_ca", Description: "PEM CA certificate of the brokers, when the system does not trust theirs"},
	}
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
