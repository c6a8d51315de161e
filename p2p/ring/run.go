package ring

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/activation"
)

// RunRequest is one activation sent to an edge node on /faasedge/run/1.0.0:
// the activation's own types (package activation), so identity, deadline
// and limits arrive typed. The action's code is a CID the edge node
// fetches over IPFS; Node.Run fills it from the placement when empty.
type RunRequest struct {
	Action     activation.Action     `json:"action"`
	Invocation activation.Invocation `json:"invocation"`
	// LeaseID names the claim the run executes under; Node.Run sets it.
	LeaseID string `json:"lease_id,omitempty"`
	// From is the scheduler that sent the run, which may hold its code;
	// the supplier sets it, it is not sent.
	From peer.ID `json:"-"`
}

// Executor runs an activation on the edge node; its Result is the run's
// response. faasedge node wires the WebAssembly executor in here
// (p2p/edge); tests use small real executors.
type Executor interface {
	Run(ctx context.Context, req RunRequest) (activation.Result, error)
}

// Preparer is implemented by executors that can fetch and compile code
// ahead of the first run; a granted claim with a CID triggers it, and so
// does a prepare request under a lease (Node.Prepare), so the deployment
// cost is paid before the first activation arrives. from is the claimer
// or lease holder, which may hold the code (the Function Manager pins it
// before it schedules).
type Preparer interface {
	Prepare(ctx context.Context, cid string, from peer.ID) error
}
