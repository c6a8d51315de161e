package sim

import (
	"crypto/sha256"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// Signatures are the simulated world's largest cost: every refresh signs
// each offer twice (to its trader, to the schedulers' backup lists) and
// the receivers verify each copy, an ed25519 check of about 50 µs, a
// million of them per refresh at 100,000 nodes. The ring's code still
// signs and verifies every offer (ring.Offer.Sign, ring.Offer.Verify, the
// production path); what the simulator saves is the curve arithmetic of
// verifying a signature it watched an honest node make.
//
// A simulated node signs with its real ed25519 key through memoKey, which
// records a digest of (public key, message, signature) in sigMemo. Peer
// IDs embed their public keys, so ring.Offer.Verify gets the key through
// libp2p's unmarshaller for ed25519, which the simulator wraps (once, for
// the life of the process) to return memoPub: a verification whose triple
// is recorded is true without the arithmetic; every other one runs the real
// ed25519 check. The answer is therefore the one ed25519.Verify would give
// for every input: ed25519 signatures are deterministic and a signature
// made by Sign always verifies, and a forged or altered offer matches no
// record (128-bit SHA-256 digests) and meets the real check.

// sigMemo holds the digests of the signatures simulated nodes made in the
// last two refresh periods: shards against contention between workers, and
// two generations so it stays bounded (an older signature verified again
// meets the real check).
type sigMemo struct {
	shards [16]struct {
		mu       sync.Mutex
		cur, old map[[16]byte]struct{}
	}
}

var memo = newSigMemo()

func newSigMemo() *sigMemo {
	m := &sigMemo{}
	for i := range m.shards {
		m.shards[i].cur, m.shards[i].old = map[[16]byte]struct{}{}, map[[16]byte]struct{}{}
	}
	return m
}

func sigDigest(pub []byte, data, sig []byte) [16]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(data)
	var sum [32]byte
	var d [16]byte
	copy(d[:], h.Sum(sum[:0]))
	return d
}

func (m *sigMemo) add(d [16]byte) {
	s := &m.shards[d[0]%16]
	s.mu.Lock()
	s.cur[d] = struct{}{}
	s.mu.Unlock()
}

func (m *sigMemo) has(d [16]byte) bool {
	s := &m.shards[d[0]%16]
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.cur[d]
	if !ok {
		_, ok = s.old[d]
	}
	return ok
}

// rotate starts a new generation, dropping the one before the last.
func (m *sigMemo) rotate() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.old, s.cur = s.cur, map[[16]byte]struct{}{}
		s.mu.Unlock()
	}
}

// memoKey is a simulated node's key: real ed25519 signatures, recorded.
type memoKey struct {
	crypto.PrivKey
	pub []byte
}

func newMemoKey(k crypto.PrivKey) (*memoKey, error) {
	pub, err := k.GetPublic().Raw()
	if err != nil {
		return nil, err
	}
	return &memoKey{PrivKey: k, pub: pub}, nil
}

func (k *memoKey) Sign(data []byte) ([]byte, error) {
	sig, err := k.PrivKey.Sign(data)
	if err == nil {
		memo.add(sigDigest(k.pub, data, sig))
	}
	return sig, err
}

// memoPub is an ed25519 public key whose Verify consults the memo first.
type memoPub struct {
	crypto.PubKey
	raw []byte
}

func (k *memoPub) Verify(data, sig []byte) (bool, error) {
	if memo.has(sigDigest(k.raw, data, sig)) {
		return true, nil
	}
	return k.PubKey.Verify(data, sig)
}

var installMemo sync.Once

// useSigMemo makes libp2p hand out memoPub for ed25519 keys. It runs
// before the first simulated node starts; libp2p reads the table without a
// lock, so nothing else in the process may be unmarshalling keys then
// (`faasedge sim` runs nothing else).
func useSigMemo() {
	installMemo.Do(func() {
		crypto.PubKeyUnmarshallers[pb.KeyType_Ed25519] = func(data []byte) (crypto.PubKey, error) {
			k, err := crypto.UnmarshalEd25519PublicKey(data)
			if err != nil {
				return nil, err
			}
			return &memoPub{PubKey: k, raw: data}, nil
		}
	})
}
