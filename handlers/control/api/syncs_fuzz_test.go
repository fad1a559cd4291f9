package api_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/control/api"
)

// FuzzSyncDecoders: the sync request decoders never panic; a refusal is a
// *api.RequestError with at least one problem; an accepted body decodes to
// a value that survives a JSON round trip through the same decoder.
func FuzzSyncDecoders(f *testing.F) {
	for _, s := range []string{
		`{"sourceDC":"A","sync":"a-to-b","dataPartitions":24,"messageTimeoutMillis":3600000,"topicPrefix":"dc2dc"}`,
		`{"sync":"a-to-b","ensureInSync":true,"timeoutMillis":120000}`,
		`{"sync":"a-to-b","shard":"shop/orders/0"}`, `{"timeoutMillis":7200000}`, `{}`, ``, `null`, `[]`,
		`{"sync":1}`, `{"a":1,"b":2}`, `{"sourceDC":"A"}{}`, `{"shard":"a/b/01"}`, `{"SYNC":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(name string, v any, err error, again func([]byte) (any, error)) {
			if err != nil {
				var re *api.RequestError
				if !errors.As(err, &re) || len(re.Problems) == 0 {
					t.Fatalf("%s %q: error %v is not a RequestError with problems", name, body, err)
				}
				return
			}
			b, merr := json.Marshal(v)
			if merr != nil {
				t.Fatalf("%s: %v", name, merr)
			}
			w, err2 := again(b)
			if err2 != nil || !reflect.DeepEqual(v, w) {
				t.Fatalf("%s %q: accepted %+v, but its encoding %s gives %+v, %v", name, body, v, b, w, err2)
			}
		}
		c, err := api.DecodeConfigureRequest(body, "B")
		check("configure", c, err, func(b []byte) (any, error) { return api.DecodeConfigureRequest(b, "B") })
		s, err := api.DecodeStopRequest(body)
		check("stop", s, err, func(b []byte) (any, error) { return api.DecodeStopRequest(b) })
		n, err := api.DecodeSyncRequest(body, "abort sync")
		check("sync", n, err, func(b []byte) (any, error) { return api.DecodeSyncRequest(b, "abort sync") })
		r, err := api.DecodeResetShardRequest(body)
		check("reset", r, err, func(b []byte) (any, error) { return api.DecodeResetShardRequest(b) })
		m, err := api.DecodeMessageTimeoutRequest(body)
		check("timeout", m, err, func(b []byte) (any, error) { return api.DecodeMessageTimeoutRequest(b) })
	})
}
