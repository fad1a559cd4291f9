package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
)

// VerifyOptions tune Verify. The zero value compares everything.
type VerifyOptions struct {
	// Databases to compare; empty means every database of A and B (and the set of
	// databases itself is compared).
	Databases []string
	// LedgerCollection is the collection whose FieldBalance values are summed
	// (default "accounts").
	LedgerCollection string
	// ExpectedLedgerSum, when non-zero, is the sum every database's ledger must have
	// on both sides (Workload.LedgerSum).
	ExpectedLedgerSum int64
	// IgnoreUsers are users whose existence and permissions are not compared
	// (default ["root"]: each cluster keeps its own root).
	IgnoreUsers []string
	// MaxKeysInMemory bounds the document digests held at once per side (default
	// 1,000,000, roughly 130 MB per side): a larger collection is compared in hash
	// partitions, each a full dump of both sides.
	MaxKeysInMemory int
	// MaxSamples is the number of differences of each kind kept in Report.Samples (default 10).
	MaxSamples int
	// DumpChunkBytes is the size of one dump request's answer (default 4 MiB).
	DumpChunkBytes int
}

func (o VerifyOptions) withDefaults() VerifyOptions {
	if o.LedgerCollection == "" {
		o.LedgerCollection = "accounts"
	}
	if o.IgnoreUsers == nil {
		o.IgnoreUsers = []string{"root"}
	}
	if o.MaxKeysInMemory <= 0 {
		o.MaxKeysInMemory = 1_000_000
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = 10
	}
	if o.DumpChunkBytes <= 0 {
		o.DumpChunkBytes = 4 << 20
	}
	return o
}

// DiffKind classifies one difference between A and B.
type DiffKind string

// The kinds of differences.
const (
	// Lost: the document is in A, not in B.
	Lost DiffKind = "lost"
	// Extra: the document is in B, not in A.
	Extra DiffKind = "extra"
	// Mismatched: same key, another _rev or content, and B's version counter is not ahead.
	Mismatched DiffKind = "mismatched"
	// DuplicatedEffect: B's version counter is ahead of A's: a write was applied twice.
	DuplicatedEffect DiffKind = "duplicated-effect"
	// Structure: a database, collection property, index, view, analyzer, user or
	// permission differs.
	Structure DiffKind = "structure"
	// Ledger: a database's ledger sum differs between A and B or from the expected sum.
	Ledger DiffKind = "ledger"
)

// Diff is one difference, with a short description of each side.
type Diff struct {
	Kind       DiffKind
	Database   string
	Collection string
	Key        string // document key, or the name of the object that differs
	A, B       string
}

func (d Diff) String() string {
	where := d.Database
	if d.Collection != "" {
		where += "/" + d.Collection
	}
	if d.Key != "" {
		where += "/" + d.Key
	}
	return fmt.Sprintf("%-17s %s: A=%s B=%s", d.Kind, where, orNone(d.A), orNone(d.B))
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// CollectionReport is the document comparison of one collection.
type CollectionReport struct {
	Database, Collection                      string
	DocsA, DocsB                              int64
	Lost, Extra, Mismatched, DuplicatedEffect int64
	LedgerSumA, LedgerSumB                    int64
	Ledger                                    bool // the collection is the ledger
	Partitions                                int  // hash partitions it was compared in
}

// Report is the result of Verify.
type Report struct {
	Databases, Collections                    int // compared (present on either side)
	DocsA, DocsB                              int64
	Lost, Extra, Mismatched, DuplicatedEffect int64
	StructureDiffs                            int64
	LedgerSumA, LedgerSumB                    int64
	// LedgerDiffs counts the databases whose ledger sums differ between A and B or
	// from VerifyOptions.ExpectedLedgerSum.
	LedgerDiffs   int64
	PerCollection []CollectionReport
	// Samples are up to MaxSamples differences of each kind, sorted.
	Samples []Diff
	Elapsed time.Duration
}

// OK reports whether B equals A: no document or structure difference and equal ledgers.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Extra == 0 && r.Mismatched == 0 && r.DuplicatedEffect == 0 &&
		r.StructureDiffs == 0 && r.LedgerDiffs == 0
}

// Count returns the number of differences of a kind found (samples are capped, counts are not).
func (r *Report) Count(k DiffKind) int64 {
	switch k {
	case Lost:
		return r.Lost
	case Extra:
		return r.Extra
	case Mismatched:
		return r.Mismatched
	case DuplicatedEffect:
		return r.DuplicatedEffect
	case Structure:
		return r.StructureDiffs
	case Ledger:
		return r.LedgerDiffs
	}
	return 0
}

// String renders the report as a table followed by the samples.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "OK: B equals A"
	if !r.OK() {
		verdict = "DIFFERENT: B does not equal A"
	}
	fmt.Fprintf(&b, "%s (%d databases, %d collections, %d/%d documents, %v)\n", verdict, r.Databases,
		r.Collections, r.DocsA, r.DocsB, r.Elapsed.Round(time.Millisecond))
	// The table goes to a strings.Builder: its writes cannot fail.
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "database\tcollection\tdocs A\tdocs B\tlost\textra\tmismatched\tdup-effect\t")
	for _, c := range r.PerCollection {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Database, c.Collection, c.DocsA, c.DocsB,
			c.Lost, c.Extra, c.Mismatched, c.DuplicatedEffect)
	}
	_, _ = fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.DocsA, r.DocsB, r.Lost, r.Extra, r.Mismatched, r.DuplicatedEffect)
	_ = tw.Flush()
	ledger := "ok"
	if r.LedgerDiffs > 0 {
		ledger = fmt.Sprintf("DIFFERENT in %d databases", r.LedgerDiffs)
	}
	fmt.Fprintf(&b, "ledger sum: A=%d B=%d (%s); structure differences: %d\n", r.LedgerSumA, r.LedgerSumB, ledger, r.StructureDiffs)
	for _, d := range r.Samples {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

// sampler keeps the first MaxSamples differences of each kind.
type sampler struct {
	max  int
	seen map[DiffKind]int
	out  []Diff
}

func (s *sampler) add(d Diff) {
	if s.seen == nil {
		s.seen = map[DiffKind]int{}
	}
	if s.seen[d.Kind] < s.max {
		s.out = append(s.out, d)
	}
	s.seen[d.Kind]++
}

// ErrNotConverged is returned by WaitConverged when the deadline passes first.
var ErrNotConverged = errors.New("workload: B did not converge to A before the deadline")

// WaitConverged runs Verify until it reports OK or the deadline passes, waiting
// between rounds with a growing backoff (100 ms to 2 s). A round that starts
// before the deadline is finished, so the result always carries a report when
// one round could be made. It returns the last report; the error is nil when
// converged, wraps ErrNotConverged (with the last report's table, or the last
// round's error) at the deadline, or is ctx's error.
func WaitConverged(ctx context.Context, a, b Cluster, deadline time.Time, opts VerifyOptions) (*Report, error) {
	wait := 100 * time.Millisecond
	var last *Report
	var lastErr error
	for {
		r, err := Verify(ctx, a, b, opts)
		switch {
		case ctx.Err() != nil:
			return last, ctx.Err()
		case err != nil:
			lastErr = err
		case r.OK():
			return r, nil
		default:
			last, lastErr = r, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			switch {
			case lastErr != nil:
				return last, fmt.Errorf("%w: %w", ErrNotConverged, lastErr)
			case last != nil:
				return last, fmt.Errorf("%w:\n%s", ErrNotConverged, last)
			}
			return nil, ErrNotConverged
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Verify compares cluster B with cluster A: the databases, every collection's
// type, numberOfShards, shardKeys and indexes, the views, the analyzers, the users
// and their permissions, and every document key by key (_key, _rev, content and
// the FieldVersion counter), plus the ledger sum of every database. Documents are
// read with the replication dump of each shard (see dumpCollection), in bounded
// memory (VerifyOptions.MaxKeysInMemory). An error means the comparison could not
// be made (unreachable cluster, dump failed); differences are in the Report.
func Verify(ctx context.Context, a, b Cluster, opts VerifyOptions) (*Report, error) {
	if err := errors.Join(a.validate("A"), b.validate("B")); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	start := time.Now()
	ca, err := dial(a)
	if err != nil {
		return nil, err
	}
	defer ca.Close()
	cb, err := dial(b)
	if err != nil {
		return nil, err
	}
	defer cb.Close()
	v := &verifier{a: ca, b: cb, opts: opts, seed: maphash.MakeSeed(), samples: sampler{max: opts.MaxSamples},
		rep: &Report{}}
	if err := v.run(ctx); err != nil {
		return nil, err
	}
	v.rep.Samples = v.samples.out
	slices.SortFunc(v.rep.Samples, func(x, y Diff) int {
		return strings.Compare(string(x.Kind)+"\x00"+x.Database+"\x00"+x.Collection+"\x00"+x.Key,
			string(y.Kind)+"\x00"+y.Database+"\x00"+y.Collection+"\x00"+y.Key)
	})
	v.rep.Elapsed = time.Since(start)
	return v.rep, nil
}

type verifier struct {
	a, b    *client
	opts    VerifyOptions
	seed    maphash.Seed
	samples sampler
	rep     *Report
}

func (v *verifier) diff(d Diff) {
	if d.Kind == Structure {
		v.rep.StructureDiffs++
	}
	v.samples.add(d)
}

func (v *verifier) run(ctx context.Context) error {
	dbs := v.opts.Databases
	if len(dbs) == 0 {
		la, err := listDatabases(ctx, v.a)
		if err != nil {
			return fmt.Errorf("workload: databases of A: %w", err)
		}
		lb, err := listDatabases(ctx, v.b)
		if err != nil {
			return fmt.Errorf("workload: databases of B: %w", err)
		}
		dbs = v.compareNames(la, lb, func(name string, onA bool) Diff {
			return Diff{Kind: Structure, Database: name, A: present(onA), B: present(!onA)}
		})
	}
	v.rep.Databases = len(dbs)
	for _, db := range dbs {
		if err := v.database(ctx, db); err != nil {
			return err
		}
	}
	return v.users(ctx)
}

func present(ok bool) string {
	if ok {
		return "present"
	}
	return "missing"
}

// compareNames reports names on only one side and returns the union, sorted.
func (v *verifier) compareNames(a, b []string, d func(name string, onA bool) Diff) []string {
	union := slices.Concat(a, b)
	slices.Sort(union)
	union = slices.Compact(union)
	for _, n := range union {
		inA, inB := slices.Contains(a, n), slices.Contains(b, n)
		if inA != inB {
			v.diff(d(n, inA))
		}
	}
	return union
}

func (v *verifier) database(ctx context.Context, db string) error {
	colsA, errA := listCollections(ctx, v.a, db)
	colsB, errB := listCollections(ctx, v.b, db)
	if err := notFoundOK(errA); err != nil {
		return fmt.Errorf("workload: collections of %s on A: %w", db, err)
	}
	if err := notFoundOK(errB); err != nil {
		return fmt.Errorf("workload: collections of %s on B: %w", db, err)
	}
	if errA != nil || errB != nil {
		if len(v.opts.Databases) > 0 { // not yet reported by the database list
			v.diff(Diff{Kind: Structure, Database: db, A: present(errA == nil), B: present(errB == nil)})
		}
	}
	names := v.compareNames(colsA, colsB, func(name string, onA bool) Diff {
		return Diff{Kind: Structure, Database: db, Collection: name, A: present(onA), B: present(!onA)}
	})
	v.rep.Collections += len(names)
	var ledgerA, ledgerB int64
	hasLedger := false
	for _, coll := range names {
		inA, inB := slices.Contains(colsA, coll), slices.Contains(colsB, coll)
		if inA && inB {
			if err := v.collectionStructure(ctx, db, coll); err != nil {
				return err
			}
		}
		cr, err := v.documents(ctx, db, coll, inA, inB)
		if err != nil {
			return err
		}
		if cr.Ledger {
			hasLedger = true
			ledgerA += cr.LedgerSumA
			ledgerB += cr.LedgerSumB
		}
	}
	if hasLedger {
		v.rep.LedgerSumA += ledgerA
		v.rep.LedgerSumB += ledgerB
		exp := v.opts.ExpectedLedgerSum
		if ledgerA != ledgerB || (exp != 0 && (ledgerA != exp || ledgerB != exp)) {
			v.rep.LedgerDiffs++
			d := Diff{Kind: Ledger, Database: db, Collection: v.opts.LedgerCollection,
				A: fmt.Sprintf("sum %d", ledgerA), B: fmt.Sprintf("sum %d", ledgerB)}
			if exp != 0 {
				d.A += fmt.Sprintf(" (expected %d)", exp)
				d.B += fmt.Sprintf(" (expected %d)", exp)
			}
			v.diff(d)
		}
	}
	if errA == nil && errB == nil {
		return v.searchObjects(ctx, db)
	}
	return nil
}

func notFoundOK(err error) error {
	if err == nil || isNotFound(err) {
		return nil
	}
	return err
}

// documents compares one collection's documents, in as many hash partitions as
// MaxKeysInMemory needs; in each, both sides are dumped concurrently into digest
// maps which are then compared key by key.
func (v *verifier) documents(ctx context.Context, db, coll string, inA, inB bool) (*CollectionReport, error) {
	cr := CollectionReport{Database: db, Collection: coll, Ledger: coll == v.opts.LedgerCollection}
	var countA, countB int64
	var err error
	if inA {
		if countA, err = count(ctx, v.a, db, coll); err != nil {
			return nil, fmt.Errorf("workload: count %s/%s on A: %w", db, coll, err)
		}
	}
	if inB {
		if countB, err = count(ctx, v.b, db, coll); err != nil {
			return nil, fmt.Errorf("workload: count %s/%s on B: %w", db, coll, err)
		}
	}
	parts := int(max(countA, countB)/int64(v.opts.MaxKeysInMemory)) + 1
	cr.Partitions = parts
	for p := range parts {
		var da, db2 map[string]digest
		g, gctx := errgroup.WithContext(ctx)
		if inA {
			g.Go(func() (err error) { da, err = v.digests(gctx, v.a, db, coll, p, parts); return })
		}
		if inB {
			g.Go(func() (err error) { db2, err = v.digests(gctx, v.b, db, coll, p, parts); return })
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		v.compareDigests(&cr, da, db2)
	}
	v.rep.PerCollection = append(v.rep.PerCollection, cr)
	v.rep.DocsA += cr.DocsA
	v.rep.DocsB += cr.DocsB
	v.rep.Lost += cr.Lost
	v.rep.Extra += cr.Extra
	v.rep.Mismatched += cr.Mismatched
	v.rep.DuplicatedEffect += cr.DuplicatedEffect
	return &v.rep.PerCollection[len(v.rep.PerCollection)-1], nil
}

// digests dumps one side's collection and keeps the documents of partition p.
func (v *verifier) digests(ctx context.Context, c *client, db, coll string, p, parts int) (map[string]digest, error) {
	out := map[string]digest{}
	err := c.dumpCollection(ctx, db, coll, v.opts.DumpChunkBytes, func(doc []byte) error {
		key, d, err := parseDoc(v.seed, doc)
		if err != nil {
			return fmt.Errorf("dumped document of %s/%s: %w: %.200s", db, coll, err, doc)
		}
		if parts > 1 && int(maphash.String(v.seed, key)%uint64(parts)) != p {
			return nil
		}
		out[key] = d
		return nil
	})
	return out, err
}

func (v *verifier) compareDigests(cr *CollectionReport, a, b map[string]digest) {
	diff := func(kind DiffKind, key string, da, db *digest) {
		v.diff(Diff{Kind: kind, Database: cr.Database, Collection: cr.Collection, Key: key, A: describe(da), B: describe(db)})
	}
	cr.DocsA += int64(len(a))
	cr.DocsB += int64(len(b))
	for key, da := range a {
		if cr.Ledger {
			cr.LedgerSumA += da.balance
		}
		db, ok := b[key]
		switch {
		case !ok:
			cr.Lost++
			diff(Lost, key, &da, nil)
		case db.ver > da.ver:
			cr.DuplicatedEffect++
			diff(DuplicatedEffect, key, &da, &db)
		case db.rev != da.rev || db.content != da.content || db.ver != da.ver:
			cr.Mismatched++
			diff(Mismatched, key, &da, &db)
		}
	}
	for key, db := range b {
		if cr.Ledger {
			cr.LedgerSumB += db.balance
		}
		if _, ok := a[key]; !ok {
			cr.Extra++
			diff(Extra, key, nil, &db)
		}
	}
}

func describe(d *digest) string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("_rev %s ver %d content %016x", d.rev, d.ver, d.content)
}

// count returns the number of documents of a collection.
func count(ctx context.Context, c *client, db, coll string) (int64, error) {
	resp, err := c.raw(ctx, http.MethodGet, dbPath(db, "_api/collection/"+url.PathEscape(coll)+"/count"), nil, nil)
	if err != nil {
		return 0, err
	}
	var body struct {
		Count int64 `json:"count"`
	}
	err = json.Unmarshal(resp.body, &body)
	return body.Count, err
}
