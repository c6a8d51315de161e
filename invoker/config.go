package invoker

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faasedge/faasedge/whisk"
)

// Config is everything an Engine needs, the one way to configure it:
// FromEnv fills it from the stock invoker's environment; Go callers (the
// controller plugin, the standalone stack, tests) set it directly.
type Config struct {
	// Instance, UniqueName and DisplayedName are --id, --uniqueName and
	// --displayedName.
	Instance      int
	UniqueName    string
	DisplayedName string
	// UserMemory is whisk.container-pool.user-memory: the memory the
	// invoker offers to actions, and its capacity in the controller.
	UserMemory whisk.ByteSize
	// Tags are whisk.invoker.resource.tags, sent in every ping.
	Tags []string

	// KafkaBrokers is KAFKA_HOSTS split on commas.
	KafkaBrokers []string
	// TopicsPrefix is whisk.kafka.topics.prefix; UserEventsPrefix is
	// whisk.kafka.topics.user-event.prefix.
	TopicsPrefix     string
	UserEventsPrefix string
	// UserEvents is whisk.user-events.enabled.
	UserEvents bool

	Couch CouchConfig

	// HTTPAddr is where /ping, /metrics and /enable listen (":"+PORT).
	// Username and Password guard /enable, /disable and /isEnabled.
	HTTPAddr string
	Username string
	Password string

	// APIHost is __OW_API_HOST as the stock invoker normalises it.
	APIHost string
	// NodejsDefault is the kind "nodejs:default" resolves to, read from the
	// runtimes manifest.
	NodejsDefault string

	// ParameterStorage holds the keys of encrypted (locked) arguments.
	ParameterStorage ParameterStorage
	// Limits are the action limit ranges that namespace limits are checked
	// against (DefaultLimitRanges when zero).
	Limits whisk.LimitRanges
	// BlacklistPollInterval is whisk.blacklist.poll-interval: how often the
	// blocked namespaces are read from the subjects database (AuthDB).
	BlacklistPollInterval time.Duration

	// AckTimeout is whisk.kafka.producer.max-block-ms: how long an ack is
	// retried before it is dropped (60 s as stock).
	AckTimeout time.Duration

	// PingInterval is how often the health topic hears from the invoker
	// (1 s as stock).
	PingInterval time.Duration
	// ShutdownTimeout bounds how long Shutdown lets in-flight activations
	// run before cancelling them (they are still acked and recorded).
	ShutdownTimeout time.Duration

	// Runner runs the activations; nil runs nodejs kinds on a JSRunner
	// only (see Kinds and LocalRunner).
	Runner Runner
	// Prewarm, when its Compiler is set, compiles wasm actions as they
	// are created or updated, ahead of their first activation (see
	// PrewarmConfig: the stock invoker has no such thing).
	Prewarm PrewarmConfig
	// Metrics are series of the invoker's other parts that its /metrics
	// serves besides its own: the IPFS node's fetch series (ipfs.Node
	// Metrics), say. Each is registered once, on this engine's registry.
	Metrics []prometheus.Collector
	// TLS, when set, serves the invoker endpoints over HTTPS (the stock
	// invoker's invoker.protocol=https).
	TLS *tls.Config
	// Logger receives the invoker's logs; nil is slog.Default().
	Logger *slog.Logger
}

// CouchConfig is whisk.couchdb.* and the database names.
type CouchConfig struct {
	URL           string // protocol://host:port
	Username      string
	Password      string
	ActionsDB     string // whisk.couchdb.databases.WhiskEntity
	ActivationsDB string // whisk.couchdb.databases.WhiskActivation
	AuthDB        string // whisk.couchdb.databases.WhiskAuth
}

// Defaults of the stock configuration.
const (
	DefaultUserMemory      = 1024 * whisk.MB
	DefaultPingInterval    = time.Second
	DefaultAckTimeout      = 60 * time.Second // Kafka's max.block.ms
	DefaultShutdownTimeout = 30 * time.Second
	DefaultBlacklistPoll   = 5 * time.Minute
)

func (c *Config) setDefaults() {
	if c.UserMemory == 0 {
		c.UserMemory = DefaultUserMemory
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.NodejsDefault == "" {
		c.NodejsDefault = whisk.KindNodejs
	}
	if c.BlacklistPollInterval == 0 {
		c.BlacklistPollInterval = DefaultBlacklistPoll
	}
	if c.Limits == (whisk.LimitRanges{}) {
		c.Limits = whisk.DefaultLimitRanges()
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
}

func (c *Config) validate() error {
	switch {
	case c.Instance < 0:
		return fmt.Errorf("invoker: instance id %d is negative", c.Instance)
	case len(c.KafkaBrokers) == 0:
		return fmt.Errorf("invoker: no Kafka brokers")
	case c.Couch.URL == "":
		return fmt.Errorf("invoker: no CouchDB URL")
	case c.Couch.ActionsDB == "" || c.Couch.ActivationsDB == "":
		return fmt.Errorf("invoker: CouchDB database names missing")
	case c.UserMemory < whisk.MinMemoryMB*whisk.MB:
		return fmt.Errorf("invoker: user memory %s is below the %d MB of one action", c.UserMemory, whisk.MinMemoryMB)
	case c.AckTimeout < 0:
		return fmt.Errorf("invoker: negative ack timeout %s", c.AckTimeout)
	case c.BlacklistPollInterval < 0:
		return fmt.Errorf("invoker: negative blacklist poll interval %s", c.BlacklistPollInterval)
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("invoker: %w", err)
	}
	if _, err := newUnlocker(c.ParameterStorage); err != nil {
		return fmt.Errorf("invoker: parameter storage: %w", err)
	}
	return nil
}

// MaxPeek is how many activations the invoker takes from Kafka before any
// of them finishes: userMemory / 128 MB containers (stock maxPeek with the
// default concurrency limit of 1).
func (c *Config) MaxPeek() int {
	n := int(c.UserMemory.MB() / whisk.MinMemoryMB)
	return max(n, 1)
}

// EnvError names the environment variable that is missing or wrong.
type EnvError struct {
	Var string
	Err error
}

func (e *EnvError) Error() string { return e.Var + ": " + e.Err.Error() }
func (e *EnvError) Unwrap() error { return e.Err }

var errMissing = fmt.Errorf("required but not set")

// FromEnv reads the stock invoker's environment (openwhisk-wire.md 7.2),
// looking variables up with getenv (os.Getenv in the binary). The first bad
// or missing variable is returned as an *EnvError.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	req := func(name string) (string, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return "", &EnvError{name, errMissing}
		}
		return v, nil
	}
	opt := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}

	hosts, err := req("KAFKA_HOSTS")
	if err != nil {
		return c, err
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if _, _, err := net.SplitHostPort(h); err != nil {
			return c, &EnvError{"KAFKA_HOSTS", fmt.Errorf("%q is not host:port", h)}
		}
		c.KafkaBrokers = append(c.KafkaBrokers, h)
	}

	manifest, err := req("RUNTIMES_MANIFEST")
	if err != nil {
		return c, err
	}
	if c.NodejsDefault, err = nodejsDefaultKind(manifest); err != nil {
		return c, &EnvError{"RUNTIMES_MANIFEST", err}
	}

	apiName, err := req("WHISK_API_HOST_NAME")
	if err != nil {
		return c, err
	}
	proto := opt("WHISK_API_HOST_PROTO", "https")
	port := opt("WHISK_API_HOST_PORT", "443")
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return c, &EnvError{"WHISK_API_HOST_PORT", fmt.Errorf("%q is not a port", port)}
	}
	c.APIHost = apiHost(proto, apiName, port)

	httpPort := opt("PORT", "8080")
	if _, err := strconv.ParseUint(httpPort, 10, 16); err != nil {
		return c, &EnvError{"PORT", fmt.Errorf("%q is not a port", httpPort)}
	}
	c.HTTPAddr = ":" + httpPort

	protocol := opt("CONFIG_whisk_couchdb_protocol", "http")
	if protocol != "http" && protocol != "https" {
		return c, &EnvError{"CONFIG_whisk_couchdb_protocol", fmt.Errorf("%q is neither http nor https", protocol)}
	}
	host, err := req("CONFIG_whisk_couchdb_host")
	if err != nil {
		return c, err
	}
	cport, err := req("CONFIG_whisk_couchdb_port")
	if err != nil {
		return c, err
	}
	if _, err := strconv.ParseUint(cport, 10, 16); err != nil {
		return c, &EnvError{"CONFIG_whisk_couchdb_port", fmt.Errorf("%q is not a port", cport)}
	}
	c.Couch.URL = protocol + "://" + net.JoinHostPort(host, cport)
	c.Couch.Username = getenv("CONFIG_whisk_couchdb_username")
	c.Couch.Password = getenv("CONFIG_whisk_couchdb_password")
	if c.Couch.ActionsDB, err = req("CONFIG_whisk_couchdb_databases_WhiskEntity"); err != nil {
		return c, err
	}
	if c.Couch.ActivationsDB, err = req("CONFIG_whisk_couchdb_databases_WhiskActivation"); err != nil {
		return c, err
	}
	c.Couch.AuthDB = opt("CONFIG_whisk_couchdb_databases_WhiskAuth", "")

	c.UserMemory = DefaultUserMemory
	if v := opt("CONFIG_whisk_containerPool_userMemory", ""); v != "" {
		if c.UserMemory, err = whisk.ParseConfigSize(v); err != nil {
			return c, &EnvError{"CONFIG_whisk_containerPool_userMemory", err}
		}
		if c.UserMemory < whisk.MinMemoryMB*whisk.MB {
			return c, &EnvError{"CONFIG_whisk_containerPool_userMemory", fmt.Errorf("%q is below the %d MB of one action", v, whisk.MinMemoryMB)}
		}
	}

	c.TopicsPrefix = getenv("CONFIG_whisk_kafka_topics_prefix")
	c.UserEventsPrefix = getenv("CONFIG_whisk_kafka_topics_userEvent_prefix")
	if v := opt("CONFIG_whisk_userEvents_enabled", "false"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, &EnvError{"CONFIG_whisk_userEvents_enabled", fmt.Errorf("%q is not a boolean", v)}
		}
		c.UserEvents = b
	}
	c.Username = opt("CONFIG_whisk_invoker_username", "invoker.user")
	c.Password = opt("CONFIG_whisk_invoker_password", "invoker.pass")
	for _, t := range strings.Split(getenv("CONFIG_whisk_invoker_resource_tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Tags = append(c.Tags, t)
		}
	}
	c.ParameterStorage = ParameterStorage{
		AES128: getenv("CONFIG_whisk_parameterStorage_aes128"),
		AES256: getenv("CONFIG_whisk_parameterStorage_aes256"),
	}
	if _, err := newUnlocker(ParameterStorage{AES128: c.ParameterStorage.AES128}); err != nil {
		return c, &EnvError{"CONFIG_whisk_parameterStorage_aes128", err}
	}
	if _, err := newUnlocker(ParameterStorage{AES256: c.ParameterStorage.AES256}); err != nil {
		return c, &EnvError{"CONFIG_whisk_parameterStorage_aes256", err}
	}
	if v := opt("CONFIG_whisk_blacklist_pollInterval", ""); v != "" {
		if c.BlacklistPollInterval, err = whisk.ParseConfigDuration(v); err != nil || c.BlacklistPollInterval <= 0 {
			return c, &EnvError{"CONFIG_whisk_blacklist_pollInterval", fmt.Errorf("%q is not a positive duration", v)}
		}
	}
	if v := opt("CONFIG_whisk_kafka_producer_maxBlockMs", ""); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return c, &EnvError{"CONFIG_whisk_kafka_producer_maxBlockMs", fmt.Errorf("%q is not a positive number of milliseconds", v)}
		}
		c.AckTimeout = time.Duration(ms) * time.Millisecond
	}
	if c.Limits, err = limitsFromEnv(getenv); err != nil {
		return c, err
	}
	c.setDefaults()
	return c, nil
}

// limitsFromEnv reads whisk.{time-limit,memory,log-limit,concurrency-limit}
// and whisk.namespace-default-limit.* over the stock defaults. A namespace
// default range lacking its min or max falls back to the system range, as
// the stock loader does.
func limitsFromEnv(getenv func(string) string) (whisk.LimitRanges, error) {
	r := whisk.DefaultLimitRanges()
	parsers := map[string]func(string) (int64, error){
		"timeLimit": func(v string) (int64, error) {
			d, err := whisk.ParseConfigDuration(v)
			return d.Milliseconds(), err
		},
		"memory": func(v string) (int64, error) {
			s, err := whisk.ParseConfigSize(v)
			return s.MB(), err
		},
		"concurrencyLimit": func(v string) (int64, error) { return strconv.ParseInt(v, 10, 32) },
	}
	parsers["logLimit"] = parsers["memory"]
	read := func(name string, parse func(string) (int64, error), into *int64) (bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return false, nil
		}
		n, err := parse(v)
		if err != nil || n < 0 {
			return false, &EnvError{name, fmt.Errorf("%q is not a valid limit", v)}
		}
		*into = n
		return true, nil
	}
	for _, l := range []struct {
		key     string
		sys, ns *whisk.Range
	}{
		{"timeLimit", &r.Timeout, &r.NamespaceTimeout}, {"memory", &r.Memory, &r.NamespaceMemory},
		{"logLimit", &r.Logs, &r.NamespaceLogs}, {"concurrencyLimit", &r.Concurrency, &r.NamespaceConcurrency},
	} {
		parse := parsers[l.key]
		for _, b := range []struct {
			suffix string
			into   *int64
		}{{"_min", &l.sys.Min}, {"_max", &l.sys.Max}} {
			if _, err := read("CONFIG_whisk_"+l.key+b.suffix, parse, b.into); err != nil {
				return r, err
			}
		}
		var ns whisk.Range
		hasMin, err := read("CONFIG_whisk_namespaceDefaultLimit_"+l.key+"_min", parse, &ns.Min)
		if err != nil {
			return r, err
		}
		hasMax, err := read("CONFIG_whisk_namespaceDefaultLimit_"+l.key+"_max", parse, &ns.Max)
		if err != nil {
			return r, err
		}
		*l.ns = *l.sys
		if hasMin && hasMax {
			*l.ns = ns
		}
	}
	if err := r.Validate(); err != nil {
		return r, &EnvError{"CONFIG_whisk_namespaceDefaultLimit", err}
	}
	return r, nil
}

// apiHost normalises like pekko's Uri.normalize: the default port of the
// scheme is dropped.
func apiHost(proto, name, port string) string {
	if (proto == "https" && port == "443") || (proto == "http" && port == "80") {
		return proto + "://" + name
	}
	return proto + "://" + name + ":" + port
}

// nodejsDefaultKind reads the manifest's default nodejs kind: the kind the
// controller stores its health test action under.
func nodejsDefaultKind(manifest string) (string, error) {
	var m struct {
		Runtimes map[string][]struct {
			Kind    string `json:"kind"`
			Default bool   `json:"default"`
		} `json:"runtimes"`
	}
	if err := json.Unmarshal([]byte(manifest), &m); err != nil {
		return "", fmt.Errorf("not a runtimes manifest: %w", err)
	}
	if m.Runtimes == nil {
		return "", fmt.Errorf("no \"runtimes\" object")
	}
	for _, r := range m.Runtimes["nodejs"] {
		if r.Default {
			return r.Kind, nil
		}
	}
	return whisk.KindNodejs, nil
}
