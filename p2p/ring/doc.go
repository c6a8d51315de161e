// Package ring is FaaS@Edge's offer ring: edge nodes volunteer memory as
// signed offers held by traders on a Kademlia DHT, and schedulers find,
// claim and run work on them (design.md §5, the FaaS@Edge proposal's
// Algorithms 1-3).
//
// # Key space and regions
//
// Keys are 256-bit. The key space is cut into contiguous regions by memory
// amount (DefaultRegions, 128 MB to 10,240 MB; smaller amounts own wider
// ranges), and each region into a few evenly spread keys. The trader for a
// key is the DHT peer closest to it; go-libp2p-kad-dht hashes lookup keys,
// so traders are spread evenly over the peers whatever the layout.
//
// # Roles
//
// Every Node is a trader (OffersRecv: the offers published to keys it is
// closest to). A node given memory with Supply is a supplier: Publish
// (Algorithm 1) sends each of its offers (virtual nodes) to the trader of a
// random key of the offer's region and records it in OffersSent; offers
// expire at traders unless refreshed, so a supplier that leaves drops out
// within one offer lifetime. A node that places work is a scheduler:
// Schedule runs ResourceDiscovery (Algorithm 2: up to maxTries keys, then
// the backup list suppliers push to it) and Scheduling (Algorithm 3: sort by
// best or worst fit, claim at the supplier, which checks its real free
// memory and grants a lease); Run sends an activation on
// /faasedge/run/1.0.0.
//
// # Wire format
//
// Each exchange is one stream with one request frame and one reply frame,
// each an unsigned-varint length then the body. Requests are JSON objects
// decoded strictly (unknown fields and trailing data are errors); a reply
// is a status byte, 0 then a JSON body or 1 then an error text. Frames over
// MaxControlMessage (MaxRunMessage for runs) are refused with an error
// reply and a log line.
//
// A supplier holds schedulers to what it granted: a run executes only
// within a lease its caller holds and only if it fits what the lease has
// left beside the runs in flight (memory shared by concurrency, as one
// OpenWhisk container is); its logs are capped at MaxRunLogsMB and cut with
// the stock truncation notice so that the reply fits one frame. An offer
// is filed under its supplier and ID, so no peer can replace or withdraw
// another's, and its expiry may lie at most two offer lifetimes ahead.
//
// The ring reaches the network only through Transport: HostTransport runs
// it on a libp2p host, and package p2p/sim runs the same code on an
// in-memory network at 10,000+ nodes.
package ring
