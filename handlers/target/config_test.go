package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := Config{MaxRequestDocs: -1, MaxRequestBytes: 10, MaxTxnBytes: 5, StructureWait: -1, UniqueRetries: -2}.Validate()
	for _, want := range []string{"MaxRequestDocs", "MaxRequestBytes", "MaxTxnBytes", "StructureWait", "UniqueRetries"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not name %s: %v", want, err)
		}
	}
	err = ConnConfig{Endpoints: []string{"ftp://x", "http://"}, RequestTimeout: -1}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Fatalf("ConnConfig.Validate = %v, want three problems", err)
	}
	if _, err := Dial(ConnConfig{}); failure.CodeOf(err) != failure.CodeConfigInvalid {
		t.Fatalf("Dial without endpoints: %v", err)
	}
	_, err = NewApplier(nil, nil, events.ShardRef{Database: "d"}, Config{MaxRequestDocs: -1})
	if failure.CodeOf(err) != failure.CodeConfigInvalid || !strings.Contains(err.Error(), "meta stream") ||
		!strings.Contains(err.Error(), "connection and a resolver") || !strings.Contains(err.Error(), "MaxRequestDocs") {
		t.Fatalf("NewApplier: %v", err)
	}
}

func TestTypedErrors(t *testing.T) {
	shard := events.ShardRef{Database: "d", CollectionID: "1"}
	end := error(&StreamEndError{Shard: shard, Marker: events.KindCollectionDrop})
	if !errors.Is(end, ErrStreamEnded) {
		t.Fatal("StreamEndError is not ErrStreamEnded")
	}
	err := resyncErr(shard, ReasonTruncate, "x")
	var re *ResyncError
	if !errors.As(err, &re) || !failure.IsPermanent(err) || failure.CodeOf(err) != failure.CodeApplyRejected {
		t.Fatalf("truncate resync: %v", err)
	}
	if c := failure.CodeOf(resyncErr(shard, ReasonGap, "x")); c != failure.CodeStreamGap {
		t.Fatalf("gap code %s", c)
	}
	for _, c := range []struct {
		e         *ArangoError
		retryable bool
		code      failure.Code
	}{
		{&ArangoError{Status: 503, Num: 503}, true, failure.CodeArangoUnavailable},
		{&ArangoError{Status: 500, Num: numClusterTimeout}, true, failure.CodeArangoUnavailable},
		{&ArangoError{Status: 503, Num: numNotLeader}, true, failure.CodeArangoUnavailable},
		{&ArangoError{Status: 401, Num: 11}, false, failure.CodeArangoAuth},
		{&ArangoError{Status: 403, Num: 11}, false, failure.CodeArangoAuth},
		{&ArangoError{Status: 400, Num: 1221}, false, failure.CodeApplyRejected},
	} {
		err := classify(c.e)
		if failure.IsRetryable(err) != c.retryable || failure.CodeOf(err) != c.code || ErrorNum(err) != c.e.Num {
			t.Errorf("classify(%+v) = %v (retryable %v, code %s)", c.e, err, failure.IsRetryable(err), failure.CodeOf(err))
		}
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	conn, err := Dial(ConnConfig{Endpoints: []string{"http://127.0.0.1:1", "tcp://127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a, err := NewApplier(conn, resolverFor(shopShard, "orders"), shopShard, Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Apply(context.Background(), newStream(shopShard, 1).batch(docEvent("k", 1, "")))
	if !failure.IsRetryable(err) || failure.CodeOf(err) != failure.CodeArangoUnreachable {
		t.Fatalf("unreachable B: %v (code %s)", err, failure.CodeOf(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Apply(ctx, newStream(shopShard, 1).batch(docEvent("k", 1, ""))); !failure.IsStopped(err) {
		t.Fatalf("cancelled: %v", err)
	}
}
