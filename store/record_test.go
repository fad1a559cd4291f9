package store

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func sampleRecords() []Record {
	at := time.Date(2026, 11, 25, 18, 0, 0, 123, time.UTC)
	return []Record{
		SourcePosition{Sync: "sync-1", Shard: "db/c1/0", Epoch: 3, Leader: "PRMR-abc", Tick: 123456789, Sub: 7,
			LastScanned: 42, SnapshotTick: 100, Phase: PhaseInitialSync, UpdatedAt: at},
		SourcePosition{Sync: "s", Shard: "x", Epoch: math.MaxUint64, Tick: math.MaxUint64},
		AppliedPosition{Sync: "sync-1", Shard: "db/c1/0", Epoch: 3, Tick: 99, Partition: 7, Offset: 1 << 40,
			Phase: PhaseTailing, UpdatedAt: at},
		AppliedPosition{Sync: "s", Shard: "y", Sub: math.MaxUint32, Partition: math.MaxInt32, Offset: -1},
		SyncMeta{Sync: "sync-1", LeaderEpoch: 9, Owner: "worker-b-1", UpdatedAt: at},
		SyncMeta{Sync: "ü"},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		if err := checkRecord(r); err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		k, v := encodeRecord(r)
		got, err := decodeRecord(k, v)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
		if v[0] != recordVersion {
			t.Fatalf("value does not start with the version byte: %x", v)
		}
	}
}

// TestDecodeVersion1 pins the format of version 1 (no Sub): stores written
// before Sub existed still open.
func TestDecodeVersion1(t *testing.T) {
	k := makeKey(KindSource, "s", "db/1/0")
	// version, kind, epoch 3, leader "L", tick 300, scanned 0, snapshot 0, phase "", time 0
	v := []byte{1, 's', 3, 1, 'L', 0xac, 0x02, 0, 0, 0, 0}
	got, err := decodeRecord(k, v)
	want := SourcePosition{Sync: "s", Shard: "db/1/0", Epoch: 3, Leader: "L", Tick: 300}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 source: %+v %v", got, err)
	}
	k = makeKey(KindApplied, "s", "db/1/0")
	// version, kind, epoch 1, tick 2, partition 3 (zigzag 6), offset 4 (zigzag 8), phase "", time 0
	v = []byte{1, 'a', 1, 2, 6, 8, 0, 0}
	got, err = decodeRecord(k, v)
	wantA := AppliedPosition{Sync: "s", Shard: "db/1/0", Epoch: 1, Tick: 2, Partition: 3, Offset: 4}
	if err != nil || !reflect.DeepEqual(got, wantA) {
		t.Fatalf("v1 applied: %+v %v", got, err)
	}
}

func TestPosOrder(t *testing.T) {
	ordered := []Pos{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 5}, {1, 7, 0}, {2, 0, 0}}
	for i := range ordered {
		for j := range ordered {
			if got := ordered[i].Less(ordered[j]); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v", ordered[i], ordered[j], got)
			}
		}
	}
}

func TestRecordEncodingIsCompact(t *testing.T) {
	r := AppliedPosition{Sync: "s", Shard: "db/123/4", Epoch: 2, Tick: 1 << 30, Partition: 3, Offset: 1 << 20,
		Phase: PhaseTailing, UpdatedAt: time.Unix(1_800_000_000, 0)}
	_, v := encodeRecord(r)
	if len(v) > 32 {
		t.Fatalf("applied position encodes to %d bytes, want at most 32", len(v))
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := sampleRecords()[0]
	k, v := encodeRecord(good)
	cases := map[string]struct{ key, value []byte }{
		"empty value":      {k, nil},
		"newer version":    {k, append([]byte{recordVersion + 1}, v[1:]...)},
		"version 0":        {k, append([]byte{0}, v[1:]...)},
		"kind mismatch":    {k, append([]byte{recordVersion, byte(KindApplied)}, v[2:]...)},
		"truncated":        {k, v[:len(v)-1]},
		"trailing bytes":   {k, append(bytes.Clone(v), 0)},
		"short key":        {[]byte("s"), v},
		"key without sync": {[]byte("s\x00abc"), v},
		"empty shard":      {makeKey(KindSource, "s", ""), v},
		"unknown kind":     {makeKey('z', "s", "x"), append([]byte{recordVersion, 'z'}, v[2:]...)},
		"huge string":      {makeKey(KindMeta, "s", ""), []byte{recordVersion, byte(KindMeta), 1, 0xff, 0xff, 0x03}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeRecord(c.key, c.value)
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("want a *DecodeError, got %v", err)
			}
		})
	}
}

func TestCheckRecord(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), MaxIDLen+1))
	bad := []Record{
		SourcePosition{Shard: "db/1/0"},
		SourcePosition{Sync: "s"},
		SourcePosition{Sync: "s\x00t", Shard: "db/1/0"},
		SourcePosition{Sync: "s", Shard: long},
		SourcePosition{Sync: "s", Shard: "\xff"},
		SourcePosition{Sync: "s", Shard: "a", Leader: long},
		AppliedPosition{Sync: "s", Shard: "a", Partition: -1},
		SyncMeta{},
	}
	for _, r := range bad {
		if err := checkRecord(r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%+v: want ErrInvalidRecord, got %v", r, err)
		}
	}
}

// FuzzDecodeRecord: decoding arbitrary bytes never panics, fails only with a
// *DecodeError, and whatever decodes re-encodes to something that decodes to
// the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		k, v := encodeRecord(r)
		f.Add(k, v)
	}
	f.Add([]byte("a\x00s\x00x"), []byte{1, 'a', 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := decodeRecord(key, value)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error is not a decode error: %v", err)
			}
			return
		}
		if err := checkRecord(r); err != nil {
			t.Fatalf("decoded record %+v is not valid: %v", r, err)
		}
		k2, v2 := encodeRecord(r)
		if !bytes.Equal(k2, key) {
			t.Fatalf("key re-encodes differently: %q vs %q", k2, key)
		}
		r2, err := decodeRecord(k2, v2)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded record does not round trip: %+v vs %+v (%v)", r, r2, err)
		}
	})
}

// FuzzRecordRoundTrip: any valid record survives encode and decode.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add(uint8(0), "sync", "db/1/0", uint64(1), uint64(2), uint64(3), int64(4), "leader", int64(1_700_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, kind uint8, sync, shard string, epoch, tick, n uint64, off int64, s string, ns int64) {
		var at time.Time
		if ns != 0 {
			at = time.Unix(0, ns).UTC()
		}
		var r Record
		switch kind % 3 {
		case 0:
			r = SourcePosition{Sync: sync, Shard: shard, Epoch: epoch, Leader: s, Tick: tick, Sub: uint32(n), LastScanned: n,
				SnapshotTick: n / 2, Phase: Phase(s), UpdatedAt: at}
		case 1:
			r = AppliedPosition{Sync: sync, Shard: shard, Epoch: epoch, Tick: tick, Sub: uint32(n >> 32), Partition: int32(n % (1 << 31)),
				Offset: off, Phase: Phase(s), UpdatedAt: at}
		default:
			r = SyncMeta{Sync: sync, LeaderEpoch: epoch, Owner: s, UpdatedAt: at}
		}
		if checkRecord(r) != nil {
			return
		}
		k, v := encodeRecord(r)
		got, err := decodeRecord(k, v)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	})
}
