package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestSigMemoKeepsEd25519Answers checks that verifying through the memo
// answers what ed25519 answers: true for a recorded signature, for a valid
// one never recorded and for one whose record was rotated out; false for
// altered data, an altered signature and another node's key.
func TestSigMemoKeepsEd25519Answers(t *testing.T) {
	useSigMemo()
	rnd := rand.New(rand.NewPCG(9, 9))
	keyOf := func() (*memoKey, crypto.PubKey) {
		k, _, err := crypto.GenerateEd25519Key(randReader{rnd})
		if err != nil {
			t.Fatal(err)
		}
		mk, err := newMemoKey(k)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(mk)
		if err != nil {
			t.Fatal(err)
		}
		// The way ring.Offer.Verify gets the key: out of the peer ID.
		pub, err := id.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pub.(*memoPub); !ok {
			t.Fatalf("peer ID key is a %T, not the memo's", pub)
		}
		return mk, pub
	}
	a, aPub := keyOf()
	_, bPub := keyOf()
	data := []byte("faasedge-offer/1:{\"offerID\":\"x\"}")
	sig, err := a.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by the plain key: valid, but never recorded.
	plainSig, err := a.PrivKey.Sign([]byte("unrecorded"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	check := func(when string) {
		for _, tc := range []struct {
			name      string
			pub       crypto.PubKey
			data, sig []byte
			want      bool
		}{
			{"signed", aPub, data, sig, true},
			{"valid, unrecorded", aPub, []byte("unrecorded"), plainSig, true},
			{"data altered", aPub, flip(data, 5), sig, false},
			{"signature altered", aPub, data, flip(sig, 40), false},
			{"another key", bPub, data, sig, false},
		} {
			if ok, _ := tc.pub.Verify(tc.data, tc.sig); ok != tc.want {
				t.Fatalf("%s: %s: verified %v, want %v", when, tc.name, ok, tc.want)
			}
		}
	}
	check("recorded")
	memo.rotate()
	memo.rotate()
	check("rotated out")
}
