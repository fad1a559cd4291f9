package source

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func recs(spec string) []events.Record {
	var out []events.Record
	for i, f := range strings.Fields(spec) {
		tick := uint64(i + 10)
		kind, tid, _ := strings.Cut(f, ":")
		var ev events.Event
		switch kind {
		case "S":
			ev = &events.TransactionStart{TID: tid}
		case "C":
			ev = &events.TransactionCommit{TID: tid}
		case "A":
			ev = &events.TransactionAbort{TID: tid}
		case "D":
			ev = &events.Document{TID: tid, Key: "k", Doc: []byte(`{"_key":"k"}`)}
		case "R":
			ev = &events.Remove{TID: tid, Key: "k"}
		}
		out = append(out, events.Record{Tick: tick, Event: ev})
	}
	return out
}

func render(gs []group) string {
	var parts []string
	for _, g := range gs {
		var p []string
		for _, r := range g.recs {
			s := map[events.Kind]string{events.KindTransactionStart: "S", events.KindTransactionCommit: "C",
				events.KindTransactionAbort: "A", events.KindDocument: "D", events.KindRemove: "R"}[r.Event.Kind()]
			p = append(p, s+itoa(r.Tick))
		}
		parts = append(parts, "["+strings.Join(p, " ")+"]@"+itoa(g.resume))
	}
	return strings.Join(parts, " ")
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func TestTxnAssembler(t *testing.T) {
	cases := []struct {
		name, in, want string
		maxRecs        int
		open           bool
		resume         uint64
	}{
		{"plain", "D:0 R:0", "[D10]@10 [R11]@11", 10, false, 99},
		{"whole transaction", "D:0 S:7 D:7 R:7 C:7 D:0", "[D10]@10 [S11 D12 R13 C14]@14 [D15]@15", 10, false, 99},
		{"empty transaction dropped", "S:7 C:7 D:0", "[D12]@12", 10, false, 99},
		{"lone commit dropped", "C:7 D:0", "[D11]@11", 10, false, 99},
		{"abort drops it whole", "S:7 D:7 A:7 D:0", "[D13]@13", 10, false, 99},
		{"open transaction held back", "D:0 S:7 D:7", "[D10]@10", 10, true, 10},
		{"large transaction in chunks", "S:7 D:7 D:7 D:7 D:7 D:7 C:7", "[S10 D11 D12]@9 [D13 D14 D15]@9 [C16]@16", 3, false, 99},
		{"large aborted after a chunk", "S:7 D:7 D:7 D:7 A:7", "[S10 D11 D12]@9 [D13 A14]@14", 3, false, 99},
		{"start without commit", "S:7 D:7 S:8 D:8 C:8", "[S10 D11]@9 [S12 D13 C14]@14", 10, false, 99},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &txnAssembler{maxRecs: tc.maxRecs, maxBytes: 1 << 20}
			var gs []group
			for _, r := range recs(tc.in) {
				gs = a.add(r, gs)
			}
			if got := render(gs); got != tc.want {
				t.Errorf("groups %s, want %s", got, tc.want)
			}
			if a.open != tc.open || a.resumeTick(99) != tc.resume {
				t.Errorf("open %v resume %d, want %v %d", a.open, a.resumeTick(99), tc.open, tc.resume)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{ChunkSize: -1, DumpChunkSize: 200 << 20, BatchTTL: time.Second, RetryBackoff: time.Second, MaxRetryBackoff: time.Millisecond}.WithDefaults().Validate()
	for _, want := range []string{"chunk size = -1", "128 MiB", "batch ttl", "max retry backoff"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	_, err = New(Config{}, Shard{}, Start{}, nil, nil, nil, nil)
	if !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeConfigInvalid {
		t.Errorf("New with nothing: %v", err)
	}
	for _, want := range []string{"not a shard stream", "no shard name", "no leader", "Dialer and a Sink"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	ne := &NewEpochError{Reason: ReasonFailover, OldLeader: "A", Leader: "B", Cause: errors.New("x")}
	if !errors.Is(ne, ErrNewEpoch) || !strings.Contains(ne.Error(), "A → B") {
		t.Errorf("NewEpochError: %v", ne)
	}
}

func TestTxnAssemblerMissingCommit(t *testing.T) {
	a := &txnAssembler{maxRecs: 100, maxBytes: 1 << 20}
	for _, r := range recs("S:7 D:7 D:7") { // ticks 10, 11, 12
		a.add(r, nil)
	}
	if a.missingCommit(10, false) || a.missingCommit(12, false) || a.missingCommit(20, true) {
		t.Error("open transaction reported broken too early")
	}
	if !a.missingCommit(13, false) {
		t.Error("a write batch scanned past the transaction without its commit is not reported")
	}
	a.add(events.Record{Tick: 13, Event: &events.Document{TID: "0", Key: "x"}}, nil)
	if !a.broken {
		t.Error("a record of another transaction inside an open one is not reported")
	}
}

func FuzzSplitDocuments(f *testing.F) {
	f.Add([]byte("{\"_key\":\"a\"}\n{\"_key\":\"b\",\"x\":[1,2]}\n"))
	f.Add([]byte("{\"_key\":\"a\"}"))
	f.Add([]byte("\n\n[1]\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		docs, err := splitDocuments(body)
		if err != nil {
			return
		}
		for _, d := range docs {
			if len(d) == 0 || d[0] != '{' || !json.Valid(d) {
				t.Fatalf("document %q", d)
			}
		}
	})
}
