package arangosim

import (
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

type opKind int

const (
	opInsert opKind = iota
	opReplace
	opUpdate
	opRemove
)

// writeOptions are the query options of a document write.
type writeOptions struct {
	WaitForSync   bool
	ReturnNew     bool
	ReturnOld     bool
	Silent        bool
	KeepNull      bool
	MergeObjects  bool
	IgnoreRevs    bool
	IsRestore     bool
	Overwrite     bool
	OverwriteMode string // "", ignore, replace, update, conflict
}

// docOp is one document operation.
type docOp struct {
	kind   opKind
	key    string
	obj    []byte  // the operation's JSON object (nil: none, or fields were given)
	fields []field // user attributes (system attributes removed): userFields
	// attrs are the user attributes as Doc.Attrs holds them, a slice of obj, when
	// attrsOK (parseDocOp found them verbatim in obj): userAttrs
	attrs    []byte
	attrsOK  bool
	fieldsOK bool
	from     string
	to       string
	hasRev   bool
	rev      uint64 // _rev from the body (precondition, or verbatim with isRestore)
	ifRev    uint64 // If-Match precondition (0 = none)
	edgeIn   bool   // _from/_to were given (update may change them)
	err      *ArangoError
	shard    *Shard
}

// opResult is the outcome of one docOp.
type opResult struct {
	err    *ArangoError
	key    string
	rev    uint64
	oldRev uint64
	newDoc *Doc
	oldDoc *Doc
}

// change is a decided modification of one document, applied verbatim on every replica.
type change struct {
	sh   *Shard
	key  string
	doc  *Doc // nil = remove
	old  *Doc
	data []byte // rendered marker data, computed once for every replica
}

var keyChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-:.@()+,=;$!*'%" {
		t[c] = true
	}
	return t
}()

func validKey(k string) bool {
	if k == "" || len(k) > 254 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !keyChars[k[i]] {
			return false
		}
	}
	return true
}

func errIllegalKey() *ArangoError {
	return newErr(http.StatusBadRequest, errNumDocumentKeyBad, "illegal document key")
}

// parseDocOp turns one JSON value of a request body into an operation. For remove, raw
// may also be a key string. keyHint is the key from the URL (single-document paths).
func (col *Collection) parseDocOp(kind opKind, raw []byte, keyHint string, o writeOptions) *docOp {
	op := new(docOp)
	col.parseDocOpInto(op, kind, raw, keyHint, o)
	return op
}

// parseDocOpInto is parseDocOp into a given (zero) op.
func (col *Collection) parseDocOpInto(op *docOp, kind opKind, raw []byte, keyHint string, o writeOptions) {
	op.kind, op.key = kind, keyHint
	k := jsonKind(raw)
	if kind == opRemove && k == 's' {
		s, err := unquote(raw)
		if err != nil {
			op.err = newErr(http.StatusBadRequest, errNumDocumentHandleBad, "illegal document identifier")
			return
		}
		if i := strings.IndexByte(s, '/'); i >= 0 {
			if s[:i] != col.CurrentName() {
				op.err = notFoundErr() // a handle of another collection
				return
			}
			s = s[i+1:]
		}
		op.key = s
		return
	}
	if k != 'o' {
		op.err = newErr(http.StatusBadRequest, errNumDocumentTypeInvalid, "invalid document type")
		return
	}
	op.obj = raw
	// One pass over the members: the system attributes are decoded, the user
	// attributes only located. When they form one run of `"key":value` members that
	// appendFields would render the same (plain keys, no whitespace), that run of
	// raw bytes is the document's Attrs; otherwise they are rendered from the fields.
	runStart, runEnd := -1, -1
	verbatim, sysInside, failed := true, false, false
	err := scanObject(raw, func(rk []byte, start, vs, ve int) error {
		if failed {
			return nil // as objectFields did first: a syntax error still wins
		}
		name := rk[1 : len(rk)-1]
		plain := plainBytes(name)
		var sys string
		if plain {
			sys = systemAttrName(string(name), col.Type == 3)
		} else {
			key, err := unquote(rk)
			if err != nil {
				return err
			}
			sys = systemAttrName(key, col.Type == 3)
		}
		if sys == "" {
			if !plain || vs != start+len(rk)+1 || (runStart >= 0 && (sysInside || start != runEnd+1)) {
				verbatim = false
			}
			if runStart < 0 {
				runStart = start
			}
			runEnd = ve
			return nil
		}
		op.err = op.systemAttr(sys, raw[vs:ve], keyHint, o)
		failed = op.err != nil
		sysInside = runStart >= 0
		return nil
	})
	if err != nil {
		op.err = newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	if op.err != nil {
		return
	}
	if verbatim {
		op.attrsOK = true
		if runStart >= 0 {
			op.attrs = raw[runStart:runEnd:runEnd]
		}
	}
	if col.Type == 3 && kind != opRemove && kind != opUpdate && (op.from == "" || op.to == "") {
		op.err = newErr(http.StatusBadRequest, errNumInvalidEdgeAttr, "edge attribute missing or invalid")
	}
}

// systemAttrName returns name if it is a system attribute parseDocOp decodes (_key,
// _id, _rev; _from and _to of an edge), else "".
func systemAttrName(name string, edge bool) string {
	switch name {
	case "_key", "_id", "_rev":
		return name
	case "_from", "_to":
		if edge {
			return name
		}
	}
	return ""
}

// systemAttr applies one system attribute of the op's object.
func (op *docOp) systemAttr(name string, val []byte, keyHint string, o writeOptions) *ArangoError {
	switch name {
	case "_key":
		s, err := unquote(val)
		if err != nil || jsonKind(val) != 's' {
			return errIllegalKey()
		}
		if keyHint == "" {
			op.key = s
		}
	case "_rev":
		if s, err := unquote(val); err == nil && s != "" {
			v, ok := DecodeRev(s)
			if !ok {
				if o.IsRestore {
					return newErr(http.StatusBadRequest, errNumDocumentRevBad, "illegal document revision")
				}
				v = ^uint64(0) // matches no stored revision
			}
			op.hasRev, op.rev = true, v
		}
	case "_from", "_to":
		s, err := unquote(val)
		if err != nil || !validHandle(s) {
			return newErr(http.StatusBadRequest, errNumInvalidEdgeAttr, "edge attribute missing or invalid")
		}
		if name == "_from" {
			op.from = s
		} else {
			op.to = s
		}
		op.edgeIn = true
	}
	return nil
}

// userFields returns the op's user attributes as members (parsed on first use).
func (op *docOp) userFields(col *Collection) []field {
	if op.fieldsOK || op.obj == nil {
		return op.fields
	}
	op.fieldsOK = true
	fs, _ := objectFields(op.obj)
	attrs := fs[:0]
	for _, f := range fs {
		switch f.Key {
		case "_key", "_id", "_rev":
		case "_from", "_to":
			if col.Type != 3 {
				attrs = append(attrs, f)
			}
		default:
			attrs = append(attrs, f)
		}
	}
	op.fields = attrs
	return attrs
}

// userAttrs returns the op's user attributes as Doc.Attrs holds them.
func (op *docOp) userAttrs(col *Collection) []byte {
	if op.attrsOK {
		return op.attrs
	}
	return appendFields(nil, op.userFields(col))
}

func validHandle(s string) bool {
	c, k, ok := strings.Cut(s, "/")
	return ok && c != "" && validKey(k)
}

// shardFor picks the responsible shard: hash of the shard key values modulo the shard count.
func (col *Collection) shardFor(key string, fields []field) *Shard {
	if len(col.Shards) == 1 {
		return col.Shards[0]
	}
	h := fnv.New64a()
	for _, sk := range col.Props.ShardKeys {
		if sk == "_key" {
			h.Write([]byte(key))
		} else {
			v, ok := lookupPath(fields, sk)
			if !ok {
				v = []byte("null")
			}
			h.Write(v)
		}
		h.Write([]byte{0})
	}
	return col.Shards[h.Sum64()%uint64(len(col.Shards))]
}

// lookupPath finds a (possibly dotted) attribute in members.
func lookupPath(fs []field, path string) ([]byte, bool) {
	head, rest, nested := strings.Cut(path, ".")
	v, ok := getField(fs, head)
	if !ok {
		return nil, false
	}
	if !nested {
		return v, true
	}
	if jsonKind(v) != 'o' {
		return nil, false
	}
	sub, err := objectFields(v)
	if err != nil {
		return nil, false
	}
	return lookupPath(sub, rest)
}

// shardKeyOnlyKey reports whether the collection is sharded by _key alone.
func (col *Collection) shardKeyOnlyKey() bool {
	return len(col.Props.ShardKeys) == 1 && col.Props.ShardKeys[0] == "_key"
}

// newKey generates a key with the collection's key generator.
func (col *Collection) newKey(c *Cluster) string {
	switch col.Props.KeyType {
	case "autoincrement":
		return strconv.FormatUint(col.keySeq.Add(col.Props.KeyIncrement), 10)
	case "uuid":
		return newUUID()
	case "padded":
		return pad16(c.nextID())
	default:
		return strconv.FormatUint(c.nextID(), 10)
	}
}

func pad16(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// prepare validates keys and routes every op to its shard.
func (col *Collection) prepare(c *Cluster, ops []*docOp, o writeOptions) {
	for _, op := range ops {
		if op.err != nil {
			continue
		}
		if op.kind == opInsert {
			if op.key == "" {
				op.key = col.newKey(c)
			} else {
				if !col.Props.AllowUserKeys && !o.IsRestore {
					op.err = newErr(http.StatusBadRequest, errNumDocumentKeyUnexp, "unexpected document key")
					continue
				}
				if !col.shardKeyOnlyKey() && !o.IsRestore && len(col.Shards) > 1 {
					op.err = newErr(http.StatusBadRequest, errNumClusterMustNotKey, "must not specify _key for this collection")
					continue
				}
			}
		}
		if op.key == "" {
			op.err = newErr(http.StatusBadRequest, errNumDocumentHandleBad, "illegal document identifier")
			continue
		}
		if !validKey(op.key) {
			if op.kind == opInsert {
				op.err = errIllegalKey()
			} else {
				op.err = newErr(http.StatusNotFound, errNumDocumentNotFound, "document not found")
			}
			continue
		}
		if col.shardKeyOnlyKey() || len(col.Shards) == 1 {
			op.shard = col.shardFor(op.key, nil)
			continue
		}
		if op.kind == opInsert || op.kind == opReplace {
			op.shard = col.shardFor(op.key, op.userFields(col))
			continue
		}
		// update/remove by key on a collection sharded by other attributes: find the shard
		// holding the key (a Coordinator asks every shard).
		op.shard = col.locate(op.key)
		if op.shard == nil {
			op.shard = col.Shards[0]
		}
	}
}

// locate finds the shard whose leader holds key.
func (col *Collection) locate(key string) *Shard {
	for _, sh := range col.Shards {
		if r := sh.leaderReplica(); r != nil {
			if _, ok := r.Get(key); ok {
				return sh
			}
		}
	}
	return nil
}

// leaderReplica returns the replica on the shard's current leader (nil if none is up).
func (sh *Shard) leaderReplica() *Replica {
	c := sh.Coll.DB.c
	var leader *Server
	c.mu.RLock()
	for _, s := range sh.servers {
		if s.up.Load() || !s.everStarted() {
			leader = s
			break
		}
	}
	c.mu.RUnlock()
	if leader == nil {
		return nil
	}
	r, _ := leader.replica(sh.Name)
	return r
}

// reqMemo holds, for the ops of one request, what each of them would otherwise look
// up again under the catalog lock: the collection's name, every shard's leader replica
// and write-concern state, the unique indexes. A nil *reqMemo looks everything up.
type reqMemo struct {
	col    *Collection
	coll   string
	shards []shardMemo
	uniq   []*Index
	uniqOK bool
}

type shardMemo struct {
	sh     *Shard
	leader *Replica
	wc     *ArangoError
}

func newReqMemo(col *Collection) *reqMemo { return &reqMemo{col: col, coll: col.CurrentName()} }

// name is the collection's name (what _id shows).
func (m *reqMemo) name(col *Collection) string {
	if m == nil || m.col != col {
		return col.CurrentName()
	}
	return m.coll
}

// shard returns the shard's leader replica (nil if none is up) and its write-concern error.
func (m *reqMemo) shard(sh *Shard) (*Replica, *ArangoError) {
	if m == nil {
		return sh.leaderReplica(), sh.writeConcernError()
	}
	for i := range m.shards {
		if m.shards[i].sh == sh {
			return m.shards[i].leader, m.shards[i].wc
		}
	}
	sm := shardMemo{sh: sh, leader: sh.leaderReplica(), wc: sh.writeConcernError()}
	m.shards = append(m.shards, sm)
	return sm.leader, sm.wc
}

// uniqueIndexes returns col.uniqueIndexes().
func (m *reqMemo) uniqueIndexes(col *Collection) []*Index {
	if m == nil || m.col != col {
		return col.uniqueIndexes()
	}
	if !m.uniqOK {
		m.uniq, m.uniqOK = col.uniqueIndexes(), true
	}
	return m.uniq
}

// execute runs ops against the collection: every involved shard is locked (in id order),
// results are decided against the leader's state, and the decided changes are applied to
// every replica. With tid != 0 the changes of each server form one transaction.
func (c *Cluster) execute(col *Collection, ops []*docOp, o writeOptions) []opResult {
	return c.executeAtomic(col, ops, o, false)
}

// executeAtomic is execute; with allOrNothing no change is applied if any op fails.
func (c *Cluster) executeAtomic(col *Collection, ops []*docOp, o writeOptions, allOrNothing bool) []opResult {
	results := make([]opResult, len(ops))
	var shards []*Shard
	for _, op := range ops {
		if op.err == nil && !slices.Contains(shards, op.shard) {
			shards = append(shards, op.shard)
		}
	}
	slices.SortFunc(shards, func(a, b *Shard) int { return cmpUint(a.ID, b.ID) })
	for _, sh := range shards {
		sh.mu.Lock()
	}
	defer func() {
		for _, sh := range shards {
			sh.mu.Unlock()
		}
	}()
	ov := newOverlay()
	memo := newReqMemo(col)
	changes := make([]change, 0, len(ops))
	for i, op := range ops {
		if op.err != nil {
			results[i] = opResult{err: op.err}
			continue
		}
		var ch change
		res, changed := c.decide(col, op, o, ov, memo, &ch)
		results[i] = res
		if changed {
			changes = append(changes, ch)
			ov.set(&ch)
		}
	}
	if allOrNothing {
		for _, res := range results {
			if res.err != nil {
				return results
			}
		}
	}
	c.commitChanges(changes, false)
	return results
}

// overlay holds the decisions made earlier in the same request (or transaction).
type overlay struct {
	docs map[*Shard]map[string]*Doc // nil value = removed
	// uniq remembers unique-index values claimed earlier in the request: index id →
	// value → key. Entries can be stale (the key changed again); checkUnique verifies.
	uniq map[uint64]map[string]string
}

func newOverlay() *overlay {
	return &overlay{docs: make(map[*Shard]map[string]*Doc), uniq: make(map[uint64]map[string]string)}
}

func (ov *overlay) set(ch *change) {
	m := ov.docs[ch.sh]
	if m == nil {
		m = make(map[string]*Doc)
		ov.docs[ch.sh] = m
	}
	m[ch.key] = ch.doc
}

func (ov *overlay) get(sh *Shard, key string) (*Doc, bool, bool) {
	if m := ov.docs[sh]; m != nil {
		if d, ok := m[key]; ok {
			return d, d != nil, true
		}
	}
	return nil, false, false
}

// current returns the document as the op sees it: overlay first, then the leader.
func current(sh *Shard, key string, ov *overlay) (*Doc, bool) {
	return currentIn(sh.leaderReplica(), sh, key, ov)
}

// currentIn is current with the shard's leader replica r already looked up.
func currentIn(r *Replica, sh *Shard, key string, ov *overlay) (*Doc, bool) {
	if d, ok, hit := ov.get(sh, key); hit {
		return d, ok
	}
	if r == nil {
		return nil, false
	}
	return r.Get(key)
}

func conflictErr(col *Collection, d *Doc) *ArangoError {
	e := newErr(http.StatusPreconditionFailed, errNumConflict, "conflict, _rev values do not match")
	e.Extra = []field{{"_id", quoteJSON(col.CurrentName() + "/" + d.Key)}, {"_key", quoteJSON(d.Key)}, {"_rev", quoteJSON(EncodeRev(d.Rev))}}
	return e
}

func notFoundErr() *ArangoError {
	return newErr(http.StatusNotFound, errNumDocumentNotFound, "document not found")
}

// decide computes the result of one op and, when it changes something, the change
// (into ch; it reports whether). Callers hold the shard's lock.
// m (nil: none) remembers lookups for the other ops of the same request.
func (c *Cluster) decide(col *Collection, op *docOp, o writeOptions, ov *overlay, m *reqMemo, ch *change) (opResult, bool) {
	sh := op.shard
	leader, wcErr := m.shard(sh)
	if leader == nil {
		return opResult{err: newErr(http.StatusServiceUnavailable, errNumNotLeader, "not a leader")}, false
	}
	if wcErr != nil {
		return opResult{err: wcErr}, false
	}
	cur, exists := currentIn(leader, sh, op.key, ov)
	kind := op.kind
	if kind == opInsert && exists {
		mode := o.OverwriteMode
		if mode == "" && o.Overwrite {
			mode = "replace"
		}
		switch mode {
		case "ignore":
			return opResult{key: cur.Key, rev: cur.Rev}, false
		case "replace":
			kind = opReplace
		case "update":
			kind = opUpdate
		default:
			return opResult{err: newErr(http.StatusConflict, errNumUniqueViolated,
				"unique constraint violated - in index primary of type primary over '_key'; conflicting key: "+op.key)}, false
		}
	} else if kind != opInsert && !exists {
		return opResult{err: notFoundErr()}, false
	}
	if kind != opInsert && op.kind != opInsert {
		if op.ifRev != 0 && op.ifRev != cur.Rev {
			return opResult{err: conflictErr(col, cur)}, false
		}
		if !o.IgnoreRevs && op.hasRev && op.rev != cur.Rev && !o.IsRestore {
			return opResult{err: conflictErr(col, cur)}, false
		}
	}
	rev := uint64(0)
	if o.IsRestore && op.hasRev {
		rev = op.rev
		c.clock.Observe(rev)
	} else {
		rev = c.clock.Next()
	}
	var nd *Doc
	switch kind {
	case opRemove:
		*ch = change{sh: sh, key: cur.Key, doc: nil, old: cur}
		return opResult{key: cur.Key, rev: cur.Rev, oldDoc: cur}, true
	case opInsert, opReplace:
		nd = newDoc(m.name(col), op.key, rev, op.from, op.to, op.userAttrs(col))
		if kind == opReplace && col.Type == 3 && (op.from == "" || op.to == "") {
			return opResult{err: newErr(http.StatusBadRequest, errNumInvalidEdgeAttr, "edge attribute missing or invalid")}, false
		}
	case opUpdate:
		merged, err := mergePatch(cur.Fields(), op.userFields(col), o.KeepNull, o.MergeObjects)
		if err != nil {
			return opResult{err: newErr(http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")}, false
		}
		from, to := cur.From, cur.To
		if op.edgeIn {
			if op.from != "" {
				from = op.from
			}
			if op.to != "" {
				to = op.to
			}
		}
		nd = newDoc(m.name(col), cur.Key, rev, from, to, appendFields(nil, merged))
	}
	if cur != nil && !col.shardKeyOnlyKey() && len(col.Shards) > 1 {
		for _, sk := range col.Props.ShardKeys {
			a, _ := lookupPath(cur.Fields(), sk)
			b, _ := lookupPath(nd.Fields(), sk)
			if string(a) != string(b) {
				return opResult{err: newErr(http.StatusBadRequest, errNumMustNotChangeShard,
					"must not change the value of a shard key attribute")}, false
			}
		}
	}
	if e := c.checkUnique(col, sh, leader, m.uniqueIndexes(col), nd, ov); e != nil {
		return opResult{err: e}, false
	}
	res := opResult{key: nd.Key, rev: nd.Rev, newDoc: nd}
	if cur != nil {
		res.oldRev, res.oldDoc = cur.Rev, cur
	}
	*ch = change{sh: sh, key: nd.Key, doc: nd, old: cur}
	return res, true
}

// commitChanges applies decided changes to every replica that is up, logging them in
// each server's WAL. Changes of one shard on one server form one write batch; a batch
// with more than one operation is a transaction (2200 … 2201). With oneTrx every server
// gets a single transaction for all its changes.
func (c *Cluster) commitChanges(changes []change, oneTrx bool) {
	if len(changes) == 0 {
		return
	}
	type group struct {
		s   *Server
		sh  *Shard // nil with oneTrx
		chs []change
	}
	type placement struct {
		sh      *Shard
		servers []*Server
	}
	var (
		groups []*group
		places []placement
	)
	for i := range changes {
		ch := &changes[i]
		if ch.doc != nil {
			ch.data = ch.doc.JSON(ch.sh.Coll.Name)
		}
	}
	for _, ch := range changes {
		var servers []*Server
		found := false
		for _, p := range places {
			if p.sh == ch.sh {
				servers, found = p.servers, true
				break
			}
		}
		if !found {
			servers = ch.sh.Servers()
			places = append(places, placement{ch.sh, servers})
		}
		gsh := ch.sh
		if oneTrx {
			gsh = nil
		}
		for _, s := range servers {
			if !s.up.Load() && s.everStarted() {
				continue
			}
			var g *group
			for _, x := range groups {
				if x.s == s && x.sh == gsh {
					g = x
					break
				}
			}
			if g == nil {
				g = &group{s: s, sh: gsh}
				groups = append(groups, g)
			}
			g.chs = append(g.chs, ch)
		}
	}
	for _, g := range groups {
		g.s.applyChanges(g.chs, oneTrx)
	}
}

// pendingPool recycles applyChanges' marker lists.
var pendingPool = sync.Pool{New: func() any { return new([]pendingMarker) }}

// applyChanges applies changes to this server's replicas and logs them as one write batch.
func (s *Server) applyChanges(chs []change, forceTrx bool) {
	db := chs[0].sh.Coll.DB
	var tid uint64
	pms := pendingPool.Get().(*[]pendingMarker)
	ms := (*pms)[:0]
	defer func() {
		clear(ms)
		*pms = ms[:0]
		pendingPool.Put(pms)
	}()
	if len(chs) > 1 || forceTrx {
		tid = s.c.tids.Add(1)
		ms = append(ms, trxMarker(MarkerTrxStart, db, tid))
	}
	// Unique index definitions are read from the catalog before any data lock is taken
	// (the catalog lock is never acquired while holding commitMu or a replica lock).
	type collIndexes struct {
		col *Collection
		ixs []*Index
	}
	var uniq []collIndexes
	indexesOf := func(col *Collection) []*Index {
		for _, u := range uniq {
			if u.col == col {
				return u.ixs
			}
		}
		return nil
	}
	for _, ch := range chs {
		if !slices.ContainsFunc(uniq, func(u collIndexes) bool { return u.col == ch.sh.Coll }) {
			uniq = append(uniq, collIndexes{ch.sh.Coll, ch.sh.Coll.uniqueIndexes()})
		}
	}
	s.commitMu.RLock()
	defer s.commitMu.RUnlock()
	var (
		cur       *Replica
		curSh     *Shard
		ixs       []*Index
		m         map[string]*Doc
		docSrc    *markerSrc // documentSrc of curSh's 2300 and 2302 markers
		removeSrc *markerSrc
	)
	for _, ch := range chs {
		if ch.sh != curSh {
			r, ok := s.replica(ch.sh.Name)
			if !ok {
				continue
			}
			curSh, ixs = ch.sh, indexesOf(ch.sh.Coll)
			docSrc, removeSrc = nil, nil
			if r != cur {
				if cur != nil {
					cur.mu.Unlock()
				}
				r.mu.Lock()
				cur = r
				m = r.mutable()
			}
		}
		r := cur
		if ch.doc != nil && (len(r.unique) == 0 || len(ixs) == 0) {
			// Nothing to unindex: the previous version is not needed.
			m[ch.key] = ch.doc
		} else {
			old := m[ch.key]
			if ch.doc == nil {
				delete(m, ch.key)
				r.unindex(old, ixs)
				if old != nil {
					if removeSrc == nil {
						removeSrc = documentSrc(MarkerRemove, ch.sh, tid)
					}
					ms = append(ms, documentMarker(MarkerRemove, tid, removeSrc, removeData(old.Key, old.Rev)))
				}
				continue
			}
			m[ch.key] = ch.doc
			r.unindex(old, ixs)
			r.index(ch.doc, ixs)
		}
		data := ch.data
		if data == nil {
			data = ch.doc.JSON(ch.sh.Coll.Name)
		}
		if docSrc == nil {
			docSrc = documentSrc(MarkerDocument, ch.sh, tid)
		}
		ms = append(ms, documentMarker(MarkerDocument, tid, docSrc, data))
	}
	if cur != nil {
		cur.mu.Unlock()
	}
	if s.c.persist != nil {
		s.c.persist.saveChanges(s, chs)
	}
	if tid != 0 {
		ms = append(ms, trxMarker(MarkerTrxCommit, db, tid))
	}
	if len(ms) > 0 && (tid == 0 || len(ms) != 2) {
		s.wal.append(ms)
	}
}

// writeConcernError refuses writes while fewer replicas than writeConcern are up, as
// arangod does by default (--cluster.failed-write-concern-status-code 403: 403/1004).
func (sh *Shard) writeConcernError() *ArangoError {
	c := sh.Coll.DB.c
	c.mu.RLock()
	wc := sh.Coll.Props.WriteConcern
	up := 0
	for _, s := range sh.servers {
		if s.up.Load() || !s.everStarted() {
			up++
		}
	}
	c.mu.RUnlock()
	if up < wc {
		return newErr(http.StatusForbidden, errNumReadOnly, "collection is read-only")
	}
	return nil
}
