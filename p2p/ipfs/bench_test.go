package ipfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
)

// BenchmarkFetchFromPeer fetches a file from one peer on loopback into an
// empty cache, four ways in the same run: Fetch (a CAR stream from the
// direct peer, whose libp2p connection is already up), bitswap alone (what
// Fetch falls back to), a copy of the same bytes over a plain loopback TCP
// connection, and a copy of them over a bare libp2p stream between the same
// two hosts (TLS and yamux: the floor under any fetch over libp2p); and, as
// the other floor, SHA-256 of the same bytes in 256 KiB blocks, the check
// every block of a Kubo-compatible CID needs. The TCP copy is timed twice:
// tcp-ms with the dial, as a fetch from a peer not yet connected would pay,
// and tcp-open-ms on a connection dialled beforehand, asking with one byte,
// as the stream and the libp2p copy ask on an open connection. ns/op is
// Fetch's mean; the medians are stream-ms, bitswap-ms, tcp-ms, tcp-open-ms,
// p2p-ms and sha256-ms, and x-tcp (stream), x-tcp-open (stream),
// bitswap-x-tcp, p2p-x-tcp and sha256-x-tcp their ratios.
//
// Both ends run in this process, so the CPU time each way costs (getrusage,
// user and system, both ends, mean per op) is the figure a loaded machine
// does not blur: stream-cpu-ms, tcp-cpu-ms (with the dial), p2p-cpu-ms and
// sha256-cpu-ms, and cpu-x-tcp the stream's against the TCP copy's. Where
// the cores are busy, a fetch's time follows its CPU time, which cannot be
// less than p2p-cpu-ms plus sha256-cpu-ms.
// bitswap-stalls counts bitswap fetches cut after 10 s and left out.
func BenchmarkFetchFromPeer(b *testing.B) {
	for _, size := range []int{1 << 20, 10 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			ctx := testCtx(b)
			data := patternBytes("bench", size)
			src := newNode(b, p2p.Config{})
			c, err := src.Add(ctx, bytes.NewReader(data), 0)
			if err != nil {
				b.Fatal(err)
			}
			dst := newNode(b, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
			raw := rawServer(b, data)
			src.Host().SetStreamHandler(benchCopy, func(s network.Stream) {
				s.Write(data)
				s.Close()
			})
			buf := make([]byte, size)
			var stream, bitswap, tcp, tcpOpen, p2pCopy, hash []time.Duration
			var streamCPU, tcpCPU, p2pCPU, hashCPU time.Duration
			stalls := 0
			check := func(got []byte, err error) {
				if err != nil || len(got) != size {
					b.Fatalf("fetch: %d bytes, %v", len(got), err)
				}
			}
			b.SetBytes(int64(size))
			b.ResetTimer()
			// Each way starts after a pause, so that none pays for what the
			// previous one left running (bitswap paces messages to a peer
			// 20 ms apart and sends its cancels after a fetch), as between
			// real fetches.
			pause := func() { time.Sleep(50 * time.Millisecond) }
			for range b.N {
				b.StopTimer()
				emptyCache(b, dst)
				pause()
				b.StartTimer()
				cpu := cpuTime(b)
				start := time.Now()
				got, err := dst.Fetch(ctx, c.String())
				stream = append(stream, time.Since(start))
				streamCPU += cpuTime(b) - cpu
				check(got, err)
				b.StopTimer()

				emptyCache(b, dst)
				pause()
				// Now and then boxo's session waits for a block it was never
				// sent until its minute-long rebroadcast; such a fetch is
				// counted (bitswap-stalls), not timed.
				bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				start = time.Now()
				got, err = dst.fetch(bctx, c)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					stalls++
				} else {
					bitswap = append(bitswap, time.Since(start))
					check(got, err)
				}

				pause()
				cpu = cpuTime(b)
				start = time.Now()
				rawCopy(b, dialRaw(b, raw), buf)
				tcp = append(tcp, time.Since(start))
				tcpCPU += cpuTime(b) - cpu

				conn := dialRaw(b, raw)
				pause()
				start = time.Now()
				rawCopy(b, conn, buf)
				tcpOpen = append(tcpOpen, time.Since(start))

				pause()
				cpu = cpuTime(b)
				start = time.Now()
				s, err := dst.Host().NewStream(ctx, src.Host().ID(), benchCopy)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(s, buf); err != nil {
					b.Fatal(err)
				}
				s.Close()
				p2pCopy = append(p2pCopy, time.Since(start))
				p2pCPU += cpuTime(b) - cpu

				pause()
				cpu = cpuTime(b)
				start = time.Now()
				for off := 0; off < size; off += 256 << 10 {
					sha256.Sum256(data[off:min(off+256<<10, size)])
				}
				hash = append(hash, time.Since(start))
				hashCPU += cpuTime(b) - cpu
				b.StartTimer()
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			s, bs, t, to, pc, h := median(stream), median(bitswap), median(tcp), median(tcpOpen), median(p2pCopy), median(hash)
			b.ReportMetric(ms(s), "stream-ms")
			b.ReportMetric(ms(bs), "bitswap-ms")
			b.ReportMetric(ms(t), "tcp-ms")
			b.ReportMetric(ms(to), "tcp-open-ms")
			b.ReportMetric(ms(pc), "p2p-ms")
			b.ReportMetric(ms(h), "sha256-ms")
			b.ReportMetric(float64(s)/float64(t), "x-tcp")
			b.ReportMetric(float64(s)/float64(to), "x-tcp-open")
			b.ReportMetric(float64(bs)/float64(t), "bitswap-x-tcp")
			b.ReportMetric(float64(pc)/float64(t), "p2p-x-tcp")
			b.ReportMetric(float64(h)/float64(t), "sha256-x-tcp")
			b.ReportMetric(float64(stalls), "bitswap-stalls")
			perOp := func(d time.Duration) float64 { return ms(d) / float64(b.N) }
			b.ReportMetric(perOp(streamCPU), "stream-cpu-ms")
			b.ReportMetric(perOp(tcpCPU), "tcp-cpu-ms")
			b.ReportMetric(perOp(p2pCPU), "p2p-cpu-ms")
			b.ReportMetric(perOp(hashCPU), "sha256-cpu-ms")
			b.ReportMetric(float64(streamCPU)/float64(tcpCPU), "cpu-x-tcp")
		})
	}
}

// benchCopy is the bare libp2p stream BenchmarkFetchFromPeer copies on.
const benchCopy = "/faasedge-bench/copy/1.0.0"

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawServer serves data on loopback to every connection that asks with a
// byte.
func rawServer(b *testing.B, data []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := conn.Read(make([]byte, 1)); err == nil {
					conn.Write(data)
				}
			}()
		}
	}()
	return l.Addr().String()
}

func dialRaw(b *testing.B, addr string) net.Conn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

// rawCopy asks rawServer for its data on conn, reads it into buf and closes
// conn.
func rawCopy(b *testing.B, conn net.Conn, buf []byte) {
	defer conn.Close()
	if _, err := conn.Write([]byte{0}); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(conn, buf); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func emptyCache(b testing.TB, n *Node) {
	ctx := context.Background()
	keys, err := n.store.AllKeysChan(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for k := range keys {
		if err := n.store.DeleteBlock(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdStartByCID runs an action whose code is a CID this executor
// has never seen and a connected peer holds: fetch, compile, instantiate,
// run. Each iteration's module differs by a custom section, so its CID does.
func BenchmarkColdStartByCID(b *testing.B) {
	paced(b, benchColdStart)
}

// paced runs a cold-start benchmark twice: "isolated" lets the link to the
// peer go idle for 50 ms between runs (untimed), as between real cold
// starts; "back-to-back" does not, so each fetch also waits out bitswap's
// minimum 20 ms between two messages to the same peer (boxo's messagequeue,
// not configurable), which the previous fetch's cancel message started.
func paced(b *testing.B, bench func(*testing.B, time.Duration)) {
	b.Run("isolated", func(b *testing.B) { bench(b, 50*time.Millisecond) })
	b.Run("back-to-back", func(b *testing.B) { bench(b, 0) })
}

func pace(b *testing.B, pause time.Duration) {
	if pause > 0 {
		b.StopTimer()
		time.Sleep(pause)
		b.StartTimer()
	}
}

func benchColdStart(b *testing.B, pause time.Duration) {
	ctx := testCtx(b)
	src := newNode(b, p2p.Config{})
	dst := newNode(b, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
	ex, err := executor.New(ctx, executor.WithFetcher(dst))
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close(context.WithoutCancel(ctx))
	echo := wasmtest.WATModule(b, "echo")
	codes := make([][]byte, b.N)
	for i := range codes {
		c, err := src.Add(ctx, bytes.NewReader(withCustomSection(echo, uint64(i))), 1)
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = []byte(Scheme + c.String())
	}
	b.ResetTimer()
	for i := range b.N {
		pace(b, pause)
		a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "echo"}, Kind: "wasm:wasip1",
			Code: activation.ParseCode(codes[i], false), Limits: whisk.Limits{Timeout: 10_000, Memory: 128, Logs: 10}}
		res := ex.Run(ctx, a, activation.Invocation{})
		if res.Response.StatusCode != whisk.StatusSuccess || !res.Cold {
			b.Fatalf("status %s cold %v: %s", res.Response.StatusCode, res.Cold, res.Response.Result)
		}
	}
}

// withCustomSection appends a custom section "n" holding i to a module.
func withCustomSection(module []byte, i uint64) []byte {
	payload := binary.AppendUvarint([]byte{1, 'n'}, i)
	out := append(bytes.Clone(module), 0)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}
