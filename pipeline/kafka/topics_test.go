package kafka_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

func TestTopicsFor(t *testing.T) {
	got, err := kafka.TopicsFor("", "sync-1")
	if err != nil {
		t.Fatal(err)
	}
	want := kafka.Topics{Data: "dc2dc.sync-1.data", CtlUp: "dc2dc.sync-1.ctl.up", CtlDown: "dc2dc.sync-1.ctl.down", Poison: "dc2dc.sync-1.poison"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got, err = kafka.TopicsFor("prod.eu", "a_b")
	if err != nil || got.Data != "prod.eu.a_b.data" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestTopicsForRejects(t *testing.T) {
	for _, tc := range []struct{ prefix, id, want string }{
		{"", "", "1 to 200"},
		{"", "a.b", `'.'`},
		{"", "a b", `' '`},
		{"", strings.Repeat("x", 201), "1 to 200"},
		{"bad/prefix", "ok", "topic prefix"},
		{strings.Repeat("p", 60), strings.Repeat("x", 190), "1 to 249"},
	} {
		_, err := kafka.TopicsFor(tc.prefix, tc.id)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TopicsFor(%q, %q...): %v, want an error mentioning %s", tc.prefix, tc.id[:min(len(tc.id), 10)], err, tc.want)
			continue
		}
		if !errors.Is(err, kafka.ErrInvalidTopicName) || !errors.Is(err, kafka.ErrPermanent) {
			t.Errorf("TopicsFor(%q, ...): %v is not ErrInvalidTopicName/permanent", tc.prefix, err)
		}
	}
}

func TestValidateTopicNameReserved(t *testing.T) {
	for _, n := range []string{".", ".."} {
		if err := kafka.ValidateTopicName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

// FuzzTopicName checks that whatever the input, a valid sync id yields four
// valid topic names and an invalid one is refused.
func FuzzTopicName(f *testing.F) {
	for _, s := range []string{"sync-1", "a.b", "", "ü", strings.Repeat("z", 250)} {
		f.Add("dc2dc", s)
	}
	f.Fuzz(func(t *testing.T, prefix, id string) {
		topics, err := kafka.TopicsFor(prefix, id)
		if err != nil {
			if !errors.Is(err, kafka.ErrInvalidTopicName) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if kafka.ValidateSyncID(id) != nil {
			t.Fatalf("TopicsFor accepted invalid sync id %q", id)
		}
		for _, n := range topics.All() {
			if err := kafka.ValidateTopicName(n); err != nil || len(n) > 249 || !strings.Contains(n, "."+id+".") {
				t.Fatalf("bad topic name %q: %v", n, err)
			}
		}
	})
}
