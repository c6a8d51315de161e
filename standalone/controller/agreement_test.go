package controller

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// TestAgreesWithEmulator feeds the same status lists, activations and
// completions to this controller's balancer and to tests/emulator, an
// independent port of the stock controller, and requires the same invoker
// (and the same overload flag) for every activation.
func TestAgreesWithEmulator(t *testing.T) {
	namespaces := []string{"guest", "whisk.system", "alice", "bob", "ns-ü", "team/with/slashes", "polygenelubricants"}
	actions := []string{"hello", "echo", "pkg/resize", "thumbnail", "a", "日本語", "x@y"}
	states := []InvokerState{Healthy, Healthy, Healthy, Healthy, Unhealthy, Unresponsive, Offline}
	memories := []int64{128, 256, 512, 1024, 2048}
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			gen := rand.New(rand.NewPCG(seed, 7))
			pick := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			ours := NewSharding(0.9, 0.1, pick.IntN)
			theirs := emulator.NewBalancer(0.9, 0.1, seed)

			var list []InvokerHealth
			grow := func(n int) {
				for len(list) < n {
					mem := memories[gen.IntN(len(memories))]
					list = append(list, InvokerHealth{ID: whisk.NewInvokerInstanceID(len(list), whisk.ByteSize(mem)*whisk.MB, "", "", nil), Status: Healthy})
				}
			}
			update := func() {
				ours.UpdateInvokers(list)
				em := make([]emulator.InvokerHealth, len(list))
				for i, h := range list {
					em[i] = emulator.InvokerHealth{ID: h.ID.Instance, UserMemoryMB: h.ID.UserMemory.MB(), Status: emulator.InvokerState(h.Status)}
				}
				theirs.UpdateInvokers(em)
			}
			grow(1 + gen.IntN(6))
			update()

			type inflight struct {
				id  int
				req Request
			}
			var running []inflight
			for op := range 400 {
				switch r := gen.IntN(20); {
				case r == 0: // more invokers register
					grow(len(list) + 1 + gen.IntN(3))
					update()
				case r == 1: // an invoker changes state
					list[gen.IntN(len(list))].Status = states[gen.IntN(len(states))]
					update()
				case r < 8 && len(running) > 0: // a completion frees its slot
					i := gen.IntN(len(running))
					f := running[i]
					running = append(running[:i], running[i+1:]...)
					ours.Release(f.id, f.req)
					theirs.Release(f.id, f.req.Action, "0.0.1", f.req.MemoryMB, f.req.MaxConcurrent)
				default:
					ns := namespaces[gen.IntN(len(namespaces))]
					fqn := namespaces[gen.IntN(len(namespaces))] + "/" + actions[gen.IntN(len(actions))]
					req := Request{
						Namespace: ns, Action: fqn, ActionVersion: fqn + "@0.0.1",
						MemoryMB:      int([]int64{128, 256, 512}[gen.IntN(3)]),
						MaxConcurrent: []int{1, 1, 1, 4}[gen.IntN(4)],
						Blackbox:      gen.IntN(10) == 0,
					}
					id, forced, err := ours.Publish(req)
					eid, eforced, ok := theirs.Publish(req.Namespace, req.Action, "0.0.1", req.MemoryMB, req.MaxConcurrent, req.Blackbox)
					if (err == nil) != ok || (ok && (id.Instance != eid || forced != eforced)) {
						t.Fatalf("op %d %+v on %v: ours (%d, forced %v, %v), emulator (%d, forced %v, ok %v)",
							op, req, list, id.Instance, forced, err, eid, eforced, ok)
					}
					if ok {
						running = append(running, inflight{id.Instance, req})
					}
				}
			}
		})
	}
}
