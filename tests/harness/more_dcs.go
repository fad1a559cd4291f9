package harness

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

// Chains and trees of datacenters: a Topology starts A and B; AddDC starts
// further datacenters (C, D, …) of the same shape, and StartMirror the
// mirror of another sync between any two of them.

// AddDC starts a further datacenter named name (its processes are named
// after lower(name): arangosim-c, kafka-c, master-c1, worker-c1): an
// arangosim cluster with dbservers DB-Servers, a `dc2dc kafka` broker,
// masters masters and workers workers, with the topology's flags. It
// returns once a leader is elected and every worker is ready. The
// datacenter's JWT secret is "e2e-cluster-secret-<name>".
func (top *Topology) AddDC(t testing.TB, name string, dbservers, masters, workers int) *DC {
	t.Helper()
	cfg := top.Cfg
	dc := &DC{Name: name, JWTSecret: "e2e-cluster-secret-" + lower(name), top: top}
	dc.Sim = Start(t, Spec{Name: "arangosim-" + lower(name), Path: Binary(t, "arangosim"),
		Args: []string{"-port", "0", "-dbservers", strconv.Itoa(dbservers), "-jwt-secret", dc.JWTSecret, "-root-password", TopologyRootPassword}})
	dc.Kafka = StartKafkaNoWait(t, "kafka-"+lower(name), "--group-min-session-timeout", cfg.GroupMinSessionTimeout.String())
	dc.readSim(t, cfg.StartTimeout)
	dc.Kafka.waitReady(t)
	for i := 1; i <= masters; i++ {
		dc.Masters = append(dc.Masters, dc.newMaster(t, i))
	}
	for _, m := range dc.Masters {
		m.waitReady(t)
	}
	dc.WaitLeader(t, cfg.StartTimeout)
	for i := 1; i <= workers; i++ {
		dc.Workers = append(dc.Workers, dc.newWorker(t, i))
	}
	for _, w := range dc.Workers {
		w.waitReady(t)
	}
	return dc
}

// StartMirror creates the topics of syncID in both Kafkas (the data topic
// with the topology's DataPartitions) and starts a `dc2dc mirror` for it
// from from's Kafka to to's, named "mirror-<from>-to-<to>"; it returns
// once the mirror is ready.
func (top *Topology) StartMirror(t testing.TB, from, to *DC, syncID string) *Proc {
	t.Helper()
	tp, err := kafka.TopicsFor("", syncID)
	if err != nil {
		t.Fatalf("harness: topics of %s: %v", syncID, err)
	}
	specs := []kafka.TopicSpec{{Name: tp.Data, Partitions: int32(top.Cfg.DataPartitions)}, {Name: tp.CtlUp, Partitions: 1},
		{Name: tp.CtlDown, Partitions: 1}, {Name: tp.Poison, Partitions: 1}}
	for _, dc := range []*DC{from, to} {
		ctx, cancel := context.WithTimeout(context.Background(), top.Cfg.StartTimeout)
		err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: []string{dc.Kafka.Addr}}, specs)
		cancel()
		if err != nil {
			t.Fatalf("harness: topics of %s in Kafka %s: %v", syncID, dc.Name, err)
		}
	}
	name := "mirror-" + lower(from.Name) + "-to-" + lower(to.Name)
	m := Start(t, Spec{Name: name, Path: Binary(t, "dc2dc"), Args: []string{"mirror",
		"--from.brokers", from.Kafka.Addr, "--to.brokers", to.Kafka.Addr, "--sync-id", syncID,
		"--metrics.addr", "127.0.0.1:" + strconv.Itoa(FreePort(t)), "--instance-id", "e2e-" + name,
		"--session-timeout", top.Cfg.MirrorSessionTimeout.String(), "--log.level", top.Cfg.LogLevel}})
	m.MustReady(top.Cfg.StartTimeout)
	return m
}

// lower is a datacenter's name as its processes carry it ("A" → "a").
func lower(s string) string { return strings.ToLower(s) }
