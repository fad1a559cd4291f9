package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// RequestError is a refused request body: every problem, one each.
type RequestError struct {
	What     string
	Problems []string
}

func (e *RequestError) Error() string {
	return "invalid " + e.What + " request:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// HTTPStatus: 400.
func (e *RequestError) HTTPStatus() int { return 400 }

// decodeStrict decodes a JSON object into v (a pointer to a struct),
// refusing unknown fields, wrong types and trailing data, and reports every
// such problem. An empty body is the empty object.
func decodeStrict(body []byte, v any) []string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil {
		return []string{"the body is not a JSON object: " + err.Error()}
	}
	if dec.More() {
		return []string{"the body holds data after its JSON object: send one object"}
	}
	if fields == nil {
		return []string{"the body is null: send a JSON object"}
	}
	known := jsonFields(reflect.TypeOf(v).Elem())
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			problems = append(problems, fmt.Sprintf("unknown field %q: the fields are %s", k, strings.Join(sortedKeys(known), ", ")))
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if err := json.Unmarshal(one, v); err != nil {
			problems = append(problems, fmt.Sprintf("field %q: %s", k, jsonProblem(err)))
		}
	}
	return problems
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("a JSON %s is not a %s", te.Value, te.Type)
	}
	return err.Error()
}

// jsonFields lists the JSON names of a struct's fields (embedded structs
// included).
func jsonFields(t reflect.Type) map[string]struct{} {
	out := map[string]struct{}{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k := range jsonFields(f.Type) {
				out[k] = struct{}{}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = struct{}{}
	}
	return out
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkSyncName: "" (the only sync) or a valid sync id.
func checkSyncName(name string, problems []string) []string {
	if name == "" {
		return problems
	}
	if err := kafka.ValidateSyncID(name); err != nil {
		problems = append(problems, fmt.Sprintf("sync %q: %v", name, err))
	}
	return problems
}

// DecodeConfigureRequest decodes and checks the body of POST /_api/sync.
// ownDC is this datacenter's name ("" = unknown).
func DecodeConfigureRequest(body []byte, ownDC string) (plan.ConfigureRequest, error) {
	var req plan.ConfigureRequest
	problems := decodeStrict(body, &req)
	if len(problems) == 0 {
		problems = checkSyncName(req.Sync, problems)
		switch {
		case req.SourceDC == "":
			problems = append(problems, `"sourceDC" is missing: name the datacenter to follow (configure sync --source.dc)`)
		case kafka.ValidateSyncID(req.SourceDC) != nil:
			problems = append(problems, fmt.Sprintf("sourceDC %q: a datacenter name is 1 to 200 letters, digits, '_' or '-'", req.SourceDC))
		case ownDC != "" && strings.EqualFold(req.SourceDC, ownDC):
			problems = append(problems, fmt.Sprintf("sourceDC %q is this datacenter: run configure sync against the masters of the datacenter that is to follow, naming the other one", req.SourceDC))
		}
		if req.TopicPrefix != "" {
			if _, err := kafka.TopicsFor(req.TopicPrefix, "x"); err != nil {
				problems = append(problems, fmt.Sprintf("topicPrefix %q: %v", req.TopicPrefix, err))
			}
		}
		if req.DataPartitions < 0 || req.DataPartitions > 10000 {
			problems = append(problems, fmt.Sprintf("dataPartitions %d: use 1..10000, or 0 for the default %d", req.DataPartitions, plan.DefaultDataPartitions))
		}
		if req.MessageTimeoutMillis < 0 || (req.MessageTimeoutMillis > 0 && req.MessageTimeoutMillis < 1000) {
			problems = append(problems, fmt.Sprintf("messageTimeoutMillis %d: use at least 1000 (1s), or 0 for the default %v", req.MessageTimeoutMillis, plan.DefaultMessageTimeout))
		}
	}
	if len(problems) > 0 {
		return req, &RequestError{What: "configure sync", Problems: problems}
	}
	return req, nil
}

// DecodeStopRequest decodes and checks the body of POST /_api/sync/stop.
func DecodeStopRequest(body []byte) (plan.StopRequest, error) {
	var req plan.StopRequest
	problems := decodeStrict(body, &req)
	if len(problems) == 0 {
		problems = checkSyncName(req.Sync, problems)
		if req.TimeoutMillis < 0 {
			problems = append(problems, fmt.Sprintf("timeoutMillis %d: use a positive number of milliseconds, or 0 for no deadline", req.TimeoutMillis))
		}
	}
	if len(problems) > 0 {
		return req, &RequestError{What: "stop sync", Problems: problems}
	}
	return req, nil
}

// DecodeSyncRequest decodes and checks a body naming a sync (abort,
// abort-outgoing, check); what names the command for the error.
func DecodeSyncRequest(body []byte, what string) (SyncRequest, error) {
	var req SyncRequest
	problems := decodeStrict(body, &req)
	if len(problems) == 0 {
		problems = checkSyncName(req.Sync, problems)
	}
	if len(problems) > 0 {
		return req, &RequestError{What: what, Problems: problems}
	}
	return req, nil
}

// DecodeResetShardRequest decodes and checks the body of POST
// /_api/sync/reset-shard.
func DecodeResetShardRequest(body []byte) (ResetShardRequest, error) {
	var req ResetShardRequest
	problems := decodeStrict(body, &req)
	if len(problems) == 0 {
		problems = checkSyncName(req.Sync, problems)
		if err := CheckShardName(req.Shard); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return req, &RequestError{What: "reset failed shard", Problems: problems}
	}
	return req, nil
}

// CheckShardName checks a shard named database/collection/index.
func CheckShardName(s string) error {
	if s == "" {
		return errors.New(`"shard" is missing: name the shard as database/collection/index, e.g. shop/orders/0`)
	}
	parts := strings.Split(s, "/")
	bad := len(parts) != 3
	if !bad {
		for _, p := range parts {
			if strings.TrimSpace(p) == "" || strings.TrimSpace(p) != p {
				bad = true
			}
		}
		if n, err := strconv.ParseUint(parts[2], 10, 32); err != nil || strconv.FormatUint(n, 10) != parts[2] {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("shard %q: name it as database/collection/index with a 0-based index, e.g. shop/orders/0", s)
	}
	return nil
}

// MaxMessageTimeout bounds set message timeout (a longer outage is better
// handled by stopping the sync).
const MaxMessageTimeout = 30 * 24 * time.Hour

// DecodeMessageTimeoutRequest decodes and checks the body of PUT
// /_api/sync/message-timeout.
func DecodeMessageTimeoutRequest(body []byte) (MessageTimeoutRequest, error) {
	var req MessageTimeoutRequest
	problems := decodeStrict(body, &req)
	if len(problems) == 0 {
		problems = checkSyncName(req.Sync, problems)
		if req.TimeoutMillis < 1000 || req.TimeoutMillis > MaxMessageTimeout.Milliseconds() {
			problems = append(problems, fmt.Sprintf("timeoutMillis %d: use 1000 (1s) to %d (%v); the default is %v",
				req.TimeoutMillis, MaxMessageTimeout.Milliseconds(), MaxMessageTimeout, plan.DefaultMessageTimeout))
		}
	}
	if len(problems) > 0 {
		return req, &RequestError{What: "set message timeout", Problems: problems}
	}
	return req, nil
}
