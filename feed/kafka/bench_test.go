package kafka

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// faasedgeBinary builds cmd/faasedge once per test binary run: the
// provider is measured as its own process.
func faasedgeBinary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kafkafeed-bench")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "faasedge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/faasedge")
		cmd.Dir = testenv.ModuleRoot(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// procProvider is `faasedge kafkafeed` running as a child process.
type procProvider struct {
	runningProvider
	cmd *exec.Cmd
}

func (e *env) startProcess(b *testing.B) *procProvider {
	port := testenv.FreePort(b)
	cmd := exec.Command(faasedgeBinary(b), "kafkafeed")
	cmd.Env = append(os.Environ(), "DB_URL="+e.pouch.URL, "API_HOST="+e.api.srv.URL, "PORT="+strconv.Itoa(port))
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("provider output:\n%s", logs.String())
		}
	})
	p := &procProvider{runningProvider: runningProvider{brokers: e.kafka.ListenAddrs(), url: fmt.Sprintf("http://127.0.0.1:%d", port)}, cmd: cmd}
	waitFor(b, "the provider's /health", func() bool {
		resp, err := http.Get(p.url + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p
}

// usage is the process's resident memory (bytes) and CPU time so far.
func (p *procProvider) usage(b *testing.B) (rss int64, cpu time.Duration) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat, in clock ticks (100 Hz)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return rss, time.Duration(utime+stime) * 10 * time.Millisecond
}

func (a *whiskAPI) totalDelivered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// BenchmarkThroughput measures messages per second through the provider
// (its own process) to a loopback fire endpoint, with 1 and 100 triggers
// (one topic each), and the provider's RSS and CPU. Memory per idle
// trigger is the RSS growth from none to 100 running idle triggers.
func BenchmarkThroughput(b *testing.B) {
	for _, triggers := range []int{1, 100} {
		b.Run(fmt.Sprintf("triggers=%d", triggers), func(b *testing.B) {
			topics := make([]string, triggers)
			for i := range topics {
				topics[i] = fmt.Sprintf("tp%d", i)
			}
			e := newBenchEnv(b, topics...)
			p := e.startProcess(b)
			idleRSS, _ := p.usage(b)
			uuids := make([]string, triggers)
			for i := range topics {
				uuids[i] = p.createTrigger(b, fmt.Sprintf("t%d", i), topics[i], nil)
			}
			for _, u := range uuids {
				p.waitState(b, u, stateRunning)
			}
			time.Sleep(2 * time.Second) // settle the groups' heartbeats
			withRSS, _ := p.usage(b)

			// Large rounds: each ends with the consumers' 1 s idle stop.
			const perRound = 200000
			value := bytes.Repeat([]byte("x"), 100)
			b.ResetTimer()
			start := time.Now()
			_, cpu0 := p.usage(b)
			for round := 0; round < b.N; round++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				var wg sync.WaitGroup
				for i := range perRound {
					wg.Add(1)
					e.kcl.Produce(ctx, &kgo.Record{Topic: topics[i%triggers], Value: value}, func(_ *kgo.Record, err error) {
						if err != nil {
							b.Errorf("produce: %v", err)
						}
						wg.Done()
					})
				}
				wg.Wait()
				cancel()
				want := (round + 1) * perRound
				waitFor(b, fmt.Sprintf("%d messages delivered", want), func() bool { return e.api.totalDelivered() >= want })
			}
			elapsed := time.Since(start)
			rss, cpu1 := p.usage(b)
			b.StopTimer()
			b.ReportMetric(float64(withRSS-idleRSS)/float64(triggers)/1024, "KB-RSS/idle-trigger")
			b.ReportMetric(float64(b.N*perRound)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(rss)/(1<<20), "MB-RSS")
			b.ReportMetric(100*(cpu1-cpu0).Seconds()/elapsed.Seconds(), "%CPU")
		})
	}
}

// newBenchEnv is newEnv for benchmarks, with a producer tuned for volume.
func newBenchEnv(b *testing.B, topics ...string) *env {
	e := &env{kafka: testenv.Kafka(b, topics...), pouch: testenv.StartPouchDB(b), api: newWhiskAPI(b)}
	e.api.count = true
	var err error
	if e.kcl, err = kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.kcl.Close)
	return e
}
