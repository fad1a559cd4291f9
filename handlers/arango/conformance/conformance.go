package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/arango/verify"
	"github.com/dc2dc/dc2dc/handlers/target"
)

// Timeout bounds every wait of the suite (convergence, failover, a tail
// from tick 0 through a large WAL).
var Timeout = 60 * time.Second

// Cluster is one ArangoDB cluster the suite runs against, with an optional
// second cluster used as replication target.
type Cluster struct {
	// Name says what the cluster is in messages ("arangosim", "real").
	Name string
	// Endpoints are the Coordinators' URLs.
	Endpoints []string
	// JWTSecret signs the superuser JWT the DB-Servers' replication APIs
	// need. Username/Password are optional user credentials.
	JWTSecret string
	Username  string
	Password  string
	// Faults injects failures; nil on a real cluster, whose servers the
	// suite must not stop or move: the fault tests are then skipped.
	Faults Faults
	// B is the target cluster of the target tests; nil skips them.
	B *Cluster
}

// Faults is what the fault tests do to a cluster (arangosim).
type Faults interface {
	// MoveShard moves a shard's replica (leader or follower) from one
	// DB-Server to another.
	MoveShard(db, coll, shard, from, to string) error
	// StopServer stops a DB-Server: its shards fail over to a follower.
	StopServer(id string) error
	// PruneWAL removes a DB-Server's WAL up to tick (inclusive).
	PruneWAL(server string, upTo uint64) error
}

// Run runs every contract test against the cluster newTarget returns. It is
// called once per subtest, so an implementation that injects faults can
// hand out a fresh cluster each time; a real cluster is simply shared (every
// test works in its own database and drops it).
func Run(t *testing.T, newTarget func(t *testing.T) Cluster) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Client/PingVersion", testPingVersion},
		{"Client/Health", testHealth},
		{"Client/Topology", testTopology},
		{"Client/DBServerAccess", testDBServerAccess},
		{"Client/Errors", testClientErrors},
		{"WAL/TailOperationsInOrder", testWALTail},
		{"WAL/EmptyTail", testWALEmpty},
		{"WAL/FromTickZero", testWALFromZero},
		{"WAL/FromBeyondLastTick", testWALBeyond},
		{"WAL/TruncatedAnswerResumes", testWALTruncated},
		{"Source/SnapshotThenTail", testSource},
		{"Target/ApplyReplayVerify", testTarget},
		{"Target/MissingDatabase", testTargetMissingDatabase},
		{"Verify/CopyAndPlantedDifference", testVerify},
		{"Faults/LeaderMove", testFaultLeaderMove},
		{"Faults/DBServerStop", testFaultServerStop},
		{"Faults/PrunedWAL", testFaultPrunedWAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTarget(t)
			tc.fn(t, newEnv(t, c))
		})
	}
}

// env is one test's access to the cluster under test.
type env struct {
	t   *testing.T
	c   Cluster
	cl  *client.Client
	ctx context.Context
}

func newEnv(t *testing.T, c Cluster) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*Timeout)
	t.Cleanup(cancel)
	cl := newClient(t, c, c.JWTSecret)
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("%s cluster at %v does not answer: %v", c.Name, c.Endpoints, err)
	}
	return &env{t: t, c: c, cl: cl, ctx: ctx}
}

func newClient(t *testing.T, c Cluster, secret string) *client.Client {
	t.Helper()
	cfg := client.Config{Endpoints: c.Endpoints, JWTSecret: secret, Username: c.Username, Password: c.Password,
		RequestTimeout: 30 * time.Second}
	if secret != "" {
		cfg.Authentication = client.AuthSuperuser
	}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client for %v: %v", c.Endpoints, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// conn returns dc2dc's raw Coordinator access (package target) to c.
func conn(t *testing.T, c Cluster) *target.Conn {
	t.Helper()
	tc, err := target.Dial(target.ConnConfig{Endpoints: c.Endpoints, Username: c.Username, Password: c.Password,
		JWTSecret: c.JWTSecret, RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("target.Dial %v: %v", c.Endpoints, err)
	}
	t.Cleanup(tc.Close)
	return tc
}

// verifyCluster is package verify's access to c.
func verifyCluster(t *testing.T, c Cluster) verify.Cluster {
	return verify.FromConn(conn(t, c))
}

func randomID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// database creates a uniquely named database, dropped at the end of the
// test.
func (e *env) database() (string, driver.Database) {
	e.t.Helper()
	return createDatabase(e.t, e.ctx, e.cl, "dc2dc_conformance_"+randomID())
}

func createDatabase(t *testing.T, ctx context.Context, cl *client.Client, name string) (string, driver.Database) {
	t.Helper()
	db, err := cl.Driver().CreateDatabase(ctx, name, nil)
	if err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Remove(ctx); err != nil && !driver.IsNotFoundGeneral(err) &&
			!driver.IsArangoErrorWithErrorNum(err, driver.ErrArangoDocumentNotFound, driver.ErrArangoDataSourceNotFound) { // the deprecated IsNotFound
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	return name, db
}

// collection creates a collection and returns its shards in index order.
func (e *env) collection(db driver.Database, name string, shards, rf int) (driver.Collection, *client.Collection) {
	e.t.Helper()
	if rf > 1 {
		e.needDBServers(rf)
	}
	col, err := db.CreateCollection(e.ctx, name, &driver.CreateCollectionOptions{NumberOfShards: shards,
		ReplicationFactor: rf, ShardKeys: []string{"_key"}})
	if err != nil {
		e.t.Fatalf("creating collection %s: %v", name, err)
	}
	var c *client.Collection
	e.waitFor("collection "+name+" with leaders in the inventory", func() (bool, string) {
		inv, err := e.cl.Inventory(e.ctx, db.Name(), false)
		if err != nil {
			return false, err.Error()
		}
		var ok bool
		c, ok = inv.Collection(name)
		if !ok {
			return false, "not in the inventory"
		}
		if len(c.Shards) != shards {
			return false, fmt.Sprintf("%d shards", len(c.Shards))
		}
		for _, s := range c.Shards {
			if s.Leader == "" || len(s.Followers) != rf-1 {
				return false, fmt.Sprintf("shard %s: leader %q followers %v", s.Name, s.Leader, s.Followers)
			}
		}
		return true, ""
	})
	return col, c
}

func (e *env) needDBServers(n int) {
	e.t.Helper()
	h, err := e.cl.Health(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	got := 0
	for _, s := range h {
		if s.Role == client.RoleDBServer && !s.Failed() {
			got++
		}
	}
	if got < n {
		e.t.Skipf("the test needs %d healthy DB-Servers, the %s cluster has %d", n, e.c.Name, got)
	}
}

func (e *env) needFaults() Faults {
	e.t.Helper()
	if e.c.Faults == nil {
		e.t.Skipf("fault injection is not available on the %s cluster: the suite never stops, moves or prunes a real cluster's servers (arangosim runs these)", e.c.Name)
	}
	return e.c.Faults
}

func (e *env) needB() Cluster {
	e.t.Helper()
	if e.c.B == nil {
		e.t.Skipf("no target cluster B for the %s cluster: set ARANGODB_B_ENDPOINTS and ARANGODB_B_JWT_SECRET to run the target tests", e.c.Name)
	}
	return *e.c.B
}

// leader returns raw access to a DB-Server.
func (e *env) dbserver(id string) *client.Conn {
	e.t.Helper()
	c, err := e.cl.DBServer(e.ctx, id)
	if err != nil {
		e.t.Fatalf("DB-Server %s: %v", id, err)
	}
	return c
}

// lastTick reads a DB-Server's latest WAL tick.
func (e *env) lastTick(conn *client.Conn, db string) uint64 {
	e.t.Helper()
	var ans struct {
		Tick string `json:"tick"`
	}
	if err := conn.GetJSON(e.ctx, client.DBPath(db, "_api/wal/lastTick"), nil, &ans); err != nil {
		e.t.Fatalf("wal/lastTick on %s: %v", conn.Endpoint(), err)
	}
	n, err := strconv.ParseUint(ans.Tick, 10, 64)
	if err != nil {
		e.t.Fatalf("wal/lastTick on %s: tick %q", conn.Endpoint(), ans.Tick)
	}
	return n
}

// waitFor polls cond (every 20 ms) until it holds or Timeout passes; the
// failure names what was awaited and cond's last explanation.
func (e *env) waitFor(what string, cond func() (bool, string)) {
	e.t.Helper()
	waitFor(e.t, e.ctx, what, cond)
}

func waitFor(t testing.TB, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s: %s", Timeout, what, why)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (%s)", what, ctx.Err(), why)
		case <-tick.C:
		}
	}
}

// watcher starts a topology watcher, stopped at the end of the test.
func (e *env) watcher() *client.Watcher {
	e.t.Helper()
	w, err := client.NewWatcher(e.cl, client.WatcherConfig{Interval: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}, nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Poll(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = w.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return w
}

// doc is a test document.
type doc struct {
	Key string `json:"_key"`
	N   int    `json:"n"`
	S   string `json:"s,omitempty"`
}

func insertDocs(t *testing.T, ctx context.Context, col driver.Collection, from, n int) {
	t.Helper()
	docs := make([]doc, n)
	for i := range docs {
		docs[i] = doc{Key: "k" + strconv.Itoa(from+i), N: from + i, S: "initial"}
	}
	if _, errs, err := col.CreateDocuments(ctx, docs); err != nil {
		t.Fatalf("inserting %d documents: %v", n, err)
	} else if err := errs.FirstNonNil(); err != nil {
		t.Fatalf("inserting %d documents: %v", n, err)
	}
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func walQuery(shard string, from uint64) url.Values {
	return url.Values{"collection": {shard}, "from": {strconv.FormatUint(from, 10)}}
}
