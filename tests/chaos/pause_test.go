package chaos_test

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/tests/harness"
)

// masterLease is the masters' election lease (fastMasters).
const masterLease = 3 * time.Second

// pausedProc pauses p (SIGSTOP) and returns the function that resumes it
// (SIGCONT), idempotent: the fault calls it when the pause is over, the
// runner again as the repair; restoreAll resumes whatever is still
// paused, and every Proc.Stop sends SIGCONT first.
func pausedProc(p *harness.Proc) (resume func() error, err error) {
	if err := p.PauseErr(); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { err = p.ResumeErr() })
		return err
	}, nil
}

// pauseLeaderMaster pauses the leader master of a datacenter until another
// master leads and twice the lease passed: the paused one wakes up
// believing it leads. It must not act on that stale leadership (the data
// comparison after the run: nothing lost or applied twice) and there must
// be one leader afterwards, not two.
func pauseLeaderMaster(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		dc := r.dc(dcName)
		old, epoch, err := currentLeader(dc)
		if err != nil {
			return nil, err
		}
		r.involve(old.Proc)
		resume, err := pausedProc(old.Proc)
		if err != nil {
			return nil, err
		}
		paused := time.Now()
		nl, ne, err := newLeader(dc, old, epoch, "paused")
		if err != nil {
			return resume, fmt.Errorf("no new leader in %s while %s was paused: %w", dcName, old.ID, err)
		}
		r.involve(nl.Proc)
		r.notef("%s: %s (epoch %d) paused, %s leads (epoch %d) after %v", dcName, old.ID, epoch, nl.ID, ne,
			time.Since(paused).Round(100*time.Millisecond))
		if d := 2*masterLease - time.Since(paused); d > 0 {
			r.hold(d)
		}
		if err := resume(); err != nil {
			return resume, err
		}
		woke := time.Now()
		// One leader afterwards: the woken master steps down instead of
		// leading beside the new one. Answers of two leaders, or of the old
		// one with its old epoch, are counted until it settles.
		var stale []string
		err = poll(20*time.Second, 100*time.Millisecond, func() (bool, string) {
			ctx, cancel := ctxFor(3 * time.Second)
			defer cancel()
			l, e, err := dc.Leader(ctx)
			if err != nil {
				if strings.Contains(err.Error(), "answer as leader") {
					stale = append(stale, err.Error())
				}
				return false, err.Error()
			}
			if l == old && e <= epoch {
				stale = append(stale, fmt.Sprintf("%s answers as leader with its old epoch %d", l.ID, e))
				return false, stale[len(stale)-1]
			}
			if e < ne {
				return false, fmt.Sprintf("%s leads with epoch %d, below the new leader's %d", l.ID, e, ne)
			}
			return true, ""
		})
		if len(stale) > 0 {
			r.notef("%s: %d stale leadership answers after %s woke (first: %s)", dcName, len(stale), old.ID, stale[0])
		}
		if err != nil {
			return resume, fmt.Errorf("%s: no single leader after %s woke up: %w", dcName, old.ID, err)
		}
		l, e, _ := currentLeader(dc)
		if l != nil {
			r.notef("%s: %s woke after %v paused; one leader %v later: %s (epoch %d)", dcName, old.ID,
				woke.Sub(paused).Round(100*time.Millisecond), time.Since(woke).Round(100*time.Millisecond), l.ID, e)
		}
		return resume, nil
	}
}

// currentLeader polls for the datacenter's leader (20 s).
func currentLeader(dc *harness.DC) (*harness.Member, uint64, error) {
	var (
		l *harness.Member
		e uint64
	)
	err := poll(20*time.Second, 100*time.Millisecond, func() (bool, string) {
		ctx, cancel := ctxFor(3 * time.Second)
		defer cancel()
		var err error
		l, e, err = dc.Leader(ctx)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s's leader: %w", dc.Name, err)
	}
	return l, e, nil
}

// pauseWorker pauses the busiest worker of a datacenter for at least the
// pause (longer than B's Kafka session timeout of 3 s) and until its
// master saw it die, so its tasks (A) or partitions (B) move; woken up, it
// must not apply or send what it held before (the data comparison), and
// it must come back alive for its master.
func pauseWorker(dcName string) func(r *run) (func() error, error) {
	return func(r *run) (func() error, error) {
		dc := r.dc(dcName)
		w := r.victimWorker(dc)
		r.involve(w.Proc)
		if l, _, err := currentLeader(dc); err == nil {
			r.involve(l.Proc)
		}
		resume, err := pausedProc(w.Proc)
		if err != nil {
			return nil, err
		}
		paused := time.Now()
		cl := dc.Client(r.t)
		defer cl.Close()
		alive := func() (bool, string) {
			ctx, cancel := ctxFor(3 * time.Second)
			defer cancel()
			ws, err := cl.Workers(ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, x := range ws.Workers {
				if x.ID == w.ID {
					return x.Alive, fmt.Sprintf("%s alive=%v", w.ID, x.Alive)
				}
			}
			return false, w.ID + " is not listed"
		}
		if err := poll(30*time.Second, 200*time.Millisecond, func() (bool, string) {
			ok, msg := alive()
			return !ok, msg
		}); err != nil {
			r.notef("%s: the master did not mark the paused %s dead: %v", dcName, w.ID, err)
		} else {
			r.notef("%s: %s paused, dead for the master after %v", dcName, w.ID, time.Since(paused).Round(100*time.Millisecond))
		}
		if d := r.s.opts.pause - time.Since(paused); d > 0 {
			r.hold(d)
		}
		if err := resume(); err != nil {
			return resume, err
		}
		woke := time.Now()
		if err := poll(60*time.Second, 200*time.Millisecond, alive); err != nil {
			return resume, fmt.Errorf("%s: %s is not alive for its master within 60 s of waking: %w", dcName, w.ID, err)
		}
		r.notef("%s: %s woke after %v paused, alive again after %v", dcName, w.ID,
			woke.Sub(paused).Round(100*time.Millisecond), time.Since(woke).Round(100*time.Millisecond))
		return resume, nil
	}
}

// pauseMirror pauses the mirror of the phase's direction for the pause
// (longer than its consumer group's 3 s session).
func pauseMirror(r *run) (func() error, error) {
	m := r.mirror()
	r.involve(m)
	resume, err := pausedProc(m)
	if err != nil {
		return nil, err
	}
	r.hold(r.s.opts.pause)
	r.notef("%s paused for %v", m.Name(), r.s.opts.pause)
	return resume, resume()
}

// newLeader waits up to 30 s until another master than old leads dc with an
// epoch above epoch; what says what happened to old (for the wait's
// message).
func newLeader(dc *harness.DC, old *harness.Member, epoch uint64, what string) (*harness.Member, uint64, error) {
	var (
		nl *harness.Member
		ne uint64
	)
	err := poll(30*time.Second, 100*time.Millisecond, func() (bool, string) {
		ctx, cancel := ctxFor(3 * time.Second)
		defer cancel()
		l, e, err := dc.Leader(ctx)
		if err != nil {
			return false, err.Error()
		}
		if l == old || e <= epoch {
			return false, fmt.Sprintf("%s leads with epoch %d (%s: %s, epoch %d)", l.ID, e, what, old.ID, epoch)
		}
		nl, ne = l, e
		return true, ""
	})
	return nl, ne, err
}
