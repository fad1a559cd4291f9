package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// The replication benchmark's data: one database of benchCollections
// collections with benchShards shards each (replication factor 2), 1 KiB
// documents {_key, ver, ts, pad} whose padding is random letters and digits
// (it hardly compresses, like the pipeline benchmark's).
const (
	benchDB          = "bench"
	benchCollections = 3
	benchShards      = 4
)

func collName(i int) string { return fmt.Sprintf("docs%d", i+1) }

// padPool is random text documents take their padding from (at a random
// offset), so building a document costs no random generation.
var padPool = func() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(7, 11))
	b := make([]byte, 1<<16)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}()

// padBytes makes a document's JSON about docBytes long (the other fields and
// the key take about 90 bytes).
const padBytes = docBytes - 90

// arangoOf connects to a datacenter's cluster as superuser.
func arangoOf(b *testing.B, dc *harness.DC) *client.Client {
	b.Helper()
	cl, err := client.New(client.Config{Endpoints: dc.Coordinators, JWTSecret: dc.JWTSecret, RequestTimeout: 30 * time.Second})
	if err != nil {
		b.Fatalf("connect to cluster %s: %v", dc.Name, err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// loader writes the benchmark's documents into A.
type loader struct {
	colls   []driver.Collection
	writers int
	batch   int
}

// newLoader creates the database and its collections in A.
func newLoader(b *testing.B, cl *client.Client, writers, batch int) *loader {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := cl.Driver()
	db, err := d.CreateDatabase(ctx, benchDB, nil)
	if err != nil {
		b.Fatalf("create database %s in A: %v", benchDB, err)
	}
	l := &loader{writers: writers, batch: batch}
	for i := range benchCollections {
		c, err := db.CreateCollection(ctx, collName(i), &driver.CreateCollectionOptions{NumberOfShards: benchShards, ReplicationFactor: 2})
		if err != nil {
			b.Fatalf("create collection %s/%s in A: %v", benchDB, collName(i), err)
		}
		l.colls = append(l.colls, c)
	}
	return l
}

// loadResult is what one load wrote.
type loadResult struct {
	docs    int64
	elapsed time.Duration
	errors  int64
	lastErr error
}

func (r loadResult) rate() float64 { return float64(r.docs) / r.elapsed.Seconds() }

// run writes batches of new documents (keys "<prefix>-<writer>-<n>") with
// l.writers concurrent writers until ctx ends or maxDocs were written (0:
// no bound), at rate documents/s (0: as fast as A takes them). A failed
// batch is counted and not retried (its documents may or may not exist:
// the benchmark compares A and B, not A with what it meant to write).
func (l *loader) run(ctx context.Context, prefix string, rate float64, maxDocs int64) loadResult {
	var (
		written, errs atomic.Int64
		mu            sync.Mutex
		lastErr       error
		wg            sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tokens chan struct{}
	if rate > 0 {
		tokens = make(chan struct{}, l.writers)
		go pace(ctx, tokens, rate/float64(l.batch))
	}
	start := time.Now()
	for w := range l.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for n := 0; ; n++ {
				if tokens != nil {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
				}
				if ctx.Err() != nil {
					return
				}
				docs := make([]map[string]any, l.batch)
				now := time.Now().UnixNano()
				for i := range docs {
					off := r.IntN(len(padPool) - padBytes)
					docs[i] = map[string]any{"_key": fmt.Sprintf("%s-%d-%d-%d", prefix, w, n, i), "ver": 1, "ts": now, "pad": padPool[off : off+padBytes]}
				}
				c := l.colls[r.IntN(len(l.colls))]
				_, derrs, err := c.CreateDocuments(context.WithoutCancel(ctx), docs)
				if err == nil {
					for _, e := range derrs {
						if e != nil {
							err = e
							break
						}
					}
				}
				if err != nil {
					errs.Add(1)
					mu.Lock()
					lastErr = err
					mu.Unlock()
					continue
				}
				if v := written.Add(int64(len(docs))); maxDocs > 0 && v >= maxDocs {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	return loadResult{docs: written.Load(), elapsed: time.Since(start), errors: errs.Load(), lastErr: lastErr}
}

// pace hands out perSecond tokens a second; tokens nobody takes are dropped
// (a saturated A lowers the achieved rate instead of building a backlog).
func pace(ctx context.Context, tokens chan<- struct{}, perSecond float64) {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	acc := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		acc += perSecond * tick.Seconds()
		for acc >= 1 {
			select {
			case tokens <- struct{}{}:
				acc--
			default:
				acc = 0
			}
		}
	}
}

// countDocs is the number of documents in the benchmark's collections of a
// cluster.
func countDocs(ctx context.Context, cl *client.Client) (int64, error) {
	db, err := cl.Driver().Database(ctx, benchDB)
	if err != nil {
		return 0, err
	}
	var total int64
	for i := range benchCollections {
		c, err := db.Collection(ctx, collName(i))
		if err != nil {
			return 0, err
		}
		n, err := c.Count(ctx)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// probeLags writes one probe document into A every interval (each its own
// insert) until ctx ends, and polls B for it every poll until it is there
// (or maxWait passed, counted as missed). A probe's lag is the time from
// A's acknowledgement of its insert to the first read in B that finds it
// (the poll interval is the resolution). At most a few probes poll at once,
// so B sees a few reads per 10 ms, not a load. slow, when set, is called for
// every probe whose lag exceeds a second, with the probe's key and the time
// A acknowledged it, so a stall can be found in the processes' logs.
func probeLags(ctx context.Context, a, bcl *client.Client, interval, poll, maxWait time.Duration, slow func(key string, written time.Time, lag time.Duration)) (lags []time.Duration, missed int, err error) {
	dbA, err := a.Driver().Database(ctx, benchDB)
	if err != nil {
		return nil, 0, err
	}
	dbB, err := bcl.Driver().Database(context.WithoutCancel(ctx), benchDB)
	if err != nil {
		return nil, 0, err
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return lags, missed, nil
		case <-t.C:
		}
		name := collName(i % benchCollections)
		ca, err := dbA.Collection(ctx, name)
		if err != nil {
			continue
		}
		key := fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i)
		if _, err := ca.CreateDocument(ctx, map[string]any{"_key": key, "ver": 1, "ts": time.Now().UnixNano()}); err != nil {
			continue
		}
		written := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			bctx, cancel := context.WithTimeout(context.Background(), maxWait)
			defer cancel()
			tk := time.NewTicker(poll)
			defer tk.Stop()
			var cb driver.Collection // exists in B once the sync runs
			for {
				if cb == nil {
					cb, _ = dbB.Collection(bctx, name)
				}
				if cb != nil {
					var doc map[string]any
					if _, err := cb.ReadDocument(bctx, key, &doc); err == nil {
						lag := time.Since(written)
						mu.Lock()
						lags = append(lags, lag)
						mu.Unlock()
						if slow != nil && lag > time.Second {
							slow(key, written, lag)
						}
						return
					}
				}
				select {
				case <-bctx.Done():
					mu.Lock()
					missed++
					mu.Unlock()
					return
				case <-tk.C:
				}
			}
		}()
	}
}
