// Package workloads holds the workloads of the FaaS@Edge evaluation (the
// proposal's section 4): each is a set of wasm actions built with the Go
// SDK (package action), the data they read, the requests a run sends and
// the check of every answer, so that a run is verified, not only timed.
//
// The testbed (faasedge eval) and the tests of this package drive the same
// Workload values: the testbed owns the stack and the nodes, a workload owns
// what runs on them.
//
// The four workloads, each with its action in actions/<name> (package eval,
// built as a reactor from this source tree by Deploy, with the Go toolchain):
//
//   - Hash (eval/hash): SHA-256 of deterministic files of 4 KiB to 64 MiB.
//   - REST (eval/rest): a DeathStarBench-shaped social network's timelines
//     and post composes over the key-value store, or a UnixFS directory.
//   - MNIST (eval/mnist): the ONNX zoo's MNIST CNN on batches of MNIST test
//     images, checked against their labels.
//   - Video (eval/video): one activation per chunk of a synthetic MJPEG
//     video (gray, blur, downscale, edges), each output checked byte-exact.
//
// Deploy may write under each of Env.DataDirs (Local) or add a tree with
// Env.AddIPFS (IPFS); Request and Check are safe for concurrent use once
// Deploy has returned.
package workloads

import (
	"context"
	"encoding/json"
	"io/fs"
)

// Placement says where a workload's data lives.
type Placement string

const (
	// Local data is written into each executing node's data directory,
	// which the node shows its actions read-only at /data.
	Local Placement = "local"
	// IPFS data is added on a data-owner node (not an executing one) and
	// read by the executing node at /ipfs/<CID>/...
	IPFS Placement = "ipfs"
	// IPFSCold and IPFSWarm are IPFS measured apart, by a workload that
	// says so (see Placements): cold data was never fetched by the
	// executing node, warm data was fetched by it before.
	IPFSCold Placement = "ipfs-cold"
	IPFSWarm Placement = "ipfs-warm"
)

// coldWarm is a workload that measures its IPFS data cold and warm apart.
type coldWarm interface{ coldWarm() }

// Placements are the phases w runs in for the placements asked: IPFS is
// IPFSCold then IPFSWarm for a workload that tells them apart (Hash).
func Placements(w Workload, asked []Placement) []Placement {
	if _, ok := w.(coldWarm); !ok {
		return asked
	}
	var out []Placement
	for _, p := range asked {
		if p == IPFS {
			out = append(out, IPFSCold, IPFSWarm)
			continue
		}
		out = append(out, p)
	}
	return out
}

// Env is what the testbed gives a workload.
type Env struct {
	// APIHost and Auth reach the OpenWhisk REST API, as wsk's --apihost
	// and --auth ("uuid:key").
	APIHost, Auth string
	// DataDirs are the host directories the executing nodes mount at
	// /data; a Local workload writes the same files into each.
	DataDirs []string
	// AddIPFS adds fsys's tree below root (a file or a directory) on the
	// data-owner node and returns its CID as a string.
	AddIPFS func(ctx context.Context, fsys fs.FS, root string) (string, error)
	// Requests is how many requests a run sends in each placement, every
	// offered load together: IPFSCold data is prepared for each.
	Requests int
}

// Request is one invocation a run sends.
type Request struct {
	// Action is the action's name within the namespace (package/name).
	Action string
	// Params are the invocation's parameters.
	Params json.RawMessage
	// Kind is what the request does, for the report's latencies by kind
	// (the hash workload's file size, the REST operation); "" when a
	// workload's requests are all alike.
	Kind string
}

// Workload is one of the evaluation's workloads.
type Workload interface {
	// Name is the workload's short name, used in reports ("rest",
	// "hash", "mnist", "video").
	Name() string
	// Deploy creates the workload's actions through env's REST API and
	// puts its data where p says. It may be called once per placement.
	Deploy(ctx context.Context, env Env, p Placement) error
	// Request is the i-th request of a run (i from 0); a run cycles
	// through as many as it sends.
	Request(p Placement, i int) Request
	// Check verifies the result of the i-th request: a hash value, a
	// classification against its label, an output chunk, a REST answer.
	Check(p Placement, i int, result json.RawMessage) error
}
