package state_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/state"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestDocsCompareAndSet(t *testing.T) {
	_, cl := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := state.NewDocs(cl.Coordinator())
	if _, err := d.Get(ctx, "k"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get before the collection exists: %v, want ErrNotFound", err)
	}
	// Create makes the collection on the way.
	rev1, err := d.Create(ctx, "k", map[string]any{"v": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(ctx); err != nil {
		t.Fatalf("Ensure on an existing collection: %v", err)
	}
	if _, err := d.Create(ctx, "k", map[string]any{"v": 2}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second Create: %v, want ErrConflict", err)
	}
	rev2, err := d.Replace(ctx, "k", rev1, map[string]any{"v": 3})
	if err != nil || rev2 == rev1 {
		t.Fatalf("Replace with the current rev: rev %q err %v", rev2, err)
	}
	if _, err := d.Replace(ctx, "k", rev1, map[string]any{"v": 4}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("Replace with a stale rev: %v, want ErrConflict", err)
	}
	if _, err := d.Replace(ctx, "missing", rev1, map[string]any{}); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Replace of a missing document: %v, want ErrNotFound", err)
	}
	got, err := d.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil || body.V != 3 || got.Rev != rev2 {
		t.Fatalf("stored %s rev %s, want v=3 rev %s", got.Body, got.Rev, rev2)
	}
	// The collection is a system collection.
	var coll struct {
		IsSystem bool `json:"isSystem"`
	}
	if err := cl.Coordinator().GetJSON(ctx, "_db/_system/_api/collection/_dc2dc", nil, &coll); err != nil || !coll.IsSystem {
		t.Fatalf("_dc2dc isSystem=%v err %v", coll.IsSystem, err)
	}
}

type rec struct {
	Workers []string `json:"workers"`
}

func setLease(t *testing.T, ctx context.Context, d *state.Docs, epoch uint64) {
	t.Helper()
	cur, err := d.Get(ctx, state.LeaseKey)
	l := state.Lease{Holder: "m", Epoch: epoch}
	switch {
	case errors.Is(err, state.ErrNotFound):
		_, err = d.Create(ctx, state.LeaseKey, l)
	case err == nil:
		_, err = d.Replace(ctx, state.LeaseKey, cur.Rev, l)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreFencing(t *testing.T) {
	_, cl := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := state.NewDocs(cl.Coordinator())
	s := state.NewStore(d)

	if _, err := s.Save(ctx, 1, "workers", "", rec{}); err == nil {
		t.Fatal("Save without a lease succeeded")
	}
	setLease(t, ctx, d, 3)

	cases := []struct {
		name    string
		epoch   uint64
		rev     func(v state.Version) string
		fenced  bool
		conflic bool
		ok      bool
	}{
		{name: "create with the current epoch", epoch: 3, rev: func(state.Version) string { return "" }, ok: true},
		{name: "create again", epoch: 3, rev: func(state.Version) string { return "" }, conflic: true},
		{name: "replace with the current rev", epoch: 3, rev: func(v state.Version) string { return v.Rev }, ok: true},
		{name: "replace with a stale rev", epoch: 3, rev: func(state.Version) string { return "_stale___" }, conflic: true},
		{name: "lower epoch", epoch: 2, rev: func(v state.Version) string { return v.Rev }, fenced: true},
		{name: "epoch ahead of the lease", epoch: 4, rev: func(v state.Version) string { return v.Rev }},
	}
	var ver state.Version
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nv, err := s.Save(ctx, tc.epoch, "workers", tc.rev(ver), rec{Workers: []string{tc.name}})
			switch {
			case tc.ok:
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				if nv.Epoch != tc.epoch || nv.Rev == "" {
					t.Fatalf("version %+v", nv)
				}
				ver = nv
			case tc.fenced:
				var fe *state.FencedError
				if !errors.As(err, &fe) || !errors.Is(err, state.ErrFenced) || fe.Current != 3 || fe.Where != "lease" {
					t.Fatalf("Save: %v, want a FencedError by the lease at epoch 3", err)
				}
				if failure.CodeOf(err) != failure.CodeSyncFenced || !failure.IsPermanent(err) {
					t.Fatalf("code %v permanent %v", failure.CodeOf(err), failure.IsPermanent(err))
				}
			case tc.conflic:
				if !errors.Is(err, state.ErrConflict) {
					t.Fatalf("Save: %v, want ErrConflict", err)
				}
			default:
				if err == nil || errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrFenced) {
					t.Fatalf("Save: %v, want an internal error", err)
				}
			}
		})
	}

	// A newer leader (epoch 4) writes the record; the old leader's
	// compare-and-set with the rev it read before is fenced by the record
	// even if it still saw the old lease.
	var got rec
	v3, ok, err := s.Load(ctx, "workers", &got)
	if err != nil || !ok || v3.Epoch != 3 || got.Workers[0] != "replace with the current rev" {
		t.Fatalf("Load: %+v %v %v %v", v3, got, ok, err)
	}
	setLease(t, ctx, d, 4)
	if _, err := s.Save(ctx, 4, "workers", v3.Rev, rec{Workers: []string{"new leader"}}); err != nil {
		t.Fatal(err)
	}
	setLease(t, ctx, d, 3) // pretend the stale leader read the lease before the takeover
	_, err = s.Save(ctx, 3, "workers", v3.Rev, rec{Workers: []string{"stale"}})
	var fe *state.FencedError
	if !errors.As(err, &fe) || fe.Where != "record" || fe.Current != 4 {
		t.Fatalf("stale write: %v, want fenced by the record at epoch 4", err)
	}
	setLease(t, ctx, d, 4)
	if _, ok, _ := s.Load(ctx, "workers", &got); !ok || got.Workers[0] != "new leader" {
		t.Fatalf("record after the stale write: %v", got)
	}

	// Update: compare-and-set loop.
	for i := 0; i < 3; i++ {
		if _, err := state.Update(ctx, s, 4, "counter", func(c *struct{ N int }, exists bool) error {
			if exists != (i > 0) {
				t.Errorf("round %d: exists=%v", i, exists)
			}
			c.N++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var c struct{ N int }
	if _, _, err := s.Load(ctx, "counter", &c); err != nil || c.N != 3 {
		t.Fatalf("counter %d err %v", c.N, err)
	}
	if _, err := state.Update(ctx, s, 3, "counter", func(c *struct{ N int }, _ bool) error { return nil }); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("Update with a stale epoch: %v", err)
	}
	if _, _, err := s.Load(ctx, state.LeaseKey, nil); err == nil {
		t.Fatal("Load of the lease as a record succeeded")
	}
}

func TestStoreConcurrentUpdates(t *testing.T) {
	_, cl := startSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := state.NewDocs(cl.Coordinator())
	s := state.NewStore(d)
	setLease(t, ctx, d, 1)
	const writers, each = 4, 5
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				for {
					_, err := state.Update(ctx, s, 1, "n", func(c *struct{ N int }, _ bool) error { c.N++; return nil })
					if err == nil {
						break
					}
					if !failure.IsRetryable(err) {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var c struct{ N int }
	if _, _, err := s.Load(ctx, "n", &c); err != nil || c.N != writers*each {
		t.Fatalf("N = %d, want %d (a lost update) err %v", c.N, writers*each, err)
	}
}
