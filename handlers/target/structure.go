package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Structure creates and changes structure in cluster B: the operations the
// sync master calls (ARCHITECTURE §4). Every operation is idempotent: it
// succeeds when B already has what is asked for, so a master that fails over
// can simply repeat its plan.
//
// Databases and users go through go-driver; collection, index, view and
// analyzer definitions are sent as JSON taken from A's inventory (filtered,
// never re-typed), so no property is lost in a conversion.
type Structure struct {
	do Doer
	cl driver.Client
}

// NewStructure returns the structure operations on B. cl may be nil when the
// database and user operations are not used.
func NewStructure(do Doer, cl driver.Client) *Structure { return &Structure{do: do, cl: cl} }

func (s *Structure) client() (driver.Client, error) {
	if s.cl == nil {
		return nil, failure.WithCode(failure.CodeInternal, errors.New("target: Structure has no go-driver client (NewStructure(do, nil))"))
	}
	return s.cl, nil
}

// driverErr classifies an error of go-driver like conn.go does.
func driverErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, classifyTransport(ctx, "driver", what, err))
}

// DatabaseOptions are the database defaults that matter for sharding.
type DatabaseOptions struct {
	Sharding          string // "", "flexible" or "single"
	ReplicationFactor int    // 0 = server default; bounded by B's DB-Server count
	WriteConcern      int
}

// CreateDatabase creates a database in B; an existing one is success.
func (s *Structure) CreateDatabase(ctx context.Context, name string, o DatabaseOptions) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	if o.ReplicationFactor > 0 {
		n, err := s.DBServerCount(ctx)
		if err != nil {
			return err
		}
		o.ReplicationFactor = min(o.ReplicationFactor, n)
		o.WriteConcern = min(o.WriteConcern, o.ReplicationFactor)
	}
	_, err = cl.CreateDatabase(ctx, name, &driver.CreateDatabaseOptions{Options: driver.CreateDatabaseDefaultOptions{
		ReplicationFactor: o.ReplicationFactor, WriteConcern: o.WriteConcern, Sharding: driver.DatabaseSharding(o.Sharding)}})
	if driver.IsConflict(err) {
		return nil
	}
	return driverErr(ctx, "create database "+name, err)
}

// DropDatabase drops a database in B; a missing one is success.
func (s *Structure) DropDatabase(ctx context.Context, name string) error {
	req := Request{Method: http.MethodDelete, Path: DBPath("_system", "/_api/database/", url.PathEscape(name))}
	return s.send(ctx, req, []int{numDatabaseNotFound}, http.StatusOK)
}

// send sends a request and accepts the statuses ok and the error numbers
// tolerate (e.g. "already there", "not found").
func (s *Structure) send(ctx context.Context, req Request, tolerate []int, ok ...int) error {
	_, err := s.sendBody(ctx, req, tolerate, ok...)
	return err
}

func (s *Structure) sendBody(ctx context.Context, req Request, tolerate []int, ok ...int) (*Response, error) {
	resp, err := s.do.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if slices.Contains(ok, resp.Status) {
		return resp, nil
	}
	ae := answerError(req, resp)
	if slices.Contains(tolerate, ae.Num) {
		return nil, nil
	}
	return nil, classify(ae)
}

// DBServerCount returns the number of DB-Servers in B's health report.
func (s *Structure) DBServerCount(ctx context.Context) (int, error) {
	req := Request{Method: http.MethodGet, Path: "/_admin/cluster/health"}
	resp, err := s.sendBody(ctx, req, nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	var h struct {
		Health map[string]struct {
			Role string `json:"Role"`
		} `json:"Health"`
	}
	if err := json.Unmarshal(resp.Body, &h); err != nil {
		return 0, failure.Permanent(fmt.Errorf("cluster health: %w", err))
	}
	n := 0
	for _, sv := range h.Health {
		if strings.EqualFold(sv.Role, "DBServer") || strings.EqualFold(sv.Role, "PRIMARY") {
			n++
		}
	}
	if n == 0 {
		return 0, failure.Retryable(errors.New("cluster health lists no DB-Server"))
	}
	return n, nil
}

// collectionFields are the properties of A's definition that B's collection
// is created with. Everything else (ids, status, counts, objectId, ...) is
// B's own.
var collectionFields = []string{
	"name", "type", "isSystem", "waitForSync", "schema", "computedValues", "cacheEnabled",
	"keyOptions", "numberOfShards", "shardKeys", "shardingStrategy", "distributeShardsLike",
	"replicationFactor", "writeConcern", "isSmart", "isDisjoint", "smartGraphAttribute", "smartJoinAttribute",
}

// CollectionSpec is the part of a collection definition that decides where
// documents go: it must be identical in A and B.
type CollectionSpec struct {
	Name             string   `json:"name"`
	Type             int      `json:"type"`
	NumberOfShards   int      `json:"numberOfShards"`
	ShardKeys        []string `json:"shardKeys"`
	ShardingStrategy string   `json:"shardingStrategy"`
}

// CreateCollection creates a collection in B from A's definition (as in
// clusterInventory "parameters" or GET /_api/collection/{name}/properties)
// with identical sharding: numberOfShards, shardKeys, shardingStrategy,
// distributeShardsLike (the prototype must exist), keyOptions, type, schema,
// computedValues; replicationFactor bounded by B's DB-Server count and
// writeConcern by the replication factor. An existing collection with the
// same sharding is success; one with different sharding is a permanent
// CodeTargetMismatch error.
func (s *Structure) CreateCollection(ctx context.Context, db string, def json.RawMessage) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(def, &in); err != nil {
		return failure.Permanent(fmt.Errorf("collection definition: %w", err))
	}
	out := make(map[string]json.RawMessage, len(collectionFields))
	for _, f := range collectionFields {
		if v, ok := in[f]; ok && string(v) != "null" {
			out[f] = v
		}
	}
	if _, ok := out["writeConcern"]; !ok {
		if v, ok := in["minReplicationFactor"]; ok {
			out["writeConcern"] = v
		}
	}
	var spec CollectionSpec
	if err := json.Unmarshal(def, &spec); err != nil || spec.Name == "" {
		return failure.Permanent(fmt.Errorf("collection definition without a name: %s", truncate(def)))
	}
	if ko, ok := out["keyOptions"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(ko, &m) == nil {
			delete(m, "lastValue") // B's generator state is its own
			out["keyOptions"], _ = json.Marshal(m)
		}
	}
	if rf, ok := out["replicationFactor"]; ok && rf[0] != '"' { // "satellite" stays
		n, err := strconv.Atoi(string(rf))
		if err == nil {
			servers, err := s.DBServerCount(ctx)
			if err != nil {
				return err
			}
			n = max(1, min(n, servers))
			out["replicationFactor"] = json.RawMessage(strconv.Itoa(n))
			if wc, ok := out["writeConcern"]; ok {
				if w, err := strconv.Atoi(string(wc)); err == nil && w > n {
					out["writeConcern"] = json.RawMessage(strconv.Itoa(n))
				}
			}
		}
	}
	body, _ := json.Marshal(out)
	req := Request{Method: http.MethodPost, Path: DBPath(db, "/_api/collection"),
		Query: url.Values{"waitForSyncReplication": {"true"}, "enforceReplicationFactor": {"false"}}, Body: body}
	resp, err := s.do.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK || resp.Status == http.StatusCreated {
		return nil
	}
	ae := answerError(req, resp)
	if ae.Num != numDuplicateName {
		return classify(ae)
	}
	have, err := s.Collection(ctx, db, spec.Name)
	if err != nil {
		return err
	}
	return compareSpecs(db, spec, have)
}

// Collection reads a collection's sharding in B.
func (s *Structure) Collection(ctx context.Context, db, name string) (CollectionSpec, error) {
	req := Request{Method: http.MethodGet, Path: DBPath(db, "/_api/collection/", url.PathEscape(name), "/properties")}
	resp, err := s.sendBody(ctx, req, nil, http.StatusOK)
	if err != nil {
		return CollectionSpec{}, err
	}
	var spec CollectionSpec
	if err := json.Unmarshal(resp.Body, &spec); err != nil {
		return CollectionSpec{}, failure.Permanent(fmt.Errorf("%s: %w", req.Path, err))
	}
	return spec, nil
}

func compareSpecs(db string, want, have CollectionSpec) error {
	norm := func(c CollectionSpec) CollectionSpec {
		if len(c.ShardKeys) == 0 {
			c.ShardKeys = []string{"_key"}
		}
		if c.NumberOfShards == 0 {
			c.NumberOfShards = 1
		}
		if c.Type == 0 {
			c.Type = 2
		}
		return c
	}
	w, h := norm(want), norm(have)
	var diffs []string
	if w.Type != h.Type {
		diffs = append(diffs, fmt.Sprintf("type %d in A, %d in B", w.Type, h.Type))
	}
	if w.NumberOfShards != h.NumberOfShards {
		diffs = append(diffs, fmt.Sprintf("numberOfShards %d in A, %d in B", w.NumberOfShards, h.NumberOfShards))
	}
	if !slices.Equal(w.ShardKeys, h.ShardKeys) {
		diffs = append(diffs, fmt.Sprintf("shardKeys %v in A, %v in B", w.ShardKeys, h.ShardKeys))
	}
	if w.ShardingStrategy != "" && h.ShardingStrategy != "" && w.ShardingStrategy != h.ShardingStrategy {
		diffs = append(diffs, fmt.Sprintf("shardingStrategy %q in A, %q in B", w.ShardingStrategy, h.ShardingStrategy))
	}
	if len(diffs) > 0 {
		return failure.WithCode(failure.CodeTargetMismatch, fmt.Errorf("collection %s/%s exists in B with different sharding: %s", db, want.Name, strings.Join(diffs, "; ")))
	}
	return nil
}

// ShardProbes returns n probe documents for a collection's shard keys
// (attribute paths like "a.b" become nested objects). Both sides ask their
// own cluster which shard each probe lands in (ProbeShardIndexes); equal
// answers show that shard k of A pairs with shard k of B.
func ShardProbes(shardKeys []string, n int) []json.RawMessage {
	if len(shardKeys) == 0 {
		shardKeys = []string{"_key"}
	}
	out := make([]json.RawMessage, n)
	for i := range out {
		doc := map[string]any{}
		for j, k := range shardKeys {
			parts := strings.Split(k, ".")
			m := doc
			for _, p := range parts[:len(parts)-1] {
				sub, ok := m[p].(map[string]any)
				if !ok {
					sub = map[string]any{}
					m[p] = sub
				}
				m = sub
			}
			m[parts[len(parts)-1]] = fmt.Sprintf("dc2dc-probe-%d-%d", i, j)
		}
		out[i], _ = json.Marshal(doc)
	}
	return out
}

// ProbeShardIndexes asks a cluster (A or B, through its own Coordinators)
// which shard index each probe document belongs to, with PUT
// /_api/collection/{name}/responsibleShard; shard index k is the k-th shard
// in ascending numeric order of the shard ids.
func ProbeShardIndexes(ctx context.Context, do Doer, db, coll string, probes []json.RawMessage) ([]int, error) {
	shards, err := ShardNames(ctx, do, db, coll)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(probes))
	for i, p := range probes {
		req := Request{Method: http.MethodPut, Path: DBPath(db, "/_api/collection/", url.PathEscape(coll), "/responsibleShard"), Body: p}
		resp, err := do.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		if err := resp.Check(req, http.StatusOK); err != nil {
			return nil, err
		}
		var ans struct {
			ShardID string `json:"shardId"`
		}
		if err := json.Unmarshal(resp.Body, &ans); err != nil {
			return nil, failure.Permanent(fmt.Errorf("%s: %w", req.Path, err))
		}
		out[i] = slices.Index(shards, ans.ShardID)
		if out[i] < 0 {
			return nil, failure.Retryable(fmt.Errorf("%s/%s: responsibleShard %q is not among the shards %v", db, coll, ans.ShardID, shards))
		}
	}
	return out, nil
}

// ShardNames returns a collection's shards in index order (ascending numeric id).
func ShardNames(ctx context.Context, do Doer, db, coll string) ([]string, error) {
	m, err := ShardServers(ctx, do, db, coll)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for s := range m {
		names = append(names, s)
	}
	SortShards(names)
	return names, nil
}

// ShardServers returns each shard's servers, leader first
// (GET /_api/collection/{name}/shards?details=true).
func ShardServers(ctx context.Context, do Doer, db, coll string) (map[string][]string, error) {
	req := Request{Method: http.MethodGet, Path: DBPath(db, "/_api/collection/", url.PathEscape(coll), "/shards"), Query: url.Values{"details": {"true"}}}
	resp, err := do.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return nil, err
	}
	var ans struct {
		Shards map[string][]string `json:"shards"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return nil, failure.Permanent(fmt.Errorf("%s: %w", req.Path, err))
	}
	return ans.Shards, nil
}

// SortShards sorts shard names ("s<id>") by numeric id: the index order.
func SortShards(names []string) {
	num := func(s string) uint64 {
		n, _ := strconv.ParseUint(strings.TrimPrefix(s, "s"), 10, 64)
		return n
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := num(names[i]), num(names[j])
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
}

// VerifyPairing checks that B places the probes in the shard indexes A
// reported (ProbeShardIndexes on A, carried by the control plane): shard k of
// A pairs with shard k of B. A difference is a permanent CodeTargetMismatch.
func (s *Structure) VerifyPairing(ctx context.Context, db, coll string, probes []json.RawMessage, wantIdx []int) error {
	got, err := ProbeShardIndexes(ctx, s.do, db, coll, probes)
	if err != nil {
		return err
	}
	if len(got) != len(wantIdx) {
		return failure.WithCode(failure.CodeInternal, fmt.Errorf("%s/%s: %d probes, %d answers from A", db, coll, len(got), len(wantIdx)))
	}
	for i := range got {
		if got[i] != wantIdx[i] {
			return failure.WithCode(failure.CodeTargetMismatch, fmt.Errorf(
				"%s/%s: probe %s lands in shard index %d in A but %d in B: the shards do not pair; drop the collection in B and let the sync recreate it",
				db, coll, probes[i], wantIdx[i], got[i]))
		}
	}
	return nil
}

// RenameCollection renames a collection in B. Already renamed is success.
func (s *Structure) RenameCollection(ctx context.Context, db, from, to string) error {
	body, _ := json.Marshal(map[string]string{"name": to})
	req := Request{Method: http.MethodPut, Path: DBPath(db, "/_api/collection/", url.PathEscape(from), "/rename"), Body: body}
	resp, err := s.do.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return nil
	}
	ae := answerError(req, resp)
	if ae.Num == numDataSourceNotFound {
		if _, err := s.Collection(ctx, db, to); err == nil {
			return nil // renamed before
		}
	}
	return classify(ae)
}

// DropCollection drops a collection in B; a missing one is success.
func (s *Structure) DropCollection(ctx context.Context, db, name string) error {
	q := url.Values{}
	if strings.HasPrefix(name, "_") {
		q.Set("isSystem", "true")
	}
	req := Request{Method: http.MethodDelete, Path: DBPath(db, "/_api/collection/", url.PathEscape(name)), Query: q}
	return s.send(ctx, req, []int{numDataSourceNotFound, numDatabaseNotFound}, http.StatusOK)
}

// indexSkip are index properties B assigns itself.
var indexSkip = []string{"id", "selectivityEstimate", "figures", "isBuilding", "progress", "isNewlyCreated", "code", "error"}

// EnsureIndex creates an index in B with A's definition (type, fields,
// unique, sparse, name, ...). An identical existing index is success (the
// server answers 200); primary and edge indexes exist with the collection.
func (s *Structure) EnsureIndex(ctx context.Context, db, coll string, def json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(def, &m); err != nil {
		return failure.Permanent(fmt.Errorf("index definition: %w", err))
	}
	var typ string
	_ = json.Unmarshal(m["type"], &typ)
	if typ == "primary" || typ == "edge" {
		return nil
	}
	for _, k := range indexSkip {
		delete(m, k)
	}
	body, _ := json.Marshal(m)
	req := Request{Method: http.MethodPost, Path: DBPath(db, "/_api/index"), Query: url.Values{"collection": {coll}}, Body: body}
	return s.send(ctx, req, nil, http.StatusOK, http.StatusCreated)
}

// DropIndex drops the index with the name in B; a missing one is success.
func (s *Structure) DropIndex(ctx context.Context, db, coll, name string) error {
	req := Request{Method: http.MethodGet, Path: DBPath(db, "/_api/index"), Query: url.Values{"collection": {coll}}}
	resp, err := s.sendBody(ctx, req, []int{numDataSourceNotFound}, http.StatusOK)
	if err != nil || resp == nil {
		return err
	}
	var ans struct {
		Indexes []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"indexes"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return failure.Permanent(fmt.Errorf("%s: %w", req.Path, err))
	}
	for _, ix := range ans.Indexes {
		if ix.Name != name {
			continue
		}
		id := ix.ID
		if i := strings.IndexByte(id, '/'); i >= 0 {
			id = id[i+1:]
		}
		dreq := Request{Method: http.MethodDelete, Path: DBPath(db, "/_api/index/", url.PathEscape(coll), "/", url.PathEscape(id))}
		return s.send(ctx, dreq, []int{1212}, http.StatusOK)
	}
	return nil
}

// EnsureView creates a view with A's definition ({"name","type",...
// properties}; links name collections, which have the same names in B) or,
// when it exists, replaces its properties.
func (s *Structure) EnsureView(ctx context.Context, db string, def json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(def, &m); err != nil {
		return failure.Permanent(fmt.Errorf("view definition: %w", err))
	}
	var name string
	if err := json.Unmarshal(m["name"], &name); err != nil || name == "" {
		return failure.Permanent(fmt.Errorf("view definition without a name: %s", truncate(def)))
	}
	for _, k := range []string{"id", "globallyUniqueId", "planId", "error", "code"} {
		delete(m, k)
	}
	body, _ := json.Marshal(m)
	req := Request{Method: http.MethodPost, Path: DBPath(db, "/_api/view"), Body: body}
	resp, err := s.do.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK || resp.Status == http.StatusCreated {
		return nil
	}
	if ae := answerError(req, resp); ae.Num != numDuplicateName {
		return classify(ae)
	}
	delete(m, "name")
	delete(m, "type")
	body, _ = json.Marshal(m)
	preq := Request{Method: http.MethodPut, Path: DBPath(db, "/_api/view/", url.PathEscape(name), "/properties"), Body: body}
	return s.send(ctx, preq, nil, http.StatusOK)
}

// RenameView renames a view in B.
func (s *Structure) RenameView(ctx context.Context, db, from, to string) error {
	body, _ := json.Marshal(map[string]string{"name": to})
	req := Request{Method: http.MethodPut, Path: DBPath(db, "/_api/view/", url.PathEscape(from), "/rename"), Body: body}
	return s.send(ctx, req, nil, http.StatusOK)
}

// DropView drops a view in B; a missing one is success.
func (s *Structure) DropView(ctx context.Context, db, name string) error {
	req := Request{Method: http.MethodDelete, Path: DBPath(db, "/_api/view/", url.PathEscape(name))}
	return s.send(ctx, req, []int{numDataSourceNotFound}, http.StatusOK)
}

// EnsureAnalyzer creates an analyzer with A's definition ({"name","type",
// "properties","features"}; a "db::name" prefix is removed). The server
// answers 200 for an identical existing analyzer.
func (s *Structure) EnsureAnalyzer(ctx context.Context, db string, def json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(def, &m); err != nil {
		return failure.Permanent(fmt.Errorf("analyzer definition: %w", err))
	}
	var name string
	_ = json.Unmarshal(m["name"], &name)
	if i := strings.LastIndex(name, "::"); i >= 0 {
		name = name[i+2:]
	}
	if name == "" {
		return failure.Permanent(fmt.Errorf("analyzer definition without a name: %s", truncate(def)))
	}
	m["name"], _ = json.Marshal(name)
	body, _ := json.Marshal(m)
	req := Request{Method: http.MethodPost, Path: DBPath(db, "/_api/analyzer"), Body: body}
	return s.send(ctx, req, nil, http.StatusOK, http.StatusCreated)
}

// DropAnalyzer drops an analyzer (force: also when views use it); a missing
// one is success.
func (s *Structure) DropAnalyzer(ctx context.Context, db, name string) error {
	if i := strings.LastIndex(name, "::"); i >= 0 {
		name = name[i+2:]
	}
	req := Request{Method: http.MethodDelete, Path: DBPath(db, "/_api/analyzer/", url.PathEscape(name)), Query: url.Values{"force": {"true"}}}
	return s.send(ctx, req, []int{numDataSourceNotFound, 1202}, http.StatusOK)
}

// ReloadUsers makes B's Coordinators reload users after _system/_users
// documents were written directly (the hash-preserving path): POST
// /_admin/auth/reload, whose handler (RestAuthReloadHandler) triggers a
// local and, on a Coordinator, a cluster-wide reload. UNCONFIRMED against a
// running 3.12 cluster (ARCHITECTURE §12 experiment 3).
func (s *Structure) ReloadUsers(ctx context.Context) error {
	req := Request{Method: http.MethodPost, Path: "/_db/_system/_admin/auth/reload", Body: []byte("{}")}
	return s.send(ctx, req, nil, http.StatusOK)
}

// User is a user as the user API knows it (no password hash: that API
// takes plain passwords only, see EnsureUser).
type User struct {
	Name   string
	Active bool
	Extra  map[string]any
}

// EnsureUser is the fallback path for users (ARCHITECTURE §12 experiment 3):
// it creates the user with the given password when missing, otherwise
// updates active and extra (the password is left alone). The user API cannot
// carry A's password hash; the hash-preserving path replicates
// _system/_users documents with isRestore and calls ReloadUsers.
func (s *Structure) EnsureUser(ctx context.Context, u User, password string) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	active := u.Active
	existing, err := cl.User(ctx, u.Name)
	// What the deprecated driver.IsNotFound matched: a 404 or a not-found error number.
	if driver.IsNotFoundGeneral(err) || driver.IsArangoErrorWithErrorNum(err, driver.ErrArangoDocumentNotFound, driver.ErrArangoDataSourceNotFound) {
		_, err = cl.CreateUser(ctx, u.Name, &driver.UserOptions{Password: password, Active: &active, Extra: u.Extra})
		if driver.IsConflict(err) {
			return nil
		}
		return driverErr(ctx, "create user "+u.Name, err)
	}
	if err != nil {
		return driverErr(ctx, "read user "+u.Name, err)
	}
	return driverErr(ctx, "update user "+u.Name, existing.Update(ctx, driver.UserOptions{Active: &active, Extra: u.Extra}))
}

// SetGrant sets a user's access ("rw", "ro", "none"; "" removes the grant)
// to a database (coll == "") or a collection ("*" for the database default).
func (s *Structure) SetGrant(ctx context.Context, user, db, coll, grant string) error {
	body, _ := json.Marshal(map[string]string{"grant": grant})
	path := DBPath("_system", "/_api/user/", url.PathEscape(user), "/database/", url.PathEscape(db))
	if coll != "" {
		path += "/" + url.PathEscape(coll)
	}
	if grant == "" {
		return s.send(ctx, Request{Method: http.MethodDelete, Path: path}, []int{numUserNotFound}, http.StatusOK, http.StatusAccepted)
	}
	return s.send(ctx, Request{Method: http.MethodPut, Path: path, Body: body}, nil, http.StatusOK)
}

// DropUser removes a user in B; a missing one is success.
func (s *Structure) DropUser(ctx context.Context, name string) error {
	req := Request{Method: http.MethodDelete, Path: DBPath("_system", "/_api/user/", url.PathEscape(name))}
	return s.send(ctx, req, []int{numUserNotFound}, http.StatusOK, http.StatusAccepted)
}
