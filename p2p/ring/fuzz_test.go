package ring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// loneTransport is a ring of one: every key's trader is the node itself
// and no call leaves it. The fuzzers drive the handlers directly.
type loneTransport struct{ self peer.ID }

var _ Transport = loneTransport{}

func (t loneTransport) Self() peer.ID                  { return t.self }
func (loneTransport) Addrs() []string                  { return nil }
func (loneTransport) Handle(protocol.ID, int, Handler) {}
func (t loneTransport) Trader(context.Context, Key) (peer.ID, int, error) {
	return t.self, 0, nil
}
func (loneTransport) Call(context.Context, peer.AddrInfo, protocol.ID, []byte) ([]byte, error) {
	return nil, errors.New("lone transport: no peers")
}

// echoExecutor answers a run with its value and a 4 KiB log line per byte
// of the value, so a fuzzed request can make the reply larger than a
// frame.
type echoExecutor struct{}

func (echoExecutor) Run(_ context.Context, r RunRequest) (activation.Result, error) {
	v := r.Invocation.Value
	logs := make([]string, 0, min(len(v), 4096)) // up to 16 MiB, over a frame
	for _, c := range v[:min(len(v), 4096)] {
		logs = append(logs, string(bytes.Repeat([]byte{c}, 4096)))
	}
	if !json.Valid(v) {
		v = json.RawMessage(`{}`)
	}
	return activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: v}, Logs: logs}, nil
}

// fuzzNode is a supplier of 1024 MB on a lone transport, with a lease of
// 256 MB held by the peer the fuzzed frames come from.
type fuzzNode struct {
	node     *Node
	from     peer.ID
	fromKey  crypto.PrivKey
	offerID  string
	leaseID  string
	handlers []Handler
}

func newFuzzNode(f *testing.F) *fuzzNode {
	f.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	self, _ := peer.IDFromPrivateKey(key)
	n, err := New(loneTransport{self}, key, WithExecutor(echoExecutor{}), WithFreeMemory(func() int { return 1 << 20 }),
		WithDispatch(func(func()) {}), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	if err := n.Supply(1024); err != nil {
		f.Fatal(err)
	}
	fz := &fuzzNode{node: n, offerID: n.vnodes[0].id}
	if fz.fromKey, _, err = crypto.GenerateEd25519Key(nil); err != nil {
		f.Fatal(err)
	}
	fz.from, _ = peer.IDFromPrivateKey(fz.fromKey)
	body, _ := json.Marshal(claimMsg{Op: "claim", OfferID: fz.offerID, MemoryMB: 256})
	h := n.handlers
	rep, err := h[ProtoClaim](context.Background(), fz.from, body)
	if err != nil {
		f.Fatal(err)
	}
	var c claimReply
	if err := json.Unmarshal(rep, &c); err != nil {
		f.Fatal(err)
	}
	fz.leaseID = c.LeaseID
	fz.handlers = []Handler{h[ProtoOffer], h[ProtoFind], h[ProtoBackup], h[ProtoClaim], h[ProtoRun]}
	return fz
}

// signedOffer is a live offer of the fuzzing peer, as seed.
func (fz *fuzzNode) signedOffer(f *testing.F) *Offer {
	o := &Offer{ID: "o1", Supplier: fz.from, AvailableMB: 300, Region: fz.node.Regions().For(300),
		Expiry: time.Now().Add(20 * time.Second).UnixMilli(), Seq: 1}
	if err := o.Sign(fz.fromKey); err != nil {
		f.Fatal(err)
	}
	return o
}

// FuzzRequestFrames feeds every ring handler (offer, find, backup, claim,
// run) arbitrary request frames from a peer holding a lease. "LEASE" and
// "OFFER" in a frame stand for the real lease and offer IDs, so the
// fuzzer reaches past the lookups. A handler answers or refuses; it never
// panics, and a reply always fits its frame.
func FuzzRequestFrames(f *testing.F) {
	fz := newFuzzNode(f)
	o := fz.signedOffer(f)
	key := fz.node.Regions().keys[o.Region][0]
	put, _ := json.Marshal(offerMsg{Op: "put", Key: key, Offer: o})
	backup, _ := json.Marshal(offersMsg{Offers: []*Offer{o}})
	runReq, _ := json.Marshal(RunRequest{
		Action: activation.Action{Name: activation.FQN{Path: "guest", Name: "a"}, Kind: "wasm:wasip1",
			Limits: whisk.Limits{Timeout: 1000, Memory: 128, Logs: 10, Concurrency: 1}},
		Invocation: activation.Invocation{ID: "a", TransID: whisk.NewTransID("t", 1), Namespace: "guest", Value: json.RawMessage(`{"x":1}`)},
		LeaseID:    "LEASE",
	})
	for _, seed := range []struct {
		h   uint8
		req string
	}{
		{0, string(put)},
		{0, `{"op":"withdraw","id":"o1"}`},
		{1, `{"region":0,"memory":128}`},
		{2, string(backup)},
		{3, `{"op":"claim","offerID":"OFFER","memory":128,"cid":"bafy"}`},
		{3, `{"op":"renew","leaseID":"LEASE"}`},
		{3, `{"op":"release","leaseID":"LEASE"}`},
		{4, string(runReq)},
		{4, `{"action":{"name":{"path":"guest","name":"b"},"kind":"wasm:wasip1","code":{"cid":"bafy"},"limits":{"memory":0,"concurrency":4}},"invocation":{"activation_id":"b","transaction_id":["t",1],"namespace":"guest","deadline":"2030-01-01T00:00:00Z","value":"<<<<<<<<<<<<<<<<"},"lease_id":"LEASE"}`},
	} {
		f.Add(seed.h, []byte(seed.req))
	}
	f.Fuzz(func(t *testing.T, h uint8, req []byte) {
		req = bytes.ReplaceAll(req, []byte("LEASE"), []byte(fz.leaseID))
		req = bytes.ReplaceAll(req, []byte("OFFER"), []byte(fz.offerID))
		handler := fz.handlers[int(h)%len(fz.handlers)]
		body, err := handler(context.Background(), fz.from, req)
		if err != nil {
			return
		}
		if len(body)+1 > MaxRunMessage {
			t.Fatalf("reply of %d bytes exceeds the frame", len(body))
		}
		if len(body) > 0 && !json.Valid(body) {
			t.Fatalf("reply is not JSON: %q", body)
		}
	})
}

// FuzzReplyFrames decodes arbitrary reply frames as a scheduler or
// supplier reads them: the status byte, then the body of each reply kind.
// Offers found are verified before use.
func FuzzReplyFrames(f *testing.F) {
	fz := newFuzzNode(f)
	offers, _ := json.Marshal(offersMsg{Offers: []*Offer{fz.signedOffer(f)}})
	claim, _ := json.Marshal(claimReply{LeaseID: "l1", Expiry: time.Now().UnixMilli()})
	run, _ := json.Marshal(activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(`{"ok":true}`)}, Logs: []string{"x"},
		Fetch: activation.Fetch{Time: time.Millisecond, Bytes: 4096}})
	for _, b := range [][]byte{offers, claim, run} {
		f.Add(append([]byte{statusOK}, b...))
	}
	f.Add(append([]byte{statusErr}, "ring: not enough free memory"...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		body, err := decodeReply(frame)
		if err != nil {
			if len(frame) > 0 && frame[0] == statusErr && !IsRemote(err) {
				t.Fatalf("an error reply is not a remote error: %v", err)
			}
			return
		}
		var m offersMsg
		if json.Unmarshal(body, &m) == nil {
			for _, o := range m.Offers {
				if o != nil {
					_ = o.Verify(fz.node.Regions(), time.Now(), fz.node.cfg.maxOfferLifetime())
				}
			}
		}
		var c claimReply
		_ = json.Unmarshal(body, &c)
		var r activation.Result
		_ = json.Unmarshal(body, &r)
	})
}

// memValues is a value store of one record, as the DHT returns it.
type memValues map[string][]byte

var _ routing.ValueStore = memValues{}

func (m memValues) PutValue(_ context.Context, k string, v []byte, _ ...routing.Option) error {
	m[k] = v
	return nil
}

func (m memValues) GetValue(_ context.Context, k string, _ ...routing.Option) ([]byte, error) {
	if v, ok := m[k]; ok {
		return v, nil
	}
	return nil, routing.ErrNotFound
}

func (m memValues) SearchValue(ctx context.Context, k string, _ ...routing.Option) (<-chan []byte, error) {
	v, err := m.GetValue(ctx, k)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1)
	ch <- v
	close(ch)
	return ch, nil
}

// FuzzIndexRecord resolves arbitrary DHT records as a scheduler index: a
// record that does not verify under the operator's name, or does not hold
// an inline list of multiaddrs, is an error.
func FuzzIndexRecord(f *testing.F) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		f.Fatal(err)
	}
	vs := memValues{}
	name, err := PublishIndex(context.Background(), vs, key, []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWJSaajbHjjgbad497g6eDquGp7zZTmKegXmCMxoi8YhEc"}, 1, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	k := string(name.RoutingKey())
	f.Add(vs[k])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		if _, err := ResolveIndex(context.Background(), memValues{k: rec}, name); err != nil && string(rec) == string(vs[k]) {
			t.Fatalf("the operator's own record: %v", err)
		}
	})
}
