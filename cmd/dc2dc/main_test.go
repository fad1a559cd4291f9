package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestVersionCommand(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "dc2dc ") {
		t.Fatalf("unexpected version output %q", out.String())
	}
}

func TestBadLogLevelIsExplained(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"--log.level", "loud", "version"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "use debug, info, warn or error") {
		t.Fatalf("want an error naming the valid levels, got %v", err)
	}
}

func TestEventsDecode(t *testing.T) {
	payload, err := events.Encode(&events.Batch{
		Sync:  "b-from-a",
		Shard: events.ShardRef{Database: "shop", CollectionID: "42", Index: 1},
		Pos:   events.Position{Epoch: 1, Tick: 7},
		Prev:  events.Position{Epoch: 1},
		Records: []events.Record{{Tick: 7, Event: &events.Document{
			TID: "0", Key: "k", Rev: "_a", Doc: []byte(`{"_key":"k"}`),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(bytes.NewReader(payload))
	root.SetArgs([]string{"events", "decode"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"shard": "shop/42/1"`) {
		t.Fatalf("unexpected output:\n%s", out.String())
	}

	root = newRootCmd()
	root.SetIn(strings.NewReader("not a batch"))
	root.SetArgs([]string{"events", "decode"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "not a decodable dc2dc batch") {
		t.Fatalf("want a clear error for garbage, got %v", err)
	}
}
