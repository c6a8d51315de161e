// Package activation is the one shape an activation has inside FaaS@Edge,
// from the Kafka message the invoker reads to the edge node that runs it
// and back: the Action to run (its fully qualified name, kind, limits and a
// typed reference to its code), the Invocation (activation id, transaction
// id, deadline, the invoking namespace, the value and the init arguments)
// and the Result.
//
// The invoker builds them from an ActivationMessage and the action
// document; every Runner (the local executor, the JS runner, the controller
// plugin's edge runner) takes them as they are; the remote-run message of
// the offer ring (p2p/ring) carries them on the wire. Identity travels in
// typed fields and never as strings to be parsed again: the __OW_*
// environment of OpenWhisk's runtimes is derived from them by Env, once, by
// whatever runs the action.
//
// Result.Fetch is an addition to stock OpenWhisk: the time a run waited
// for data from its mounts (/ipfs/<CID>/... and /data) and the bytes it
// read there, measured by the executor for each activation and carried
// from an edge node in the run reply. The invoker writes it into the
// activation record next to waitTime and initTime as two annotations,
// present only when the run read mounted data:
//
//	fetchTime   milliseconds, a decimal to the microsecond (part of duration)
//	fetchBytes  bytes read
//
// activation depends only on whisk, OpenWhisk's wire types.
package activation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// ID is an activation id as the controller assigns it (32 hex digits).
type ID string

// NewID is a fresh random activation id, as stock ActivationId.generate
// makes one: a UUID's 16 random bytes as 32 lowercase hex digits.
func NewID() ID {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return ID(hex.EncodeToString(b[:]))
}

// Action is the code and identity of an action, as the invoker resolved it
// from its document.
type Action struct {
	Name    FQN    `json:"name"`
	Version string `json:"version,omitempty"`
	// Kind is resolved: "nodejs:default" is already the manifest's default.
	Kind string `json:"kind"`
	Code Code   `json:"code"`
	// Main is the entry point: the exported function (or zip entry) of a
	// wasm action, the function of a JS one.
	Main   string       `json:"main,omitempty"`
	Limits whisk.Limits `json:"limits"`
	// Capabilities are what the action's faasedge-* annotations give it.
	Capabilities Capabilities `json:"capabilities,omitzero"`
}

// Invocation is one activation's input: what the stock invoker sends a
// runtime container in /init's env and /run's body (openwhisk-wire.md 6.2),
// typed.
type Invocation struct {
	ID ID `json:"activation_id"`
	// TransID is the controller's transaction; its id is
	// __OW_TRANSACTION_ID.
	TransID whisk.TransID `json:"transaction_id"`
	// Namespace is the invoking user's namespace (not the action's path).
	Namespace string `json:"namespace"`
	// APIKey is the invoking user's "uuid:key"; empty when the action's
	// provide-api-key annotation is false.
	APIKey string `json:"api_key,omitempty"`
	// Deadline is when the run must have ended: the start plus the
	// action's timeout.
	Deadline time.Time `json:"deadline"`
	// Value is the run value: the content minus the init arguments, an
	// object or an array; empty reads as {}.
	Value json.RawMessage `json:"value,omitempty"`
	// InitArgs are the init arguments, stringified as the stock invoker
	// does (strings as they are, null as "", anything else as JSON).
	InitArgs map[string]string `json:"init_args,omitempty"`
	// APIHost is __OW_API_HOST, a container variable in stock OpenWhisk;
	// empty leaves it unset.
	APIHost string `json:"api_host,omitempty"`
	// MaxPayload is the user's result size limit in bytes; 0 is
	// whisk.PayloadMax.
	MaxPayload int64 `json:"max_payload,omitempty"`
}

// Result is an activation's outcome. Start and End are the record's: on a
// cold start Start is when initialisation began (the run's start minus
// InitTime), as in the stock record.
type Result struct {
	// Response is always set; failures carry the stock status codes and
	// texts.
	Response whisk.ActivationResponse `json:"response"`
	// Logs are formatted OpenWhisk log lines, including the collector's
	// notice lines; empty when the logs limit is 0.
	Logs       []string  `json:"logs,omitempty"`
	Start, End time.Time `json:"-"`
	// InitTime is > 0 only on a cold start: fetch, compile, instantiate
	// and initialise.
	InitTime time.Duration `json:"-"`
	Cold     bool          `json:"cold,omitempty"`
	TimedOut bool          `json:"timeout,omitempty"`
	// Fetch is what the run waited for on its data mounts (/ipfs, /data);
	// zero when it touched none. Its Time is part of the run's duration.
	Fetch Fetch `json:"-"`
}

// Fetch is the data a run read from its mounts and the time it spent
// waiting for it: opening, statting, seeking, listing and reading under
// /ipfs/<CID>/... (blocks from the block store or from peers) and /data
// (the node's host directory). The invoker records it as the fetchTime
// and fetchBytes annotations, which stock OpenWhisk does not have.
type Fetch struct {
	Time  time.Duration
	Bytes int64
}

// fetchJSON is Fetch on the wire, the time in nanoseconds: a read of a
// local file takes well under a millisecond.
type fetchJSON struct {
	Nanos int64 `json:"ns"`
	Bytes int64 `json:"bytes"`
}

// resultJSON is Result on the wire, with times in epoch milliseconds as
// the activation record has them.
type resultJSON struct {
	Response whisk.ActivationResponse `json:"response"`
	Logs     []string                 `json:"logs,omitempty"`
	Start    int64                    `json:"start"`
	End      int64                    `json:"end"`
	InitTime int64                    `json:"initTime,omitempty"`
	Cold     bool                     `json:"cold,omitempty"`
	TimedOut bool                     `json:"timeout,omitempty"`
	Fetch    *fetchJSON               `json:"fetch,omitempty"`
}

// MarshalJSON writes times as epoch milliseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	j := resultJSON{
		Response: r.Response, Logs: r.Logs, Start: r.Start.UnixMilli(), End: r.End.UnixMilli(),
		InitTime: r.InitTime.Milliseconds(), Cold: r.Cold, TimedOut: r.TimedOut,
	}
	if r.Fetch != (Fetch{}) {
		j.Fetch = &fetchJSON{Nanos: int64(r.Fetch.Time), Bytes: r.Fetch.Bytes}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Result{
		Response: j.Response, Logs: j.Logs, Start: time.UnixMilli(j.Start), End: time.UnixMilli(j.End),
		InitTime: time.Duration(j.InitTime) * time.Millisecond, Cold: j.Cold, TimedOut: j.TimedOut,
	}
	if f := j.Fetch; f != nil {
		if f.Nanos < 0 || f.Bytes < 0 {
			return fmt.Errorf("activation: result: negative fetch (%d ns, %d bytes)", f.Nanos, f.Bytes)
		}
		r.Fetch = Fetch{Time: time.Duration(f.Nanos), Bytes: f.Bytes}
	}
	return nil
}

// Failed is the Result of an activation that ended at once with code and
// the error text msg.
func Failed(code whisk.StatusCode, msg string) Result {
	now := time.Now()
	return Result{Response: whisk.ErrorResponse(code, msg), Start: now, End: now}
}

// The environment variables of OpenWhisk's runtimes (openwhisk-wire.md
// 6.2).
const (
	EnvAPIKey        = "__OW_API_KEY"
	EnvNamespace     = "__OW_NAMESPACE"
	EnvActionName    = "__OW_ACTION_NAME"
	EnvActionVersion = "__OW_ACTION_VERSION"
	EnvActivationID  = "__OW_ACTIVATION_ID"
	EnvTransactionID = "__OW_TRANSACTION_ID"
	EnvDeadline      = "__OW_DEADLINE"
	EnvAPIHost       = "__OW_API_HOST"
)

// PerActivation reports whether the variable key changes with every
// activation of the same action (so a warm instance gets it per request,
// not in its environment).
func PerActivation(key string) bool {
	switch key {
	case EnvAPIKey, EnvNamespace, EnvActivationID, EnvTransactionID, EnvDeadline:
		return true
	}
	return false
}

// Env is the environment a runtime gives a of this invocation: the init
// arguments, then the __OW_* values, which win over init arguments of the
// same name as the /run keys do in OpenWhisk's action loop. A value left
// empty (a zero Deadline included) leaves its variable out, so a bare
// Invocation gives a bare environment (nil).
func (in *Invocation) Env(a *Action) map[string]string {
	var env map[string]string // allocated with the first variable
	in.EachEnv(a, func(k, v string) {
		if env == nil {
			env = make(map[string]string, len(in.InitArgs)+8)
		}
		env[k] = v
	})
	return env
}

// EachEnv calls f with each variable of Env, without building the map:
// the init arguments but those an __OW_* value replaces, then the __OW_*
// values.
func (in *Invocation) EachEnv(a *Action, f func(key, value string)) {
	type kv struct{ k, v string }
	var buf [8]kv
	ow := buf[:0]
	if in.APIKey != "" {
		ow = append(ow, kv{EnvAPIKey, in.APIKey})
	}
	if in.Namespace != "" {
		ow = append(ow, kv{EnvNamespace, in.Namespace})
	}
	if a.Name.Path != "" { // not fully qualified: no name to give
		ow = append(ow, kv{EnvActionName, a.Name.String()})
	}
	if a.Version != "" {
		ow = append(ow, kv{EnvActionVersion, a.Version})
	}
	if in.ID != "" {
		ow = append(ow, kv{EnvActivationID, string(in.ID)})
	}
	if in.TransID.ID != "" {
		ow = append(ow, kv{EnvTransactionID, in.TransID.ID})
	}
	if !in.Deadline.IsZero() {
		ow = append(ow, kv{EnvDeadline, strconv.FormatInt(in.Deadline.UnixMilli(), 10)})
	}
	if in.APIHost != "" {
		ow = append(ow, kv{EnvAPIHost, in.APIHost})
	}
args:
	for k, v := range in.InitArgs {
		for _, p := range ow {
			if p.k == k {
				continue args
			}
		}
		f(k, v)
	}
	for _, p := range ow {
		f(p.k, p.v)
	}
}
