package workload

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

// lossyProxy forwards every request to the Coordinator, but drops the answer of
// every third write after the Coordinator has applied it: the client sees the
// connection break and cannot know whether its write happened. This is the
// ambiguous failure arangosim's own faults (answered before serving) cannot make.
func lossyProxy(t *testing.T, endpoint string) (string, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	var writes, dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && writes.Add(1)%3 == 0 {
			rp.ServeHTTP(httptest.NewRecorder(), r) // applied on the server
			dropped.Add(1)
			panic(http.ErrAbortHandler) // the answer is lost
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &dropped
}

// TestLostAnswersAreNeverAppliedTwice runs the workload through a proxy that
// loses a third of the answers to writes that did apply. Every retry must be
// recognised: the ledger sum holds, every account's version counter equals the
// transfers that touched it (twice the committed transfers in total), every
// order's counter equals the writes counted for it, and the orders number the
// inserts counted.
func TestLostAnswersAreNeverAppliedTwice(t *testing.T) {
	sim, direct := startSim(t, arangosim.Config{})
	_ = sim
	proxied, dropped := lossyProxy(t, direct.Endpoints[0])
	cfg := Config{Cluster: Cluster{Endpoints: []string{proxied}, RequestTimeout: 5 * time.Second},
		Databases: []string{"shop"}, Accounts: 10, Rate: 300, Workers: 3, Seed: 5, Attempts: 6,
		Mix:    Mix{Transfer: 50, Insert: 20, Update: 15, Replace: 10, Bulk: 5},
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	setup, err := New(Config{Cluster: direct, Databases: cfg.Databases, Accounts: cfg.Accounts})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if err := setup.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := runFor(t, w, 2*time.Second)
	t.Logf("through the lossy proxy (%d answers dropped): %v", dropped.Load(), st)
	if dropped.Load() == 0 || st.Ambiguous == 0 || st.Transferred == 0 {
		t.Fatalf("the proxy must have caused ambiguous outcomes: %v", st)
	}

	accs := accountsOf(t, direct, "shop", "accounts")
	var sum, bumps int64
	for _, d := range accs {
		sum += d.balance
		bumps += d.ver - 1
	}
	if sum != w.LedgerSum() {
		t.Errorf("ledger sum %d, want %d", sum, w.LedgerSum())
	}
	if bumps != 2*st.Transferred {
		t.Errorf("account versions bumped %d times; %d committed transfers bump %d", bumps, st.Transferred, 2*st.Transferred)
	}
	orders := accountsOf(t, direct, "shop", "orders")
	var writes int64
	for _, d := range orders {
		writes += d.ver - 1
	}
	// Only Failed operations may have applied without being counted.
	if got, want := int64(len(orders)), st.Inserted+st.BulkDocs; got < want || got > want+st.Failed*int64(cfg.BulkSize) {
		t.Errorf("%d orders stored, %d inserts counted (%d failed operations)", got, want, st.Failed)
	}
	if writes < st.Updated+st.Replaced || writes > st.Updated+st.Replaced+st.Failed {
		t.Errorf("orders' versions bumped %d times; %d updates and replaces counted (%d failed)", writes, st.Updated+st.Replaced, st.Failed)
	}
}
