package ring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	mc "github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"

	"github.com/faasedge/faasedge/p2p"
)

// The scheduler index lists the schedulers of a deployment under an IPNS
// name whose key the operator holds, stored in the ring's DHT (whose
// default validator checks IPNS records). The list itself rides inside the
// record as an identity CID, so resolving it needs no block exchange.

// maxIndexBytes keeps the record well under the DHT's 10 KiB IPNS limit.
const maxIndexBytes = 4 << 10

// IndexName is the IPNS name of an operator key.
func IndexName(operator crypto.PubKey) (ipns.Name, error) {
	id, err := peer.IDFromPublicKey(operator)
	if err != nil {
		return ipns.Name{}, err
	}
	return ipns.NameFromPeer(id), nil
}

// PublishIndex signs the list of scheduler multiaddrs (full, with /p2p/)
// with the operator key and puts it into the DHT. seq must grow with every
// publication; the record is valid for ttl.
func PublishIndex(ctx context.Context, vs routing.ValueStore, operator crypto.PrivKey, schedulers []string, seq uint64, ttl time.Duration) (ipns.Name, error) {
	name, err := IndexName(operator.GetPublic())
	if err != nil {
		return ipns.Name{}, err
	}
	if _, err := p2p.ParseAddrInfos(schedulers); err != nil {
		return ipns.Name{}, err
	}
	body, err := json.Marshal(schedulers)
	if err != nil {
		return ipns.Name{}, err
	}
	if len(body) > maxIndexBytes {
		return ipns.Name{}, fmt.Errorf("ring: scheduler index of %d bytes over %d", len(body), maxIndexBytes)
	}
	h, err := mh.Sum(body, mh.IDENTITY, -1)
	if err != nil {
		return ipns.Name{}, err
	}
	rec, err := ipns.NewRecord(operator, path.FromCid(cid.NewCidV1(uint64(mc.Json), h)), seq, time.Now().Add(ttl), ttl)
	if err != nil {
		return ipns.Name{}, fmt.Errorf("ring: scheduler index record: %w", err)
	}
	data, err := ipns.MarshalRecord(rec)
	if err != nil {
		return ipns.Name{}, err
	}
	if err := vs.PutValue(ctx, string(name.RoutingKey()), data); err != nil {
		return ipns.Name{}, fmt.Errorf("ring: put scheduler index: %w", err)
	}
	return name, nil
}

// ResolveIndex fetches and verifies the scheduler index under name.
func ResolveIndex(ctx context.Context, vs routing.ValueStore, name ipns.Name) ([]peer.AddrInfo, error) {
	data, err := vs.GetValue(ctx, string(name.RoutingKey()))
	if err != nil {
		return nil, fmt.Errorf("ring: resolve scheduler index %s: %w", name, err)
	}
	rec, err := ipns.UnmarshalRecord(data)
	if err != nil {
		return nil, fmt.Errorf("ring: scheduler index %s: %w", name, err)
	}
	if err := ipns.ValidateWithName(rec, name); err != nil {
		return nil, fmt.Errorf("ring: scheduler index %s: %w", name, err)
	}
	p, err := rec.Value()
	if err != nil {
		return nil, err
	}
	ip, err := path.NewImmutablePath(p)
	if err != nil {
		return nil, fmt.Errorf("ring: scheduler index %s: %w", name, err)
	}
	dec, err := mh.Decode(ip.RootCid().Hash())
	if err != nil {
		return nil, err
	}
	if dec.Code != mh.IDENTITY {
		return nil, errors.New("ring: scheduler index is not an inline list")
	}
	var addrs []string
	if err := json.Unmarshal(dec.Digest, &addrs); err != nil {
		return nil, fmt.Errorf("ring: scheduler index %s: %w", name, err)
	}
	infos, err := p2p.ParseAddrInfos(addrs)
	if err != nil {
		return nil, fmt.Errorf("ring: scheduler index %s: %w", name, err)
	}
	return infos, nil
}
