package arangosim

import "strconv"

// Marker renderers. Field orders follow spec §1.5 (RocksDBWalAccess): tick/tid are
// strings, type a number, cuid on DB-Servers c<planId>/<shard>.

func appendTick(dst []byte, tick uint64) []byte {
	dst = append(dst, `{"tick":"`...)
	dst = strconv.AppendUint(dst, tick, 10)
	return append(dst, '"')
}

func appendType(dst []byte, typ int) []byte {
	dst = append(dst, `,"type":`...)
	return strconv.AppendInt(dst, int64(typ), 10)
}

func appendKV(dst []byte, key string, quotedVal string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendQuoted(dst, quotedVal)
}

// databaseMarker: 1100 tick,type,db,data / 1101 tick,type,db.
func databaseMarker(typ int, db *Database) pendingMarker {
	data := obj("database", db.ID, "id", strconv.FormatUint(db.ID, 10), "name", db.Name)
	name := db.Name
	return pendingMarker{Type: typ, DB: name, DBID: db.ID, render: func(dst []byte, tick uint64) []byte {
		dst = appendTick(dst, tick)
		dst = appendType(dst, typ)
		dst = appendKV(dst, "db", name)
		if typ == MarkerDatabaseCreate {
			dst = append(dst, `,"data":`...)
			dst = append(dst, data...)
		}
		return append(dst, '}')
	}}
}

// collectionMarker renders 2000–2004 for one shard. data may be nil for drop/truncate.
func collectionMarker(typ int, sh *Shard, data []byte) pendingMarker {
	db, cuid := sh.Coll.DB.Name, sh.GUID()
	return pendingMarker{Type: typ, DB: db, DBID: sh.Coll.DB.ID, Shard: sh.Name, PlanID: sh.Coll.ID,
		System: sh.Coll.IsSystem, render: func(dst []byte, tick uint64) []byte {
			dst = appendTick(dst, tick)
			switch typ {
			case MarkerCollectionDrop, MarkerCollectionTrunc:
				dst = appendType(dst, typ)
				dst = appendKV(dst, "db", db)
				dst = appendKV(dst, "cuid", cuid)
			default:
				dst = appendKV(dst, "db", db)
				dst = appendKV(dst, "cuid", cuid)
				dst = appendType(dst, typ)
				dst = append(dst, `,"data":`...)
				dst = append(dst, data...)
			}
			return append(dst, '}')
		}}
}

// indexMarker renders 2100 (data = definition) / 2101 (data = {"id":...}).
func indexMarker(typ int, sh *Shard, data []byte) pendingMarker {
	db, cuid := sh.Coll.DB.Name, sh.GUID()
	return pendingMarker{Type: typ, DB: db, DBID: sh.Coll.DB.ID, Shard: sh.Name, PlanID: sh.Coll.ID,
		System: sh.Coll.IsSystem, render: func(dst []byte, tick uint64) []byte {
			dst = appendTick(dst, tick)
			dst = appendType(dst, typ)
			dst = appendKV(dst, "db", db)
			dst = appendKV(dst, "cuid", cuid)
			dst = append(dst, `,"data":`...)
			dst = append(dst, data...)
			return append(dst, '}')
		}}
}

// viewMarker renders 2110/2112 (tick,db,cuid,data,type) and 2111 (tick,type,db,cuid).
func viewMarker(typ int, db *Database, guid string, data []byte) pendingMarker {
	name := db.Name
	return pendingMarker{Type: typ, DB: name, DBID: db.ID, Shard: guid, render: func(dst []byte, tick uint64) []byte {
		dst = appendTick(dst, tick)
		if typ == MarkerViewDrop {
			dst = appendType(dst, typ)
			dst = appendKV(dst, "db", name)
			dst = appendKV(dst, "cuid", guid)
			return append(dst, '}')
		}
		dst = appendKV(dst, "db", name)
		dst = appendKV(dst, "cuid", guid)
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
		dst = appendType(dst, typ)
		return append(dst, '}')
	}}
}

// trxMarker renders 2200/2201: tick,type,tid,db.
func trxMarker(typ int, db *Database, tid uint64) pendingMarker {
	name := db.Name
	return pendingMarker{Type: typ, DB: name, DBID: db.ID, TID: tid, render: func(dst []byte, tick uint64) []byte {
		dst = appendTick(dst, tick)
		dst = appendType(dst, typ)
		dst = append(dst, `,"tid":`...)
		dst = appendQuotedUint(dst, tid)
		dst = appendKV(dst, "db", name)
		return append(dst, '}')
	}}
}

// documentMarker makes a 2300 (data = full document) or 2302 (data = {_key,_rev})
// marker: tick,type,db,cuid,tid,data. src is documentSrc(typ, sh, tid), which the
// markers of one batch and shard share; data is shared, never copied.
func documentMarker(typ int, tid uint64, src *markerSrc, data []byte) pendingMarker {
	return pendingMarker{Type: typ, TID: tid, src: src, data: data}
}

// documentSrc makes the source of document markers of type typ of one write batch
// (transaction tid) on shard sh, with the head between their tick and their data:
// `,"type":…,"db":…,"cuid":…,"tid":"…","data":`.
func documentSrc(typ int, sh *Shard, tid uint64) *markerSrc {
	db := sh.Coll.DB
	b := make([]byte, 0, 64+len(db.Name)+len(sh.Name))
	b = appendType(b, typ)
	b = appendKV(b, "db", db.Name)
	b = appendKV(b, "cuid", sh.GUID())
	b = append(b, `,"tid":`...)
	b = appendQuotedUint(b, tid)
	b = append(b, `,"data":`...)
	return &markerSrc{DB: db.Name, DBID: db.ID, Shard: sh.Name, PlanID: sh.Coll.ID, System: sh.Coll.IsSystem, head: b[:len(b):len(b)]}
}

func removeData(key string, rev uint64) []byte {
	b := make([]byte, 0, len(key)+32)
	b = append(b, `{"_key":`...)
	b = appendQuoted(b, key)
	b = append(b, `,"_rev":"`...)
	b = appendRev(b, rev)
	return append(b, `"}`...)
}
