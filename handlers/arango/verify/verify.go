package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/target"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Cluster is access to one cluster: its Coordinators, and its DB-Servers
// (with the superuser JWT) by the endpoint the health report gives.
type Cluster struct {
	Coordinator target.Doer
	DBServer    func(endpoint string) (target.Doer, error)
}

// FromConn builds a Cluster from a target.Conn (DB-Servers with the same
// credentials, which must be the superuser JWT on a cluster with authentication).
func FromConn(c *target.Conn) Cluster {
	return Cluster{Coordinator: c, DBServer: func(ep string) (target.Doer, error) { return c.Server(ep) }}
}

// Config tunes a comparison. The zero value is usable.
type Config struct {
	// MaxDifferences caps the keys listed (default 100,000); Report.Truncated says when more differ.
	MaxDifferences int
	// RangesPerRequest caps the ranges sent in one revisions/ranges request (default 4096).
	RangesPerRequest int
	// DocsPerRequest caps the revisions asked for in one revisions/documents request (default 1000).
	DocsPerRequest int
	// BatchTTL is the lifetime of the snapshot on each leader (default 5 minutes).
	BatchTTL time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxDifferences <= 0 {
		c.MaxDifferences = 100000
	}
	if c.RangesPerRequest <= 0 {
		c.RangesPerRequest = 4096
	}
	if c.DocsPerRequest <= 0 {
		c.DocsPerRequest = 1000
	}
	if c.BatchTTL <= 0 {
		c.BatchTTL = 5 * time.Minute
	}
	return c
}

// Shard is one shard's consistent snapshot on its leader: a replication
// batch and the revision tree at it. Close releases the batch.
type Shard struct {
	Database   string
	Collection string
	Index      int
	Name       string // "s<id>"
	Leader     string // DB-Server id
	Tree       *revtree.Tree

	server  target.Doer
	batchID string
}

// Count is the number of documents in the shard at the snapshot.
func (s *Shard) Count() uint64 { return s.Tree.Count() }

// Checksum is the XOR of the hashes of all revisions in the shard (the tree's root hash).
func (s *Shard) Checksum() uint64 { return s.Tree.RootHash() }

// Open takes a snapshot of shard index of db/coll on its leader and reads its revision tree.
func Open(ctx context.Context, c Cluster, db, coll string, index int, cfg Config) (*Shard, error) {
	cfg = cfg.withDefaults()
	servers, err := target.ShardServers(ctx, c.Coordinator, db, coll)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	target.SortShards(names)
	if index < 0 || index >= len(names) {
		return nil, failure.Permanent(fmt.Errorf("%s/%s has %d shards, no index %d", db, coll, len(names), index))
	}
	name := names[index]
	if len(servers[name]) == 0 {
		return nil, failure.Retryable(fmt.Errorf("%s/%s shard %s has no leader", db, coll, name))
	}
	leader := servers[name][0]
	ep, err := ServerEndpoint(ctx, c.Coordinator, leader)
	if err != nil {
		return nil, err
	}
	srv, err := c.DBServer(ep)
	if err != nil {
		return nil, err
	}
	s := &Shard{Database: db, Collection: coll, Index: index, Name: name, Leader: leader, server: srv}
	body, _ := json.Marshal(map[string]any{"ttl": cfg.BatchTTL.Seconds()})
	resp, err := s.do(ctx, target.Request{Method: http.MethodPost, Path: target.DBPath(db, "/_api/replication/batch"),
		Query: url.Values{"serverId": {"dc2dc-verify"}}, Body: body}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var batch struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &batch); err != nil || batch.ID == "" {
		return nil, failure.Permanent(fmt.Errorf("replication batch on %s: no id in %s", leader, resp.Body))
	}
	s.batchID = batch.ID
	resp, err = s.do(ctx, target.Request{Method: http.MethodGet, Path: target.DBPath(db, "/_api/replication/revisions/tree"),
		Query: url.Values{"collection": {name}, "batchId": {s.batchID}, "onlyPopulated": {"true"}}}, http.StatusOK)
	if err == nil {
		s.Tree, err = revtree.Parse(resp.Body)
		if err != nil {
			err = failure.Permanent(fmt.Errorf("revision tree of %s/%s (%s) on %s: %w", db, coll, name, leader, err))
		}
	}
	if err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Close deletes the snapshot on the leader (best effort; it also expires).
func (s *Shard) Close(ctx context.Context) {
	if s.batchID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = s.server.Do(ctx, target.Request{Method: http.MethodDelete, Path: target.DBPath(s.Database, "/_api/replication/batch/", s.batchID)})
	s.batchID = ""
}

func (s *Shard) do(ctx context.Context, req target.Request, ok ...int) (*target.Response, error) {
	resp, err := s.server.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := resp.Check(req, ok...); err != nil {
		return nil, fmt.Errorf("shard %s of %s/%s on %s: %w", s.Name, s.Database, s.Collection, s.Leader, err)
	}
	return resp, nil
}

// ServerEndpoint finds a server's endpoint in the cluster's health report
// (asked through coord), as a URL (tcp:// → http://, ssl:// → https://).
// A server missing from the report is a retryable error (it may be
// restarting).
func ServerEndpoint(ctx context.Context, coord target.Doer, id string) (string, error) {
	req := target.Request{Method: http.MethodGet, Path: "/_admin/cluster/health"}
	resp, err := coord.Do(ctx, req)
	if err != nil {
		return "", err
	}
	if err := resp.Check(req, http.StatusOK); err != nil {
		return "", err
	}
	var h struct {
		Health map[string]struct {
			Endpoint string `json:"Endpoint"`
		} `json:"Health"`
	}
	if err := json.Unmarshal(resp.Body, &h); err != nil {
		return "", failure.Permanent(fmt.Errorf("cluster health: %w", err))
	}
	sv, ok := h.Health[id]
	if !ok || sv.Endpoint == "" {
		return "", failure.Retryable(fmt.Errorf("server %s is not in the cluster health report", id))
	}
	ep := sv.Endpoint
	switch {
	case strings.HasPrefix(ep, "tcp://"):
		ep = "http://" + strings.TrimPrefix(ep, "tcp://")
	case strings.HasPrefix(ep, "ssl://"):
		ep = "https://" + strings.TrimPrefix(ep, "ssl://")
	}
	return ep, nil
}

// Kind says how a key differs.
type Kind string

// Kinds of differences.
const (
	MissingInB Kind = "missing-in-b" // the key is in A's shard only
	ExtraInB   Kind = "extra-in-b"   // the key is in B's shard only
	Differs    Kind = "differs"      // both hold the key in different revisions
)

// Difference is one differing key.
type Difference struct {
	Key  string
	Kind Kind
	RevA string // "" when A lacks it
	RevB string // "" when B lacks it
}

// Report is the result of comparing shard k of A with shard k of B.
type Report struct {
	A, B           ShardSummary
	Equal          bool // same count and checksum, and no differing keys
	Differences    []Difference
	Truncated      bool // more than Config.MaxDifferences keys differ
	RangesCompared int  // revision ranges whose tree buckets differed
}

// ShardSummary is one side's count and checksum.
type ShardSummary struct {
	Shard    string
	Leader   string
	Count    uint64
	Checksum uint64
}

// CompareShards opens shard index of collA in A and of collB in B and compares them.
func CompareShards(ctx context.Context, a, b Cluster, db, collA, collB string, index int, cfg Config) (Report, error) {
	sa, err := Open(ctx, a, db, collA, index, cfg)
	if err != nil {
		return Report{}, fmt.Errorf("cluster A: %w", err)
	}
	defer sa.Close(context.WithoutCancel(ctx))
	sb, err := Open(ctx, b, db, collB, index, cfg)
	if err != nil {
		return Report{}, fmt.Errorf("cluster B: %w", err)
	}
	defer sb.Close(context.WithoutCancel(ctx))
	return Compare(ctx, sa, sb, cfg)
}

// Compare compares two open shards and lists the keys that differ.
func Compare(ctx context.Context, a, b *Shard, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	rep := Report{
		A: ShardSummary{Shard: a.Name, Leader: a.Leader, Count: a.Count(), Checksum: a.Checksum()},
		B: ShardSummary{Shard: b.Name, Leader: b.Leader, Count: b.Count(), Checksum: b.Checksum()},
	}
	ranges, err := a.Tree.Diff(b.Tree)
	if err != nil {
		return rep, failure.Permanent(fmt.Errorf("comparing the revision trees of %s and %s: %w", a.Name, b.Name, err))
	}
	rep.RangesCompared = len(ranges)
	if len(ranges) == 0 {
		rep.Equal = rep.A.Count == rep.B.Count && rep.A.Checksum == rep.B.Checksum
		return rep, nil
	}
	d := differ{cfg: cfg, a: a, b: b, onlyA: map[string]uint64{}, onlyB: map[string]uint64{}}
	for start := 0; start < len(ranges); start += cfg.RangesPerRequest {
		group := ranges[start:min(len(ranges), start+cfg.RangesPerRequest)]
		if err := d.walk(ctx, group); err != nil {
			return rep, err
		}
		if d.full() {
			break
		}
	}
	if err := d.flush(ctx); err != nil {
		return rep, err
	}
	rep.Differences, rep.Truncated = d.result()
	rep.Equal = len(rep.Differences) == 0 && rep.A.Count == rep.B.Count && rep.A.Checksum == rep.B.Checksum
	return rep, nil
}

// differ merges the two sides' revision streams.
type differ struct {
	cfg          Config
	a, b         *Shard
	pendA, pendB []uint64          // revisions on one side only, keys not looked up yet
	onlyA, onlyB map[string]uint64 // key → revision, found on one side only so far
	truncated    bool
}

func (d *differ) full() bool { return len(d.onlyA)+len(d.onlyB) > 2*d.cfg.MaxDifferences }

func (d *differ) walk(ctx context.Context, ranges []revtree.Range) error {
	sa, sb := newStream(d.a, ranges), newStream(d.b, ranges)
	for {
		ra, okA, err := sa.peek(ctx)
		if err != nil {
			return err
		}
		rb, okB, err := sb.peek(ctx)
		if err != nil {
			return err
		}
		switch {
		case !okA && !okB:
			return nil
		case okA && okB && ra == rb:
			sa.next()
			sb.next()
		case !okB || (okA && ra < rb):
			d.pendA = append(d.pendA, ra)
			sa.next()
		default:
			d.pendB = append(d.pendB, rb)
			sb.next()
		}
		if len(d.pendA) >= d.cfg.DocsPerRequest || len(d.pendB) >= d.cfg.DocsPerRequest {
			if err := d.flush(ctx); err != nil {
				return err
			}
			if d.full() {
				d.truncated = true
				return nil
			}
		}
	}
}

// flush looks up the keys of the pending revisions.
func (d *differ) flush(ctx context.Context) error {
	for _, side := range []struct {
		s    *Shard
		pend *[]uint64
		only map[string]uint64
	}{{d.a, &d.pendA, d.onlyA}, {d.b, &d.pendB, d.onlyB}} {
		keys, err := side.s.keys(ctx, *side.pend, d.cfg.DocsPerRequest)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if k != "" {
				side.only[k] = (*side.pend)[i]
			}
		}
		*side.pend = (*side.pend)[:0]
	}
	return nil
}

func (d *differ) result() ([]Difference, bool) {
	var out []Difference
	for k, ra := range d.onlyA {
		if rb, ok := d.onlyB[k]; ok {
			out = append(out, Difference{Key: k, Kind: Differs, RevA: revtree.EncodeHLC(ra), RevB: revtree.EncodeHLC(rb)})
			continue
		}
		out = append(out, Difference{Key: k, Kind: MissingInB, RevA: revtree.EncodeHLC(ra)})
	}
	for k, rb := range d.onlyB {
		if _, ok := d.onlyA[k]; !ok {
			out = append(out, Difference{Key: k, Kind: ExtraInB, RevB: revtree.EncodeHLC(rb)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	truncated := d.truncated
	if len(out) > d.cfg.MaxDifferences {
		out, truncated = out[:d.cfg.MaxDifferences], true
	}
	return out, truncated
}

// revStream yields the revisions of a shard in the given ranges, ascending,
// one revisions/ranges answer (at most 64Ki revisions) at a time.
type revStream struct {
	s      *Shard
	body   []byte
	resume string
	done   bool
	page   []uint64
	pos    int
}

func newStream(s *Shard, ranges []revtree.Range) *revStream {
	pairs := make([][2]string, len(ranges))
	for i, r := range ranges {
		hi := r.Max
		if hi <= r.Min { // a one-revision bucket: the server wants min < max
			hi = r.Min + 1
		}
		pairs[i] = [2]string{revtree.EncodeHLC(r.Min), revtree.EncodeHLC(hi)}
	}
	body, _ := json.Marshal(pairs)
	return &revStream{s: s, body: body}
}

func (st *revStream) next() { st.pos++ }

func (st *revStream) peek(ctx context.Context) (uint64, bool, error) {
	for st.pos >= len(st.page) {
		if st.done {
			return 0, false, nil
		}
		if err := st.fetch(ctx); err != nil {
			return 0, false, err
		}
	}
	return st.page[st.pos], true, nil
}

func (st *revStream) fetch(ctx context.Context) error {
	q := url.Values{"collection": {st.s.Name}, "batchId": {st.s.batchID}, "encodeAsHLC": {"true"}, "serverId": {"dc2dc-verify"}}
	if st.resume != "" {
		q.Set("resumeHLC", st.resume)
		q.Set("resume", st.resume)
	}
	resp, err := st.s.do(ctx, target.Request{Method: http.MethodPut, Path: target.DBPath(st.s.Database, "/_api/replication/revisions/ranges"), Query: q, Body: st.body}, http.StatusOK)
	if err != nil {
		return err
	}
	var ans struct {
		Ranges    [][]string `json:"ranges"`
		ResumeHLC string     `json:"resumeHLC"`
		Resume    string     `json:"resume"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return failure.Permanent(fmt.Errorf("revisions/ranges of %s: %w", st.s.Name, err))
	}
	st.page, st.pos = st.page[:0], 0
	var last uint64
	for _, rg := range ans.Ranges {
		for _, r := range rg {
			v, err := revtree.DecodeHLC(r)
			if err != nil {
				return failure.Permanent(fmt.Errorf("revisions/ranges of %s: %w", st.s.Name, err))
			}
			if v < last {
				return failure.Permanent(fmt.Errorf("revisions/ranges of %s: revisions not ascending", st.s.Name))
			}
			if v == last && len(st.page) > 0 {
				continue // the one-revision widening can repeat a revision
			}
			last = v
			st.page = append(st.page, v)
		}
	}
	next := ans.ResumeHLC
	if next == "" {
		next = ans.Resume
	}
	if next == "" {
		st.done = true
		return nil
	}
	if next == st.resume {
		return failure.Permanent(fmt.Errorf("revisions/ranges of %s: resume %s does not advance", st.s.Name, next))
	}
	st.resume = next
	if _, err := revtree.DecodeHLC(next); err != nil {
		if _, nerr := strconv.ParseUint(next, 10, 64); nerr != nil {
			return failure.Permanent(fmt.Errorf("revisions/ranges of %s: resume %q: %w", st.s.Name, next, err))
		}
	}
	return nil
}

// keys returns the _key of each revision ("" when the snapshot lacks it),
// asking revisions/documents in chunks and again for a truncated answer.
func (s *Shard) keys(ctx context.Context, revs []uint64, chunk int) ([]string, error) {
	out := make([]string, 0, len(revs))
	for len(out) < len(revs) {
		part := revs[len(out):min(len(revs), len(out)+chunk)]
		strs := make([]string, len(part))
		for i, r := range part {
			strs[i] = revtree.EncodeHLC(r)
		}
		body, _ := json.Marshal(strs)
		resp, err := s.do(ctx, target.Request{Method: http.MethodPut, Path: target.DBPath(s.Database, "/_api/replication/revisions/documents"),
			Query: url.Values{"collection": {s.Name}, "batchId": {s.batchID}, "encodeAsHLC": {"true"}, "serverId": {"dc2dc-verify"}}, Body: body}, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var docs []struct {
			Key string `json:"_key"`
		}
		if err := json.Unmarshal(resp.Body, &docs); err != nil {
			return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s: %w", s.Name, err))
		}
		if len(docs) == 0 {
			return nil, failure.Permanent(errors.New("revisions/documents answered no document: cannot make progress"))
		}
		if len(docs) > len(part) {
			return nil, failure.Permanent(fmt.Errorf("revisions/documents of %s: %d documents for %d revisions", s.Name, len(docs), len(part)))
		}
		for _, d := range docs {
			out = append(out, d.Key)
		}
	}
	return out, nil
}
