package ring

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/p2p"
)

func TestChurnKeepsDiscoveryWorking(t *testing.T) {
	ms := startRing(t, 22, nil)
	for _, m := range ms[1:] {
		if err := m.node.Supply(512); err != nil {
			t.Fatal(err)
		}
	}
	publishAll(t, ms)
	// Kill three suppliers that hold no offers and two traders that do.
	var dead []peer.ID
	var traders, plain int
	for _, m := range ms[1:] {
		switch {
		case m.node.HeldOffers() > 0 && traders < 2:
			traders++
		case m.node.HeldOffers() == 0 && plain < 3:
			plain++
		default:
			continue
		}
		dead = append(dead, m.node.ID())
		m.stop(t)
	}
	if traders < 2 || plain < 3 {
		t.Fatalf("ring too small to churn: %d traders, %d plain", traders, plain)
	}
	var alive []*member
	for _, m := range ms {
		if !slices.Contains(dead, m.node.ID()) {
			alive = append(alive, m)
		}
	}
	// The survivors' next refresh re-homes offers whose trader left, and
	// pushes their free offers to the scheduler (the backup list, the
	// fallback when the few keys tried all miss).
	publishAll(t, alive)
	pushBackups(t, ms[0], alive[1:])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 5 {
		p, err := ms[0].node.Schedule(ctx, "", 200)
		if err != nil {
			t.Fatalf("request %d after churn: %v", i, err)
		}
		if slices.Contains(dead, p.Supplier()) {
			t.Fatalf("request %d placed on dead supplier %s", i, p.Supplier())
		}
	}
}

func TestOffersExpireWhenSupplierLeaves(t *testing.T) {
	// Offers live for 20 refresh periods, so a slow machine never lets a
	// live supplier's offer lapse between two refreshes.
	timers := WithTimers(100*time.Millisecond, 2*time.Second, time.Minute)
	ms := startRing(t, 20, nil, timers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, m := range ms {
		if err := m.node.Supply(512, 1024); err != nil {
			t.Fatal(err)
		}
		m.node.Start(ctx)
		defer m.node.Close(context.Background())
	}
	gone := ms[3]
	// Only live nodes count: a departed node may have been the trader of its
	// own offer, and its frozen tables no longer answer anyone.
	departed := false
	holders := func(id peer.ID) int {
		c := 0
		for _, m := range ms {
			if m == gone && departed {
				continue
			}
			m.node.mu.Lock()
			c += m.node.offersRecv.held(id)
			m.node.mu.Unlock()
		}
		return c
	}
	waitFor(t, func() bool { return holders(gone.node.ID()) == 2 }, "offers published")
	// Leave without withdrawing: the host just dies.
	gone.node.cancel()
	gone.node.wg.Wait()
	gone.stop(t)
	departed = true
	waitFor(t, func() bool { return holders(gone.node.ID()) == 0 }, "offers of the departed supplier expired")
	// Everyone else keeps refreshing.
	waitFor(t, func() bool { return holders(ms[4].node.ID()) == 2 }, "live supplier's offers still held")
}

// waitFor bounds a hang at 20 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, what, cond)
}

func TestBackupListWhenRegionsEmpty(t *testing.T) {
	ms := startRing(t, 20, nil)
	sched := ms[0]
	sup := newMember(t, context.Background(), p2pConfigBoot(ms[0]), WithSchedulers([]peer.AddrInfo{{ID: sched.node.ID(), Addrs: sched.host.Addrs()}}))
	defer sup.stop(t)
	if err := sup.node.Supply(2048); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The supplier pushes to the scheduler but publishes nowhere: every
	// region at every trader is empty.
	if err := sup.node.PushBackup(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		backup bool
	}{{"backup off", false}, {"backup on", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched.node.cfg.backup = tc.backup
			p, err := sched.node.Schedule(ctx, "", 1500)
			if !tc.backup {
				if !errors.Is(err, ErrNoOffer) {
					t.Fatalf("got %v, want ErrNoOffer", err)
				}
				if p.Stats.Tries != DefaultMaxTries {
					t.Fatalf("tries %d, want %d", p.Stats.Tries, DefaultMaxTries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.FromBackup || p.Supplier() != sup.node.ID() {
				t.Fatalf("placement %+v not from the backup list", p)
			}
		})
	}
	// The backup entry still says 2048 MB; the claim now fails at the
	// supplier and the stale entry is dropped.
	if _, err := sched.node.Schedule(ctx, "", 1500); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("second 1500 MB request on a 2048 MB supplier: %v", err)
	}
	if len(sched.node.backupFitting(1)) != 0 {
		t.Fatal("stale backup entry kept after a failed claim")
	}
}

func TestBestFitVersusWorstFit(t *testing.T) {
	ms := startRing(t, 20, nil, oneKeyRegions())
	sizes := []int{300, 400, 500}
	for i, mb := range sizes {
		if err := ms[i+1].node.Supply(mb); err != nil {
			t.Fatal(err)
		}
	}
	publishAll(t, ms)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		policy Policy
		want   int
	}{{BestFit, 300}, {WorstFit, 500}}
	for _, tc := range tests {
		t.Run(tc.policy.String(), func(t *testing.T) {
			sched := ms[4+int(tc.policy)].node
			sched.cfg.policy = tc.policy
			p, err := sched.Schedule(ctx, "", 260)
			if err != nil {
				t.Fatal(err)
			}
			defer sched.Release(ctx, p)
			if p.Offer.AvailableMB != tc.want {
				t.Fatalf("%s placed 260 MB on a %d MB offer, want %d", tc.policy, p.Offer.AvailableMB, tc.want)
			}
		})
	}
}

func TestSchedulerIndexResolves(t *testing.T) {
	ms := startRing(t, 20, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	scheds := append(ms[1].host.FullAddrs(), ms[2].host.FullAddrs()...)
	name, err := PublishIndex(ctx, ms[0].host.DHT, op, scheds, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveIndex(ctx, ms[6].host.DHT, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != ms[1].node.ID() && got[1].ID != ms[1].node.ID() {
		t.Fatalf("resolved %v", got)
	}
	// A newer list replaces the old one.
	if _, err := PublishIndex(ctx, ms[3].host.DHT, op, ms[4].host.FullAddrs(), 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err = ResolveIndex(ctx, ms[7].host.DHT, name)
	if err != nil || len(got) != 1 || got[0].ID != ms[4].node.ID() {
		t.Fatalf("after update resolved %v, %v", got, err)
	}
	// A record signed by anyone but the operator is refused by the DHT.
	other, _, _ := crypto.GenerateEd25519Key(nil)
	forged, _ := IndexName(other.GetPublic())
	if _, err := ResolveIndex(ctx, ms[5].host.DHT, forged); err == nil {
		t.Fatal("resolved a name nobody published")
	}
	if _, err := PublishIndex(ctx, ms[0].host.DHT, op, []string{"not an addr"}, 3, time.Hour); err == nil {
		t.Fatal("published a malformed scheduler address")
	}
}

func p2pConfigBoot(m *member) p2p.Config { return p2p.Config{Bootstrap: m.host.FullAddrs()} }
