package activation

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faasedge/faasedge/whisk"
)

// The annotations that give an action host capabilities (package executor
// documents the capabilities and their ABI).
const (
	// AnnotationAllowedHosts lists the hosts an action may send HTTP
	// requests to: a JSON array of strings, or one comma-separated string.
	AnnotationAllowedHosts = "faasedge-allowed-hosts"
	// AnnotationHTTPBudget bounds each activation's outbound HTTP:
	// {"bytes": N, "ms": M}, each within the action's limits.
	AnnotationHTTPBudget = "faasedge-http-budget"
	// AnnotationKV (true) gives the key-value store of the action's
	// namespace.
	AnnotationKV = "faasedge-kv"
	// AnnotationIPFSAdd (true) lets the action publish content to IPFS.
	AnnotationIPFSAdd = "faasedge-ipfs-add"
)

// Capabilities are the host capabilities an action's annotations give it,
// read once from its document; they travel with the Action to wherever it
// runs, where the node's own policy may narrow them.
type Capabilities struct {
	// AllowedHosts is the outbound HTTP allow-list; nil: no outbound HTTP.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// HTTPBytes and HTTPMillis are the per-activation HTTP budget the
	// action asks for; zero takes the executor's default.
	HTTPBytes  int64 `json:"http_bytes,omitempty"`
	HTTPMillis int64 `json:"http_ms,omitempty"`
	KV         bool  `json:"kv,omitempty"`
	IPFSAdd    bool  `json:"ipfs_add,omitempty"`
	// Invalid says why the annotations could not be read: the action then
	// fails as a developer error with this text when it runs.
	Invalid string `json:"invalid,omitempty"`
}

// CapabilitiesOf reads the faasedge-* annotations; the flags as OpenWhisk
// reads a flag annotation.
func CapabilitiesOf(ann whisk.Annotations) Capabilities {
	c := Capabilities{KV: ann.Truthy(AnnotationKV, false), IPFSAdd: ann.Truthy(AnnotationIPFSAdd, false)}
	if raw, ok := ann.Get(AnnotationAllowedHosts); ok {
		var list []string
		if json.Unmarshal(raw, &list) != nil {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				c.Invalid = fmt.Sprintf("the action's annotation %s is %s: want an array of host names or a comma-separated string", AnnotationAllowedHosts, raw)
				return c
			}
			list = strings.Split(s, ",")
		}
		c.AllowedHosts = []string{}
		for _, h := range list {
			if h = strings.TrimSpace(h); h != "" {
				c.AllowedHosts = append(c.AllowedHosts, h)
			}
		}
	}
	if raw, ok := ann.Get(AnnotationHTTPBudget); ok {
		var b struct {
			Bytes int64 `json:"bytes"`
			MS    int64 `json:"ms"`
		}
		if json.Unmarshal(raw, &b) != nil || b.Bytes < 0 || b.MS < 0 {
			c.Invalid = fmt.Sprintf(`the action's annotation %s is %s: want {"bytes": N, "ms": M}`, AnnotationHTTPBudget, raw)
			return c
		}
		c.HTTPBytes, c.HTTPMillis = b.Bytes, b.MS
	}
	return c
}
