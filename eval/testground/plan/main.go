// Command plan is the Testground test plan of FaaS@Edge's large-deployment
// experiments (../manifest.toml names it as exec_pkg): every test instance
// runs one ring node, the code `faasedge node` runs (p2p/edge: a libp2p
// host with the Kademlia DHT, the block exchange and the offer ring), and
// plays its group's role with the composition's parameters. It is built
// and started by Testground; see ../README.md.
package main

import "github.com/testground/sdk-go/run"

func main() {
	run.InvokeMap(map[string]interface{}{
		"ring": run.InitializedTestCaseFn(ringCase),
	})
}
