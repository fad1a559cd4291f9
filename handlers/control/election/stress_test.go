package election_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/state"
)

// jittery delays every lease request before it reaches the cluster and
// its answer after the cluster applied it, by a random amount; a fraction
// of the answers are lost after the write was applied (the caller sees an
// error, the document changed).
type jittery struct {
	inner *state.Docs
	max   time.Duration
	lose  float64
	// cut: every request fails at once (a network partition of this elector).
	cut atomic.Bool
	mu  sync.Mutex
	rnd *rand.Rand
}

var errCut = errors.New("partitioned")

func (j *jittery) delay(ctx context.Context) error {
	if j.cut.Load() {
		return errCut
	}
	j.mu.Lock()
	d := time.Duration(j.rnd.Int64N(int64(j.max)))
	j.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (j *jittery) lost() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rnd.Float64() < j.lose
}

func (j *jittery) Get(ctx context.Context, key string) (state.Doc, error) {
	if err := j.delay(ctx); err != nil {
		return state.Doc{}, err
	}
	d, err := j.inner.Get(ctx, key)
	if err != nil {
		return d, err
	}
	return d, j.delay(ctx)
}

func (j *jittery) Create(ctx context.Context, key string, v any) (string, error) {
	if err := j.delay(ctx); err != nil {
		return "", err
	}
	return j.inner.Create(ctx, key, v)
}

func (j *jittery) Replace(ctx context.Context, key, rev string, v any) (string, error) {
	if err := j.delay(ctx); err != nil {
		return "", err
	}
	// Applied without the caller's deadline: a request on its way cannot be
	// called back.
	r, err := j.inner.Replace(context.WithoutCancel(ctx), key, rev, v)
	if err != nil {
		return r, err
	}
	if j.lost() {
		return "", context.DeadlineExceeded
	}
	return r, j.delay(ctx)
}

// TestNoSplitBrainWithSlowAndLostAnswers: three electors whose requests
// and answers are delayed at random (up to 30% of the lease each way) and whose
// writes sometimes succeed without the caller learning it, and whose
// leader is cut off from the cluster for 1.5 s (longer than the lease)
// again and again; the monitor checks every 2 ms that at most one believes
// it leads and that no epoch is won twice.
func TestNoSplitBrainWithSlowAndLostAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("about 12 s")
	}
	_, cl := startSim(t)
	docs := state.NewDocs(cl.Coordinator())
	var js []*jittery
	for i := 0; i < 3; i++ {
		js = append(js, &jittery{inner: docs, max: 300 * time.Millisecond, lose: 0.3, rnd: rand.New(rand.NewPCG(1, uint64(i)))})
	}
	g := newGroupOn(t, func(i int) election.Store { return js[i] }, 3, func(c *election.Config) {
		c.LeaseDuration, c.RenewInterval, c.SafetyMargin = time.Second, 200*time.Millisecond, 200*time.Millisecond
		c.RequestTimeout = 500 * time.Millisecond
		c.KeepLeaseOnStop = true
	})
	end := time.Now().Add(10 * time.Second)
	elected := 0
	for time.Now().Before(end) {
		// Partition the leader for 1.5 s (more than the lease): it must
		// step down, another must take over.
		for i, e := range g.els {
			if _, ok := e.Leader(); ok {
				js[i].cut.Store(true)
				time.Sleep(1500 * time.Millisecond) // the partition's length; the monitor checks meanwhile
				js[i].cut.Store(false)
				break
			}
		}
		time.Sleep(500 * time.Millisecond) // the monitor checks meanwhile
		g.check()
	}
	g.mu.Lock()
	elected = len(g.won)
	ev := append([]string(nil), g.events...)
	g.mu.Unlock()
	t.Logf("%d epochs won, %d checks; events %v", elected, g.checks.Load(), ev)
	if elected < 3 {
		t.Fatalf("only %d epochs won: partitioned leaders should have been replaced", elected)
	}
	g.stop()
}

// TestLeaseRetakenAfterLossIsANewTerm: the only master loses its lease (the
// cluster does not answer for longer than the lease) and then takes its
// own lease back. That is a new term: it must have a higher epoch, or the
// planner's fresh message counters of the new term would look older than
// the last term's to the other datacenter (found by the chaos suite: a
// switch back whose stop waited on an inventory it kept ignoring).
func TestLeaseRetakenAfterLossIsANewTerm(t *testing.T) {
	_, cl := startSim(t)
	j := &jittery{inner: state.NewDocs(cl.Coordinator()), max: time.Millisecond, rnd: rand.New(rand.NewPCG(1, 2))}
	g := newGroupOn(t, func(int) election.Store { return j }, 1, func(c *election.Config) {
		c.LeaseDuration, c.RenewInterval, c.SafetyMargin = time.Second, 200*time.Millisecond, 200*time.Millisecond
		c.RequestTimeout = 500 * time.Millisecond
		c.KeepLeaseOnStop = true
	})
	_, first := g.leader(10*time.Second, -1, 1)
	j.cut.Store(true)
	lostBy := time.Now().Add(10 * time.Second)
	for {
		if _, ok := g.els[0].Leader(); !ok {
			break
		}
		if time.Now().After(lostBy) {
			t.Fatal("the master kept its leadership with the cluster unreachable for 10 s")
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a deadline loop
	}
	j.cut.Store(false)
	_, second := g.leader(10*time.Second, -1, 1)
	if second <= first {
		t.Fatalf("the lease taken back after its loss has epoch %d, the lost term had %d: want a higher one", second, first)
	}
	g.stop()
}
