package workload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/tests/arangosim"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// runFor runs the workload for d and returns its stats.
func runFor(t *testing.T, w *Workload, d time.Duration) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return w.Stats()
}

func newWorkload(t *testing.T, cfg Config) *Workload {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return w
}

func TestCopyVerifiesThenEveryDivergenceIsClassified(t *testing.T) {
	ctx := context.Background()
	_, a := startSim(t, arangosim.Config{JWTSecret: "secret-a"})
	_, b := startSim(t, arangosim.Config{JWTSecret: "secret-b"})
	cfg := Config{Cluster: a, Accounts: 50, Rate: 400, Workers: 4, Seed: 7, DocBytes: 64}
	w := newWorkload(t, cfg)
	st := runFor(t, w, 2*time.Second)
	t.Logf("A: %v", st)
	if st.Inserted == 0 || st.Updated == 0 || st.Replaced == 0 || st.Removed == 0 || st.Transferred == 0 ||
		st.Edges == 0 || st.Bulks == 0 {
		t.Fatalf("every kind of operation must have run: %v", st)
	}
	if st.Failed != 0 || st.Conflicts != 0 {
		t.Fatalf("no fault was injected, yet: %v", st)
	}

	// B: the same structure (Setup), then every document copied verbatim.
	cfgB := cfg
	cfgB.Cluster = b
	newWorkload(t, cfgB)
	dbs := w.Config().Databases
	copied := copyDocuments(t, a, b, dbs)
	opts := w.VerifyOptions()
	rep, err := Verify(ctx, a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after copy:\n%s", rep)
	if !rep.OK() {
		t.Fatalf("a verbatim copy must verify:\n%s", rep)
	}
	if want := countAll(t, a, dbs); rep.DocsA != want || rep.DocsB != want || int64(copied) != want {
		t.Fatalf("DocsA=%d DocsB=%d copied=%d, but A counts %d documents", rep.DocsA, rep.DocsB, copied, want)
	}
	if rep.Databases != 3 || rep.Collections != 6 { // _system, shop, bank; 3 collections in each of 2
		t.Fatalf("Databases=%d Collections=%d", rep.Databases, rep.Collections)
	}
	if rep.LedgerSumA != 2*w.LedgerSum() || rep.LedgerSumB != rep.LedgerSumA {
		t.Fatalf("ledger sums A=%d B=%d, want %d", rep.LedgerSumA, rep.LedgerSumB, 2*w.LedgerSum())
	}

	// The same with a tiny memory budget: several hash partitions, same result.
	small := opts
	small.MaxKeysInMemory = 50
	rep2, err := Verify(ctx, a, b, small)
	if err != nil || !rep2.OK() || rep2.DocsA != rep.DocsA {
		t.Fatalf("partitioned Verify: %v\n%s", err, rep2)
	}
	if !slices.ContainsFunc(rep2.PerCollection, func(c CollectionReport) bool { return c.Partitions > 1 }) {
		t.Fatal("MaxKeysInMemory=50 must split some collection into partitions")
	}

	// Inject one divergence of each kind into B.
	cb := testClient(t, b)
	ordersOf := func(c Cluster) []string {
		d := accountsOf(t, c, "shop", "orders")
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	orders := ordersOf(a)
	if len(orders) < 4 {
		t.Fatalf("only %d orders in shop", len(orders))
	}
	lost, reRev, bumped := orders[0], orders[1], orders[2]
	shop, err := cb.Database(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	bOrders, _ := shop.Collection(ctx, "orders")
	bAccounts, _ := shop.Collection(ctx, "accounts")
	if _, err := bOrders.RemoveDocument(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := bOrders.CreateDocument(driver.WithIsRestore(ctx, true),
		map[string]any{"_key": "extra-1", "customer": "a000001", "seq": "x", FieldVersion: 1}); err != nil {
		t.Fatal(err)
	}
	// Same content, another _rev (isRestore keeps the _rev we give).
	var doc map[string]any
	if _, err := bOrders.ReadDocument(ctx, reRev, &doc); err != nil {
		t.Fatal(err)
	}
	doc["_rev"] = "_zzzzzzz---"
	if _, err := bOrders.ReplaceDocument(driver.WithIsRestore(ctx, true), reRev, doc); err != nil {
		t.Fatal(err)
	}
	// The version counter one ahead: a write applied twice.
	var o storedOrder
	if _, err := bOrders.ReadDocument(ctx, bumped, &o); err != nil {
		t.Fatal(err)
	}
	if _, err := bOrders.UpdateDocument(ctx, bumped, map[string]any{FieldVersion: o.Ver + 1}); err != nil {
		t.Fatal(err)
	}
	// A changed balance: the ledger sum of shop differs.
	var acc account
	if _, err := bAccounts.ReadDocument(ctx, accountKey(3), &acc); err != nil {
		t.Fatal(err)
	}
	if _, err := bAccounts.UpdateDocument(ctx, accountKey(3), map[string]any{FieldBalance: acc.Balance + 5}); err != nil {
		t.Fatal(err)
	}
	// A missing index and a collection with another numberOfShards.
	idx, err := bAccounts.Indexes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ix := range idx {
		if ix.UserName() == indexOwner {
			if err := ix.Remove(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	ca := testClient(t, a)
	shopA, _ := ca.Database(ctx, "shop")
	if _, err := shopA.CreateCollection(ctx, "sharded", &driver.CreateCollectionOptions{NumberOfShards: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := shop.CreateCollection(ctx, "sharded", &driver.CreateCollectionOptions{NumberOfShards: 3}); err != nil {
		t.Fatal(err)
	}

	rep, err = Verify(ctx, a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the divergences:\n%s", rep)
	if rep.OK() {
		t.Fatal("divergent B verified OK")
	}
	if rep.Lost != 1 || rep.Extra != 1 || rep.Mismatched != 2 || rep.DuplicatedEffect != 1 || rep.StructureDiffs != 2 {
		t.Fatalf("counts: lost=%d extra=%d mismatched=%d dup=%d structure=%d; want 1 1 2 1 2",
			rep.Lost, rep.Extra, rep.Mismatched, rep.DuplicatedEffect, rep.StructureDiffs)
	}
	if rep.LedgerDiffs != 1 || rep.LedgerSumB != rep.LedgerSumA+5 {
		t.Fatalf("ledger: diffs=%d A=%d B=%d", rep.LedgerDiffs, rep.LedgerSumA, rep.LedgerSumB)
	}
	want := []Diff{
		{Kind: Lost, Database: "shop", Collection: "orders", Key: lost},
		{Kind: Extra, Database: "shop", Collection: "orders", Key: "extra-1"},
		{Kind: Mismatched, Database: "shop", Collection: "orders", Key: reRev},
		{Kind: Mismatched, Database: "shop", Collection: "accounts", Key: accountKey(3)},
		{Kind: DuplicatedEffect, Database: "shop", Collection: "orders", Key: bumped},
		{Kind: Structure, Database: "shop", Collection: "accounts", Key: "index " + indexOwner},
		{Kind: Structure, Database: "shop", Collection: "sharded", Key: "property numberOfShards"},
		{Kind: Ledger, Database: "shop", Collection: "accounts"},
	}
	for _, d := range want {
		if !slices.ContainsFunc(rep.Samples, func(s Diff) bool {
			return s.Kind == d.Kind && s.Database == d.Database && s.Collection == d.Collection &&
				(d.Kind == Ledger || s.Key == d.Key)
		}) {
			t.Errorf("missing sample %v", d)
		}
	}
	if len(rep.Samples) != len(want) {
		t.Errorf("samples = %d, want %d:\n%s", len(rep.Samples), len(want), rep)
	}
	for _, s := range []string{"DIFFERENT", "lost", "duplicated-effect", "shop", "orders", "ledger sum"} {
		if !strings.Contains(rep.String(), s) {
			t.Errorf("String() lacks %q", s)
		}
	}
}

// TestRunWith503sKeepsTheLedger injects bursts of 503s into A's Coordinator
// (transactions and documents) while the workload runs: the errors are retried
// and counted, the ledger sum stays exact, and every committed transfer bumped the
// version counters of exactly two accounts (none applied twice, none lost).
func TestRunWith503sKeepsTheLedger(t *testing.T) {
	simA, a := startSim(t, arangosim.Config{RootPassword: "pw"})
	a.Auth.Username = "root"
	w := newWorkload(t, Config{Cluster: a, Accounts: 20, Rate: 500, Workers: 4, Seed: 3, Attempts: 3,
		Mix: Mix{Transfer: 70, Update: 10, Insert: 10, Remove: 5, Edge: 5}})
	coord := simA.Coordinators()[0].ID
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			goto ran
		case <-tick.C:
		}
		prefix := []string{"/_api/transaction", "/_api/document"}[i%2]
		if err := simA.InjectFault(coord, arangosim.Fault{PathPrefix: prefix, Status: http.StatusServiceUnavailable, Count: 4}); err != nil {
			t.Fatal(err)
		}
	}
ran:
	if err := simA.ClearFaults(coord); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("with 503s: %v", st)
	if st.Retryable == 0 || st.Transferred == 0 {
		t.Fatalf("want retried 503s and committed transfers: %v", st)
	}
	var bumps int64
	for _, db := range w.Config().Databases {
		accs := accountsOf(t, a, db, "accounts")
		var sum int64
		for _, d := range accs {
			sum += d.balance
			bumps += d.ver - 1
		}
		if sum != w.LedgerSum() || len(accs) != 20 {
			t.Errorf("%s: %d accounts, ledger sum %d, want %d", db, len(accs), sum, w.LedgerSum())
		}
	}
	if bumps != 2*st.Transferred {
		t.Errorf("account versions were bumped %d times; %d committed transfers bump %d", bumps, st.Transferred, 2*st.Transferred)
	}
	// Verify of A against itself checks the expected ledger sums too.
	rep, err := Verify(context.Background(), a, a, w.VerifyOptions())
	if err != nil || !rep.OK() {
		t.Fatalf("A against A: %v\n%s", err, rep)
	}
}

func TestRunWithoutSetupOrWithBadCredentialsIsRefused(t *testing.T) {
	_, a := startSim(t, arangosim.Config{RootPassword: "pw"})
	a.Auth.Username = "root"
	w, err := New(Config{Cluster: a, Databases: []string{"nowhere"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Run(ctx); err == nil || !strings.Contains(err.Error(), "run Setup first") {
		t.Fatalf("Run without Setup: %v", err)
	}
	bad := a
	bad.Auth.Password = "wrong"
	wb, err := New(Config{Cluster: bad})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	var ae driver.ArangoError
	if err := wb.Setup(ctx); !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized {
		t.Fatalf("Setup with a wrong password: want 401, got %v", err)
	}
	if _, err := Verify(ctx, a, bad, VerifyOptions{}); !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized {
		t.Fatalf("Verify with a wrong password for B: want 401, got %v", err)
	}
}

// waitOps waits until the workload has completed at least n operations.
func waitOps(t *testing.T, w *Workload, n int64) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() (bool, string) {
		st := w.Stats()
		return st.Ops() >= n, fmt.Sprintf("%d of %d operations: %v", st.Ops(), n, st)
	})
}

// TestDBServerFailoverKeepsTheLedger stops a DB-Server while the workload runs
// (its shards fail over to followers) and restarts it: the ledger and the
// account version counters stay exact.
func TestDBServerFailoverKeepsTheLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("failover under load")
	}
	sim, a := startSim(t, arangosim.Config{})
	a.RequestTimeout = 5 * time.Second
	w := newWorkload(t, Config{Cluster: a, Databases: []string{"bank"}, Accounts: 30, Rate: 300, Seed: 9})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	victim := sim.DBServers()[1].ID
	waitOps(t, w, 100)
	if err := sim.StopServer(victim); err != nil {
		t.Fatal(err)
	}
	waitOps(t, w, w.Stats().Ops()+150)
	if err := sim.RestartServer(victim); err != nil {
		t.Fatal(err)
	}
	waitOps(t, w, w.Stats().Ops()+100)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("with a DB-Server stopped and restarted: %v", st)
	accs := accountsOf(t, a, "bank", "accounts")
	var sum, bumps int64
	for _, d := range accs {
		sum += d.balance
		bumps += d.ver - 1
	}
	if sum != w.LedgerSum() || len(accs) != 30 {
		t.Errorf("%d accounts, ledger sum %d, want %d", len(accs), sum, w.LedgerSum())
	}
	if bumps < 2*st.Transferred || bumps > 2*(st.Transferred+st.Failed) {
		t.Errorf("account versions bumped %d times; %d committed transfers (%d failed operations)", bumps, st.Transferred, st.Failed)
	}
}

// TestSecondRunWritesNewKeys: a Workload may Run again; its inserts, edges
// and transfers never reuse the first Run's keys and sequence numbers (A
// would refuse them as unique-constraint violations).
func TestSecondRunWritesNewKeys(t *testing.T) {
	_, a := startSim(t, arangosim.Config{RootPassword: "pw"})
	a.Auth.Username = "root"
	w := newWorkload(t, Config{Cluster: a, Accounts: 10, Rate: 400, Workers: 2, Seed: 5,
		Mix: Mix{Transfer: 20, Update: 10, Insert: 50, Remove: 0, Edge: 20}})
	first := runFor(t, w, 500*time.Millisecond)
	second := runFor(t, w, 500*time.Millisecond)
	// Stats add up over the Runs.
	if second.Ops() <= first.Ops() || second.Failed != first.Failed || second.Conflicts != first.Conflicts {
		t.Fatalf("second Run: %v (after the first: %v): want more operations, no new failures or conflicts", second, first)
	}
}
