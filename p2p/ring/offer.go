package ring

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Offer is memory a supplier volunteers, as its traders and schedulers see
// it. The supplier signs it with its libp2p key, so a trader cannot forge or
// inflate an offer it passes on.
type Offer struct {
	ID          string   `json:"offerID"`
	Supplier    peer.ID  `json:"supplier"`
	Addrs       []string `json:"addrs,omitempty"`
	AvailableMB int      `json:"available"`
	UsedMB      int      `json:"used"`
	Region      int      `json:"region"`
	// Expiry is Unix milliseconds; a trader drops the offer after it unless
	// the supplier refreshed it, so a supplier that leaves drops out.
	Expiry int64 `json:"expiry"`
	// Seq grows with every refresh so a trader keeps only the newest copy.
	Seq uint64 `json:"seq"`
	Sig []byte `json:"sig,omitempty"`
}

// signingDomain keeps an offer signature from being replayed as a signature
// over anything else the key signs.
const signingDomain = "faasedge-offer/1:"

func (o *Offer) signedBytes() ([]byte, error) {
	c := *o
	c.Sig = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	return append([]byte(signingDomain), b...), nil
}

// Sign sets Sig with the supplier's key.
func (o *Offer) Sign(key crypto.PrivKey) error {
	b, err := o.signedBytes()
	if err != nil {
		return err
	}
	o.Sig, err = key.Sign(b)
	return err
}

// Verify checks the signature against the key embedded in the supplier's
// peer ID, the offer's shape against the region table, and its expiry: not
// past, and at most maxLifetime ahead of now.
func (o *Offer) Verify(rs *Regions, now time.Time, maxLifetime time.Duration) error {
	if o.ID == "" || len(o.ID) > 128 {
		return fmt.Errorf("ring: offer id %q: bad length", o.ID)
	}
	if o.AvailableMB < 1 || o.AvailableMB > MaxOfferMB || o.UsedMB < 0 {
		return fmt.Errorf("ring: offer %s: memory %d/%d MB out of range", o.ID, o.AvailableMB, o.UsedMB)
	}
	if o.Region != rs.For(o.AvailableMB) {
		return fmt.Errorf("ring: offer %s: %d MB is not in region %d", o.ID, o.AvailableMB, o.Region)
	}
	if now.UnixMilli() >= o.Expiry {
		return fmt.Errorf("%w: %s", ErrExpired, o.ID)
	}
	if o.Expiry > now.Add(maxLifetime).UnixMilli() {
		return fmt.Errorf("%w: offer %s expires %s from now, over the %s cap", ErrLifetime, o.ID,
			time.UnixMilli(o.Expiry).Sub(now).Round(time.Second), maxLifetime)
	}
	pub, err := o.Supplier.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: supplier key: %w", ErrBadSignature, err)
	}
	b, err := o.signedBytes()
	if err != nil {
		return err
	}
	ok, err := pub.Verify(b, o.Sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: offer %s from %s", ErrBadSignature, o.ID, o.Supplier)
	}
	return nil
}

func (o *Offer) expired(now time.Time) bool { return now.UnixMilli() >= o.Expiry }
