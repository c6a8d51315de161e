package ring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/p2p"
)

// rawExchange writes frame as-is on proto and returns the reply frame.
func rawExchange(t *testing.T, from, to *member, proto protocol.ID, frame []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.host.NewStream(ctx, to.host.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	reply, err := msgio.NewVarintReaderSize(s, MaxControlMessage).ReadMsg()
	if err != nil {
		t.Fatalf("no reply frame: %v", err)
	}
	return reply
}

func varintFrame(body []byte) []byte {
	var b bytes.Buffer
	_ = msgio.NewVarintWriter(&b).WriteMsg(body)
	return b.Bytes()
}

func TestMalformedAndOversizedMessagesRefused(t *testing.T) {
	ms := startRing(t, 2, nil)
	a, b := ms[0], ms[1]
	if err := b.node.Supply(512); err != nil {
		t.Fatal(err)
	}
	publishAll(t, ms)
	before := a.node.HeldOffers() + b.node.HeldOffers()
	huge := make([]byte, 9)
	// A varint length of 1 GiB with no body behind it.
	n := putUvarint(huge, 1<<30)
	tests := []struct {
		name  string
		proto protocol.ID
		frame []byte
		want  string
	}{
		{"oversized", ProtoOffer, huge[:n], "message too large"},
		{"not json", ProtoFind, varintFrame([]byte("{nope")), "malformed"},
		{"unknown field", ProtoClaim, varintFrame([]byte(`{"op":"claim","evil":1}`)), "malformed"},
		{"trailing data", ProtoFind, varintFrame([]byte(`{"region":0,"memory":1}{}`)), "trailing"},
		{"unknown op", ProtoOffer, varintFrame([]byte(`{"op":"steal"}`)), "unknown offer op"},
		{"region out of range", ProtoFind, varintFrame([]byte(`{"region":99,"memory":1}`)), "out of range"},
		{"run without lease", ProtoRun, varintFrame([]byte(`{"action":{"code":{"cid":"x"},"limits":{"memory":128}},"invocation":{"activation_id":"a"}}`)), "no valid lease"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply := rawExchange(t, a, b, tc.proto, tc.frame)
			_, err := decodeReply(reply)
			if !IsRemote(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reply %q: got %v, want remote error with %q", reply, err, tc.want)
			}
		})
	}
	if after := a.node.HeldOffers() + b.node.HeldOffers(); after != before {
		t.Fatalf("bad messages changed trader tables: %d -> %d", before, after)
	}
}

func putUvarint(b []byte, v uint64) int {
	i := 0
	for v >= 0x80 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
}

func TestBadOffersRefused(t *testing.T) {
	ms := startRing(t, 3, nil)
	trader, liar, victim := ms[0], ms[1], ms[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs := trader.node.Regions()
	key := rs.keys[1][0]
	good := func(from *member) *Offer {
		o := &Offer{ID: "o1", Supplier: from.node.ID(), AvailableMB: 300, Region: 1, Expiry: time.Now().Add(time.Minute).UnixMilli(), Seq: 1}
		if err := o.Sign(from.node.key); err != nil {
			t.Fatal(err)
		}
		return o
	}
	tests := []struct {
		name   string
		offer  func() *Offer
		key    Key
		wantIs error
		want   string
	}{
		{"inflated after signing", func() *Offer { o := good(liar); o.AvailableMB = 400; return o }, key, ErrBadSignature, ""},
		{"forged supplier", func() *Offer { o := good(liar); o.Supplier = victim.node.ID(); return o }, key, ErrBadSignature, ""},
		{"signed by another key", func() *Offer {
			o := good(liar)
			k, _, _ := crypto.GenerateEd25519Key(nil)
			_ = o.Sign(k)
			return o
		}, key, ErrBadSignature, ""},
		{"expired", func() *Offer {
			o := good(liar)
			o.Expiry = time.Now().Add(-time.Second).UnixMilli()
			_ = o.Sign(liar.node.key)
			return o
		}, key, ErrExpired, ""},
		{"wrong region", func() *Offer {
			o := good(liar)
			o.Region = 0
			_ = o.Sign(liar.node.key)
			return o
		}, key, nil, "not in region"},
		{"key of another region", good0(liar, t), rs.keys[3][0], nil, "key of region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(offerMsg{Op: opPut, Key: tc.key, Offer: tc.offer()})
			_, err := liar.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body)
			if !IsRemote(err) {
				t.Fatalf("bad offer accepted: %v", err)
			}
			if tc.wantIs != nil && !strings.Contains(err.Error(), tc.wantIs.Error()) {
				t.Fatalf("got %v, want %v", err, tc.wantIs)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if trader.node.HeldOffers() != 0 {
				t.Fatal("trader kept a refused offer")
			}
		})
	}
	// The same offer, honestly signed, is held.
	body, _ := json.Marshal(offerMsg{Op: opPut, Key: key, Offer: good(liar)})
	if _, err := liar.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body); err != nil {
		t.Fatal(err)
	}
	if trader.node.HeldOffers() != 1 {
		t.Fatal("good offer not held")
	}
	// Only its supplier may withdraw it.
	body, _ = json.Marshal(offerMsg{Op: opWithdraw, ID: "o1"})
	if _, err := victim.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body); err != nil {
		t.Fatal(err)
	}
	if trader.node.HeldOffers() != 1 {
		t.Fatal("a stranger withdrew another supplier's offer")
	}
}

func good0(from *member, t *testing.T) func() *Offer {
	return func() *Offer {
		o := &Offer{ID: "o1", Supplier: from.node.ID(), AvailableMB: 300, Region: 1, Expiry: time.Now().Add(time.Minute).UnixMilli(), Seq: 1}
		if err := o.Sign(from.node.key); err != nil {
			t.Fatal(err)
		}
		return o
	}
}

func TestClaimBeyondFreeMemoryFails(t *testing.T) {
	ms := startRing(t, 2, nil)
	sched, sup := ms[0], ms[1]
	if err := sup.node.Supply(512); err != nil {
		t.Fatal(err)
	}
	publishAll(t, ms)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := sup.node.vnodes[0].id
	claim := func(mem int) error {
		body, _ := json.Marshal(claimMsg{Op: opClaim, OfferID: id, MemoryMB: mem})
		_, err := sched.tr.Call(ctx, peer.AddrInfo{ID: sup.node.ID()}, ProtoClaim, body)
		return err
	}
	if err := claim(1024); !IsRemote(err) || !strings.Contains(err.Error(), ErrInsufficient.Error()) {
		t.Fatalf("claim over the offer: %v", err)
	}
	if err := claim(400); err != nil {
		t.Fatalf("fitting claim: %v", err)
	}
	if err := claim(200); !IsRemote(err) {
		t.Fatalf("second claim beyond what is left: %v", err)
	}
	if _, used := sup.node.Capacity(); used != 400 {
		t.Fatalf("used %d MB, want 400", used)
	}
	// The machine's real free memory bounds claims too.
	sup.node.cfg.freeMemory = func() int { return 64 }
	if err := claim(100); !IsRemote(err) || !strings.Contains(err.Error(), "machine has 64 MB free") {
		t.Fatalf("claim beyond machine memory: %v", err)
	}
	// Schedule sees no offer that fits and says so.
	if _, err := sched.node.Schedule(ctx, "", 2048); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("schedule 2 GB: %v", err)
	}
}

// oneKeyRegions gives every region a single key, so in a tiny ring one
// trader holds each region and discovery is deterministic.
func oneKeyRegions() Option {
	specs := make([]RegionSpec, len(DefaultRegions))
	for i, s := range DefaultRegions {
		specs[i] = RegionSpec{MinMB: s.MinMB, Keys: 1}
	}
	return WithRegions(specs)
}

func TestSupplierDyingMidRun(t *testing.T) {
	ms := startRing(t, 3, nil, oneKeyRegions())
	sched, sup := ms[0], ms[2]
	if err := sup.node.Supply(256); err != nil {
		t.Fatal(err)
	}
	publishAll(t, ms)
	sup.exec.block = make(chan struct{})
	c := sup.exec.add([]byte("slow"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sched.node.Schedule(ctx, c, 128)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	done := make(chan error, 1)
	go func() {
		_, err := sched.node.Run(ctx, p, RunRequest{Invocation: activation.Invocation{ID: "a1", Value: json.RawMessage(`{}`), Deadline: deadline}})
		done <- err
	}()
	// Wait until the run is executing, then kill the supplier.
	for {
		sup.exec.mu.Lock()
		r := sup.exec.runs
		sup.exec.mu.Unlock()
		if r > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sup.stop(t)
	err = <-done
	if err == nil || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("run on a dead supplier: %v, want a stream error before the deadline", err)
	}
}

func TestPrivateNetworkAndAllowList(t *testing.T) {
	psk := bytes.Repeat([]byte{7}, 32)
	ms := startRing(t, 3, func(int) p2p.Config { return p2p.Config{PSK: psk} })
	if err := ms[1].node.Supply(256); err != nil {
		t.Fatal(err)
	}
	publishAll(t, ms)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A node with another key cannot join, so it can neither publish nor
	// discover. Its handshake never completes, so bound the attempt.
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	if _, err := p2p.NewHost(short, p2p.Config{PSK: bytes.Repeat([]byte{8}, 32), Bootstrap: ms[0].host.FullAddrs()}); err == nil {
		t.Fatal("host with the wrong network key joined")
	}
	if _, err := p2p.NewHost(short, p2p.Config{Bootstrap: ms[0].host.FullAddrs()}); err == nil {
		t.Fatal("host without the network key joined")
	}
	// An allow-listed ring refuses an outsider's offers and claims.
	inner := startRing(t, 2, nil)
	ids := []peer.ID{inner[0].node.ID(), inner[1].node.ID()}
	guarded := newMember(t, ctx, p2p.Config{AllowPeers: ids, Bootstrap: inner[0].host.FullAddrs()})
	defer guarded.stop(t)
	if err := guarded.node.Supply(256); err != nil {
		t.Fatal(err)
	}
	if err := guarded.node.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	outsider := newMember(t, ctx, p2p.Config{})
	defer outsider.stop(t)
	body, _ := json.Marshal(claimMsg{Op: opClaim, OfferID: guarded.node.vnodes[0].id, MemoryMB: 128})
	ai := peer.AddrInfo{ID: guarded.node.ID(), Addrs: guarded.host.Addrs()}
	if _, err := outsider.tr.Call(ctx, ai, ProtoClaim, body); err == nil {
		t.Fatal("allow-listed node granted a claim to an outsider")
	}
	if _, err := inner[0].tr.Call(ctx, ai, ProtoClaim, body); err != nil {
		t.Fatalf("allowed peer's claim: %v", err)
	}
}

// TestOfferHijackRefused: a hostile peer publishes its own, validly signed
// offer under a victim's offer ID at the victim's trader, refreshes it with
// a higher sequence number, withdraws that ID and offers to live for a
// century. The victim's offer stays held and found; the century is refused.
func TestOfferHijackRefused(t *testing.T) {
	ms := startRing(t, 3, nil)
	trader, attacker, victim := ms[0], ms[1], ms[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := trader.node.Regions().keys[1][0]
	put := func(from *member, o *Offer) error {
		if err := o.Sign(from.node.key); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(offerMsg{Op: opPut, Key: key, Offer: o})
		_, err := from.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body)
		return err
	}
	offer := func(from *member, mb int, seq uint64, life time.Duration) *Offer {
		return &Offer{ID: "o1", Supplier: from.node.ID(), AvailableMB: mb, Region: 1, Expiry: time.Now().Add(life).UnixMilli(), Seq: seq}
	}
	if err := put(victim, offer(victim, 300, 1, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := put(attacker, offer(attacker, 310, seq*10, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(offerMsg{Op: opWithdraw, ID: "o1"})
	if _, err := attacker.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body); err != nil {
		t.Fatal(err)
	}
	err := put(attacker, offer(attacker, 320, 99, 100*365*24*time.Hour))
	if !IsRemote(err) || !strings.Contains(err.Error(), ErrLifetime.Error()) {
		t.Fatalf("a century-long offer: got %v, want %v", err, ErrLifetime)
	}
	held := trader.node.localFind(1, 1)
	if len(held) != 1 || held[0].Supplier != victim.node.ID() || held[0].AvailableMB != 300 {
		var got []string
		for _, o := range held {
			got = append(got, fmt.Sprintf("%s/%s %d MB", o.Supplier, o.ID, o.AvailableMB))
		}
		t.Fatalf("trader holds %v, want only the victim's 300 MB offer", got)
	}
	// The victim's own refresh and withdrawal still work.
	if err := put(victim, offer(victim, 280, 2, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if held := trader.node.localFind(1, 1); len(held) != 1 || held[0].AvailableMB != 280 {
		t.Fatalf("victim's refresh not applied: %v", held)
	}
	if _, err := victim.tr.Call(ctx, peer.AddrInfo{ID: trader.node.ID()}, ProtoOffer, body); err != nil {
		t.Fatal(err)
	}
	if n := trader.node.HeldOffers(); n != 0 {
		t.Fatalf("after the victim's withdrawal the trader holds %d offers", n)
	}
}
