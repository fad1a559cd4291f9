package verify

import (
	"context"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/arango/revtree"
	"github.com/dc2dc/dc2dc/handlers/target"
)

// fixed answers every request with the same body.
type fixed []byte

func (f fixed) Do(context.Context, target.Request) (*target.Response, error) {
	return &target.Response{Status: 200, Body: f}, nil
}

// FuzzRangesAnswer feeds arbitrary revisions/ranges answers to the stream:
// it never panics, and what it yields is strictly ascending.
func FuzzRangesAnswer(f *testing.F) {
	f.Add(`{"ranges":[["_l6zhVDW---","_l6zhVDW--A"],[]]}`)
	f.Add(`{"ranges":[["_l6zhVDW--A","_l6zhVDW---"]]}`)
	f.Add(`{"ranges":[[]],"resumeHLC":"_l6zhVDW---"}`)
	f.Add(`{"ranges":"x"}`)
	f.Fuzz(func(t *testing.T, body string) {
		s := &Shard{Name: "s1", server: fixed(body)}
		st := newStream(s, []revtree.Range{{Min: 1, Max: 10}})
		var last uint64
		for i := 0; i < 1000; i++ {
			v, ok, err := st.peek(context.Background())
			if err != nil || !ok {
				return
			}
			if i > 0 && v <= last {
				t.Fatalf("revision %d after %d", v, last)
			}
			last = v
			st.next()
		}
	})
}

// FuzzDocumentsAnswer feeds arbitrary revisions/documents answers to keys.
func FuzzDocumentsAnswer(f *testing.F) {
	f.Add(`[{"_key":"a"},{}]`, 2)
	f.Add(`[]`, 1)
	f.Fuzz(func(t *testing.T, body string, n int) {
		if n < 0 || n > 50 {
			return
		}
		s := &Shard{Name: "s1", server: fixed(body)}
		keys, err := s.keys(context.Background(), make([]uint64, n), 7)
		if err == nil && len(keys) != n {
			t.Fatalf("%d keys for %d revisions", len(keys), n)
		}
	})
}
