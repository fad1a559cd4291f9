package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// sim drives one datacenter's arangosim cluster: its control API
// (/_arangosim/…, see tests/arangosim/doc.go) through the Coordinator, which
// the suite never stops, and the shard map through the cluster API.
type sim struct {
	dc *harness.DC
	cl *client.Client
}

func newSim(dc *harness.DC) (*sim, error) {
	cl, err := client.New(client.Config{Endpoints: dc.Coordinators, JWTSecret: dc.JWTSecret})
	if err != nil {
		return nil, fmt.Errorf("connect to cluster %s: %w", dc.Name, err)
	}
	return &sim{dc: dc, cl: cl}, nil
}

func (s *sim) close() { s.cl.Close() }

// coordinatorID is the short name of the only Coordinator of an arangosim
// cluster started by the harness.
const coordinatorID = "Coordinator0001"

func (s *sim) control(ctx context.Context, method, path string, body any) error {
	req := client.Request{Method: method, Path: "/_arangosim/" + path, What: "arangosim control " + path}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req.Body = b
	}
	_, err := s.cl.Coordinator().Do(ctx, req, http.StatusOK)
	if err != nil {
		return fmt.Errorf("cluster %s: %s /_arangosim/%s: %w", s.dc.Name, method, path, err)
	}
	return nil
}

func (s *sim) stopServer(ctx context.Context, id string) error {
	return s.control(ctx, http.MethodPost, "servers/"+id+"/stop", nil)
}

func (s *sim) restartServer(ctx context.Context, id string) error {
	return s.control(ctx, http.MethodPost, "servers/"+id+"/restart", nil)
}

func (s *sim) moveShard(ctx context.Context, db, coll, shard, from, to string) error {
	return s.control(ctx, http.MethodPost, "moveShard", map[string]string{"database": db, "collection": coll,
		"shard": shard, "fromServer": from, "toServer": to})
}

func (s *sim) pruneWAL(ctx context.Context, server string, upTo uint64) error {
	return s.control(ctx, http.MethodPost, "servers/"+server+"/wal/prune", map[string]string{"upTo": strconv.FormatUint(upTo, 10)})
}

// simFault is an arangosim fault: requests whose path starts with
// PathPrefix get Status (when non-zero) after LatencyMs, for DurationMs
// (0 = until cleared).
type simFault struct {
	PathPrefix string `json:"pathPrefix"`
	LatencyMs  int    `json:"latencyMs,omitempty"`
	Status     int    `json:"status,omitempty"`
	DurationMs int    `json:"durationMs,omitempty"`
}

func (s *sim) injectFault(ctx context.Context, server string, f simFault) error {
	return s.control(ctx, http.MethodPost, "servers/"+server+"/faults", f)
}

func (s *sim) clearFaults(ctx context.Context, server string) error {
	return s.control(ctx, http.MethodDelete, "servers/"+server+"/faults", nil)
}

// lastTick is a DB-Server's last WAL tick.
func (s *sim) lastTick(ctx context.Context, server string) (uint64, error) {
	conn, err := s.cl.DBServer(ctx, server)
	if err != nil {
		return 0, err
	}
	var body struct {
		Tick string `json:"tick"`
	}
	if err := conn.GetJSON(ctx, "/_api/wal/lastTick", nil, &body); err != nil {
		return 0, err
	}
	return strconv.ParseUint(body.Tick, 10, 64)
}

// shardPlace is one shard of a collection with its servers.
type shardPlace struct {
	db, coll, shard string
	leader          string
	followers       []string
}

// shardsOf lists the shards of db/coll with their leader and followers.
func (s *sim) shardsOf(ctx context.Context, db, coll string) ([]shardPlace, error) {
	shards, err := s.cl.Shards(ctx, db, coll)
	if err != nil {
		return nil, err
	}
	out := make([]shardPlace, 0, len(shards))
	for _, sh := range shards {
		out = append(out, shardPlace{db: db, coll: coll, shard: sh.Name, leader: sh.Leader, followers: sh.Followers})
	}
	return out, nil
}

// allGood reports whether every DB-Server of the cluster is in good health.
func (s *sim) allGood(ctx context.Context) (bool, string) {
	h, err := s.cl.Health(ctx)
	if err != nil {
		return false, err.Error()
	}
	for id, sv := range h {
		if sv.Role == client.RoleDBServer && sv.Failed() {
			return false, fmt.Sprintf("%s (%s) is %s", id, sv.ShortName, sv.Status)
		}
	}
	return true, ""
}

// ctxFor is a context bounded by d for one control call.
func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
