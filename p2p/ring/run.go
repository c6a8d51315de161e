package ring

import (
	"context"
	"encoding/json"
)

// RunRequest is one activation sent to an edge node on /faasedge/run/1.0.0.
// Field names follow OpenWhisk's /run body (openwhisk-wire.md §6.2) so the
// invoker can fill it from an ActivationMessage without renaming.
type RunRequest struct {
	ActivationID  string `json:"activation_id"`
	Namespace     string `json:"namespace"`
	ActionName    string `json:"action_name"` // "/" + path + "/" + name
	ActionVersion string `json:"action_version,omitempty"`
	TransactionID string `json:"transaction_id"`
	// CID is the action's code, fetched by the edge node over IPFS.
	CID string `json:"cid"`
	// Value is the run parameters, a JSON object or array.
	Value json.RawMessage `json:"value,omitempty"`
	// Env is the /init environment: init args and __OW_* values.
	Env    map[string]string `json:"env,omitempty"`
	Limits Limits            `json:"limits"`
	// Deadline is epoch milliseconds; the edge node stops the run then.
	Deadline int64 `json:"deadline"`
	// LeaseID names the claim the run executes under; Scheduler.Run sets it.
	LeaseID string `json:"lease_id,omitempty"`
}

// Limits are the action limits, as in OpenWhisk's limits annotation.
type Limits struct {
	Timeout     int `json:"timeout"` // ms
	Memory      int `json:"memory"`  // MB
	Logs        int `json:"logs"`    // MB
	Concurrency int `json:"concurrency"`
}

// Status codes of a run (openwhisk-wire.md §5.2).
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusInternalError    = 3
)

// RunResponse is what an edge node returns for a run.
type RunResponse struct {
	StatusCode int             `json:"statusCode"`
	Result     json.RawMessage `json:"result,omitempty"`
	Logs       []string        `json:"logs,omitempty"`
	// Start and End are epoch ms of the run as the activation record has them.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// InitTime (cold start only), Duration and WaitTime are ms.
	InitTime int64 `json:"initTime,omitempty"`
	Duration int64 `json:"duration"`
	WaitTime int64 `json:"waitTime"`
	Timeout  bool  `json:"timeout"`
}

// Executor runs an activation on the edge node. faasedge node wires the
// WebAssembly executor in here; tests use small real executors.
type Executor interface {
	Run(ctx context.Context, req RunRequest) (RunResponse, error)
}

// Preparer is implemented by executors that can fetch and compile code
// ahead of the first run; a granted claim with a CID triggers it, so the
// deployment cost is paid before the first activation arrives.
type Preparer interface {
	Prepare(ctx context.Context, cid string) error
}
