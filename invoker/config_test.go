package invoker

import (
	"errors"
	"testing"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

func TestFromEnv(t *testing.T) {
	base := map[string]string{
		"KAFKA_HOSTS":               "127.0.0.1:9092,127.0.0.1:9093",
		"RUNTIMES_MANIFEST":         `{"runtimes":{"nodejs":[{"kind":"nodejs:18"},{"kind":"nodejs:22","default":true}]}}`,
		"WHISK_API_HOST_NAME":       "openwhisk.example.com",
		"CONFIG_whisk_couchdb_host": "db", "CONFIG_whisk_couchdb_port": "5984",
		"CONFIG_whisk_couchdb_databases_WhiskEntity":     "whisks",
		"CONFIG_whisk_couchdb_databases_WhiskActivation": "activations",
	}
	for _, tc := range []struct {
		name   string
		set    map[string]string
		badVar string
		check  func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.UserMemory != 1024*whisk.MB || c.HTTPAddr != ":8080" || c.APIHost != "https://openwhisk.example.com" ||
				c.NodejsDefault != "nodejs:22" || c.Couch.URL != "http://db:5984" || len(c.KafkaBrokers) != 2 || c.MaxPeek() != 8 ||
				c.Username != "invoker.user" || c.Password != "invoker.pass" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "stock values", set: map[string]string{
			"CONFIG_whisk_containerPool_userMemory": "2048m", "WHISK_API_HOST_PROTO": "http", "WHISK_API_HOST_PORT": "10001",
			"CONFIG_whisk_invoker_resource_tags": "edge, wasm", "CONFIG_whisk_userEvents_enabled": "true",
			"CONFIG_whisk_kafka_topics_prefix": "p_", "CONFIG_whisk_kafka_topics_userEvent_prefix": "u_", "PORT": "12001",
		}, check: func(t *testing.T, c Config) {
			if c.UserMemory.String() != "2147483648 B" || c.APIHost != "http://openwhisk.example.com:10001" || len(c.Tags) != 2 ||
				c.Tags[1] != "wasm" || !c.UserEvents || c.TopicsPrefix != "p_" || c.UserEventsPrefix != "u_" || c.HTTPAddr != ":12001" || c.MaxPeek() != 16 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "parameter storage, blacklist and limits", set: map[string]string{
			"CONFIG_whisk_parameterStorage_aes128": ScalaKey128, "CONFIG_whisk_parameterStorage_aes256": ScalaKey256,
			"CONFIG_whisk_blacklist_pollInterval": "30 seconds", "CONFIG_whisk_kafka_producer_maxBlockMs": "5000",
			"CONFIG_whisk_memory_max": "2048m", "CONFIG_whisk_timeLimit_min": "50 ms", "CONFIG_whisk_concurrencyLimit_max": "500",
			"CONFIG_whisk_logLimit_max":                     "20 m",
			"CONFIG_whisk_namespaceDefaultLimit_memory_min": "256 m", "CONFIG_whisk_namespaceDefaultLimit_memory_max": "1024 m",
			"CONFIG_whisk_namespaceDefaultLimit_concurrencyLimit_max": "100", // without its min: the system range
		}, check: func(t *testing.T, c Config) {
			want := whisk.DefaultLimitRanges()
			want.Memory.Max, want.Timeout.Min, want.Concurrency.Max, want.Logs.Max = 2048, 50, 500, 20
			want.NamespaceMemory = whisk.Range{Min: 256, Max: 1024}
			want.NamespaceTimeout, want.NamespaceConcurrency, want.NamespaceLogs = want.Timeout, want.Concurrency, want.Logs
			if c.ParameterStorage.AES128 != ScalaKey128 || c.ParameterStorage.AES256 != ScalaKey256 || c.BlacklistPollInterval != 30*time.Second || c.Limits != want ||
				c.AckTimeout != 5*time.Second {
				t.Errorf("%+v", c)
			}
		}},
		{name: "stock defaults", check: func(t *testing.T, c Config) {
			if c.BlacklistPollInterval != 5*time.Minute || c.Limits != whisk.DefaultLimitRanges() || c.AckTimeout != time.Minute {
				t.Errorf("%+v", c)
			}
		}},
		{name: "bad aes-128 key", set: map[string]string{"CONFIG_whisk_parameterStorage_aes128": "c2hvcnQ="}, badVar: "CONFIG_whisk_parameterStorage_aes128"},
		{name: "bad aes-256 key", set: map[string]string{"CONFIG_whisk_parameterStorage_aes256": "###"}, badVar: "CONFIG_whisk_parameterStorage_aes256"},
		{name: "bad blacklist interval", set: map[string]string{"CONFIG_whisk_blacklist_pollInterval": "often"}, badVar: "CONFIG_whisk_blacklist_pollInterval"},
		{name: "bad max.block.ms", set: map[string]string{"CONFIG_whisk_kafka_producer_maxBlockMs": "60s"}, badVar: "CONFIG_whisk_kafka_producer_maxBlockMs"},
		{name: "bad time limit", set: map[string]string{"CONFIG_whisk_timeLimit_max": "long"}, badVar: "CONFIG_whisk_timeLimit_max"},
		{name: "namespace max above the system max", set: map[string]string{
			"CONFIG_whisk_namespaceDefaultLimit_memory_min": "128 m", "CONFIG_whisk_namespaceDefaultLimit_memory_max": "1024 m",
		}, badVar: "CONFIG_whisk_namespaceDefaultLimit"},
		{name: "missing Kafka", set: map[string]string{"KAFKA_HOSTS": ""}, badVar: "KAFKA_HOSTS"},
		{name: "bad Kafka", set: map[string]string{"KAFKA_HOSTS": "kafka"}, badVar: "KAFKA_HOSTS"},
		{name: "bad manifest", set: map[string]string{"RUNTIMES_MANIFEST": "{"}, badVar: "RUNTIMES_MANIFEST"},
		{name: "missing API host", set: map[string]string{"WHISK_API_HOST_NAME": ""}, badVar: "WHISK_API_HOST_NAME"},
		{name: "bad memory", set: map[string]string{"CONFIG_whisk_containerPool_userMemory": "2 lots"}, badVar: "CONFIG_whisk_containerPool_userMemory"},
		{name: "too little memory", set: map[string]string{"CONFIG_whisk_containerPool_userMemory": "64m"}, badVar: "CONFIG_whisk_containerPool_userMemory"},
		{name: "bad protocol", set: map[string]string{"CONFIG_whisk_couchdb_protocol": "ftp"}, badVar: "CONFIG_whisk_couchdb_protocol"},
		{name: "bad events flag", set: map[string]string{"CONFIG_whisk_userEvents_enabled": "maybe"}, badVar: "CONFIG_whisk_userEvents_enabled"},
		{name: "bad port", set: map[string]string{"PORT": "http"}, badVar: "PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			c, err := FromEnv(func(k string) string { return env[k] })
			var ee *EnvError
			switch {
			case tc.badVar != "" && (!errors.As(err, &ee) || ee.Var != tc.badVar):
				t.Fatalf("err %v, want one naming %s", err, tc.badVar)
			case tc.badVar == "" && err != nil:
				t.Fatal(err)
			case tc.check != nil:
				tc.check(t, c)
			}
		})
	}
}
