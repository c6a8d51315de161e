package controller

import (
	"net/http"
	"runtime/debug"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// sequenceLimit is limits.actions.sequence.maxLength, the most atomic
// actions a sequence may hold (inlined).
const sequenceLimit = 50

// buildDate is the "build" of API info: the binary's commit time when the
// build recorded one, otherwise the time the process started, in the
// ISO-8601 form stock's whisk.properties gives (the CLI prints it).
var buildDate = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				return s.Value
			}
		}
	}
	return time.Now().UTC().Format("2006-01-02T15:04:05Z")
}()

// runtime is one entry of the runtimes manifest as Runtimes.toJson writes it.
type runtime struct {
	Kind        string `json:"kind"`
	Image       string `json:"image"`
	Deprecated  bool   `json:"deprecated"`
	Default     bool   `json:"default"`
	Attached    bool   `json:"attached"`
	RequireMain bool   `json:"requireMain"`
}

// runtimes is the manifest of the kinds this controller accepts.
func (c *Controller) runtimes() map[string][]runtime {
	return map[string][]runtime{
		"nodejs": {{Kind: c.cfg.NodejsDefault, Image: "faasedge/nodejs (in-process)", Default: true}},
		"wasm":   {{Kind: whisk.KindWasm, Image: "faasedge/wasm (in-process, wazero)", Default: true, Attached: true}},
	}
}

// rootInfoHTTP is GET /: Controller.info.
func (c *Controller) rootInfoHTTP(q *request) {
	if q.r.URL.Path != "/" || q.r.Method != http.MethodGet {
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	}
	r := LimitRanges()
	q.json(http.StatusOK, map[string]any{
		"description": "OpenWhisk",
		"support":     map[string]string{"github": "https://github.com/apache/openwhisk/issues", "slack": "http://slack.openwhisk.org"},
		"api_paths":   []string{"/api/v1"},
		"limits": map[string]int64{
			"actions_per_minute": 60, "triggers_per_minute": 60, "concurrent_actions": 30, "sequence_length": sequenceLimit,
			"default_min_action_duration": r.Timeout.Min, "default_max_action_duration": r.Timeout.Max,
			"default_min_action_memory": r.Memory.Min << 20, "default_max_action_memory": r.Memory.Max << 20,
			"default_min_action_logs": r.Logs.Min << 20, "default_max_action_logs": r.Logs.Max << 20,
			"min_action_duration": r.Timeout.Min, "max_action_duration": r.Timeout.Max,
			"min_action_memory": r.Memory.Min << 20, "max_action_memory": r.Memory.Max << 20,
			"min_action_logs": r.Logs.Min << 20, "max_action_logs": r.Logs.Max << 20,
		},
		"runtimes": c.runtimes(),
	})
}

// apiInfoHTTP is GET /api/v1: RestAPIVersion.info.
func (c *Controller) apiInfoHTTP(q *request) {
	if q.r.Method != http.MethodGet {
		if !c.authenticate(q) {
			return
		}
		q.fail(http.StatusNotFound, msgRouteNotFound)
		return
	}
	q.json(http.StatusOK, map[string]any{
		"description": "OpenWhisk API", "api_version": "1.0.0", "api_version_path": "v1",
		"build": buildDate, "buildno": "faasedge",
		"swagger_paths": map[string]string{"ui": "/docs", "api-docs": "/api-docs"},
	})
}

// withCORS adds the REST API's CORS headers (CorsSettings.RestAPIs) and
// answers OPTIONS preflights, as sendCorsHeaders does for /api/v1.
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Headers", "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent")
		h.Set("Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}
