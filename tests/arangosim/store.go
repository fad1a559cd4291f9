package arangosim

import (
	"slices"
	"strings"
	"sync"
)

// Doc is one stored document version. A *Doc is immutable once stored: writes replace
// the pointer in the replica's map, so snapshots can share them freely.
type Doc struct {
	Key  string
	Rev  uint64
	From string // edge collections only
	To   string
	// Attrs holds the user attributes as compact JSON members without the braces,
	// e.g. `"a":1,"b":{"c":2}`, in insertion order. Empty for a document without any.
	Attrs []byte

	// json is the document rendered for collection jsonColl (AppendJSON's output),
	// made with the document by newDoc and shared read-only by the WAL markers and
	// answers; Attrs then points into it. nil: rendered on demand.
	json     []byte
	jsonColl string
}

// newDoc makes a document and renders it once for collection coll; attrs are
// copied (the document never shares the caller's buffer).
func newDoc(coll, key string, rev uint64, from, to string, attrs []byte) *Doc {
	d := &Doc{Key: key, Rev: rev, From: from, To: to}
	b := make([]byte, 0, 2*len(key)+len(coll)+len(from)+len(to)+len(attrs)+48)
	b = d.appendHead(b, coll)
	start := len(b) + 1
	if len(attrs) > 0 {
		b = append(b, ',')
		b = append(b, attrs...)
	}
	end := len(b)
	b = append(b, '}')
	if len(attrs) > 0 {
		d.Attrs = b[start:end:end]
	}
	d.json, d.jsonColl = b[:len(b):len(b)], coll
	return d
}

// RevString is the encoded `_rev`.
func (d *Doc) RevString() string { return EncodeRev(d.Rev) }

// appendHead renders the system attributes: `{"_key":…,"_id":…[,"_from":…,"_to":…],"_rev":"…"`.
func (d *Doc) appendHead(dst []byte, coll string) []byte {
	dst = append(dst, `{"_key":`...)
	dst = appendQuoted(dst, d.Key)
	dst = append(dst, `,"_id":`...)
	dst = appendQuotedID(dst, coll, d.Key)
	if d.From != "" || d.To != "" {
		dst = append(dst, `,"_from":`...)
		dst = appendQuoted(dst, d.From)
		dst = append(dst, `,"_to":`...)
		dst = appendQuoted(dst, d.To)
	}
	dst = append(dst, `,"_rev":"`...)
	dst = appendRev(dst, d.Rev)
	return append(dst, '"')
}

// AppendJSON renders the document as arangod prints it: _key, _id, _from, _to, _rev,
// then the user attributes. coll is the cluster collection name (not the shard name).
func (d *Doc) AppendJSON(dst []byte, coll string) []byte {
	if d.json != nil && coll == d.jsonColl {
		return append(dst, d.json...)
	}
	dst = d.appendHead(dst, coll)
	if len(d.Attrs) > 0 {
		dst = append(dst, ',')
		dst = append(dst, d.Attrs...)
	}
	return append(dst, '}')
}

// JSON renders the document (see AppendJSON). The result may be shared: read only.
func (d *Doc) JSON(coll string) []byte {
	if d.json != nil && coll == d.jsonColl {
		return d.json
	}
	return d.AppendJSON(make([]byte, 0, len(d.Attrs)+96), coll)
}

// Fields returns the user attributes as members.
func (d *Doc) Fields() []field {
	if len(d.Attrs) == 0 {
		return nil
	}
	b := make([]byte, 0, len(d.Attrs)+2)
	b = append(b, '{')
	b = append(b, d.Attrs...)
	b = append(b, '}')
	fs, _ := objectFields(b)
	return fs
}

// Replica is one copy of a shard on one DB-Server. Its documents are guarded by mu;
// docs is copied before the first write after a snapshot took it (copy-on-snapshot).
type Replica struct {
	Shard  *Shard
	Server *Server

	mu     sync.RWMutex
	docs   map[string]*Doc
	shared bool // docs is referenced by a snapshot: clone before mutating
	// unique maps a unique index id to encoded value → key, maintained on every replica.
	unique map[uint64]map[string]string
}

func newReplica(sh *Shard, s *Server) *Replica {
	return &Replica{Shard: sh, Server: s, docs: make(map[string]*Doc)}
}

// Get returns the current version of a document.
func (r *Replica) Get(key string) (*Doc, bool) {
	r.mu.RLock()
	d, ok := r.docs[key]
	r.mu.RUnlock()
	return d, ok
}

// Count returns the number of documents.
func (r *Replica) Count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.docs)
}

// mutable returns the map to write to, cloning it first if a snapshot shares it.
// Callers hold r.mu for writing.
func (r *Replica) mutable() map[string]*Doc {
	if r.shared {
		m := make(map[string]*Doc, len(r.docs)+16)
		for k, v := range r.docs {
			m[k] = v
		}
		r.docs = m
		r.shared = false
	}
	return r.docs
}

// freeze hands out the current map as an immutable view. Callers hold r.mu.
func (r *Replica) freeze() map[string]*Doc {
	r.shared = true
	return r.docs
}

// ShardSnapshot is an immutable view of one shard replica at its server's snapshot tick.
type ShardSnapshot struct {
	Shard          string // shard name, e.g. "s1000012"
	CollectionName string // cluster collection name (what `_id` shows)
	PlanID         uint64
	docs           map[string]*Doc

	once  sync.Once
	byRev []*Doc
}

// Len returns the number of documents in the snapshot.
func (ss *ShardSnapshot) Len() int { return len(ss.docs) }

// Get returns a document by key.
func (ss *ShardSnapshot) Get(key string) (*Doc, bool) {
	d, ok := ss.docs[key]
	return d, ok
}

// ByRev returns every document sorted by ascending revision (computed once, shared:
// callers must not modify the slice).
func (ss *ShardSnapshot) ByRev() []*Doc {
	ss.once.Do(func() {
		ss.byRev = make([]*Doc, 0, len(ss.docs))
		for _, d := range ss.docs {
			ss.byRev = append(ss.byRev, d)
		}
		slices.SortFunc(ss.byRev, func(a, b *Doc) int {
			switch {
			case a.Rev < b.Rev:
				return -1
			case a.Rev > b.Rev:
				return 1
			}
			return strings.Compare(a.Key, b.Key)
		})
	})
	return ss.byRev
}

// Snapshot is a consistent read-only view of every shard of one database on one
// DB-Server, taken at WAL tick Tick: every change with a tick <= Tick is in it, none after.
type Snapshot struct {
	Server *Server
	DB     string
	Tick   uint64
	shards map[string]*ShardSnapshot
}

// Shard returns the snapshot of one shard (by shard name).
func (sn *Snapshot) Shard(name string) (*ShardSnapshot, bool) {
	ss, ok := sn.shards[name]
	return ss, ok
}

// Shards returns the shard names in the snapshot, sorted.
func (sn *Snapshot) Shards() []string {
	out := make([]string, 0, len(sn.shards))
	for n := range sn.shards {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
