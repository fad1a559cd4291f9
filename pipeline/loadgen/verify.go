package loadgen

import "fmt"

// Result is what Verify found.
type Result struct {
	Shards     []ShardReport `json:"shards"`
	Expected   uint64        `json:"expected"`
	Applied    uint64        `json:"applied"`
	Missing    uint64        `json:"missing"`
	Duplicates uint64        `json:"duplicates"`
	Gaps       uint64        `json:"gaps"`
}

// OK reports whether every expected event was applied exactly once, in order.
func (r Result) OK() bool {
	return r.Missing == 0 && r.Duplicates == 0 && r.Gaps == 0 && r.Applied == r.Expected
}

func (r Result) String() string {
	return fmt.Sprintf("expected %d, applied %d, missing %d, duplicated %d, out of order %d",
		r.Expected, r.Applied, r.Missing, r.Duplicates, r.Gaps)
}

// Verify checks the ledger against shards × perShard events: every synthetic
// shard must hold exactly the ticks 1..perShard, each applied once, in order.
func Verify(l *Ledger, shards int, perShard uint64) (Result, error) {
	reps, err := l.Report()
	if err != nil {
		return Result{}, err
	}
	byShard := map[string]ShardReport{}
	for _, r := range reps {
		byShard[r.Shard] = r
	}
	res := Result{Expected: uint64(shards) * perShard}
	for i := 0; i < shards; i++ {
		name := ShardRef(i).String()
		r, ok := byShard[name]
		if !ok {
			r = ShardReport{Shard: name}
		}
		res.Shards = append(res.Shards, r)
		res.Applied += r.Applied
		res.Duplicates += r.Duplicates
		res.Gaps += r.Gaps
		if r.Applied < perShard {
			res.Missing += perShard - r.Applied
		}
	}
	return res, nil
}
