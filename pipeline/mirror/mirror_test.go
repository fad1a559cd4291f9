package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dc2dc/dc2dc/tests/harness"
)

const (
	sync1 = "s1"
)

var (
	dataTopic = DataTopic(sync1)
	upTopic   = CtlUpTopic(sync1)
	downTopic = CtlDownTopic(sync1)
)

// TestForwardKeepsEverything: partitions, order, keys, nil values, headers
// and timestamps survive the mirror in both directions, poison stays home.
func TestForwardKeepsEverything(t *testing.T) {
	a := newKfake(t, map[string]int32{dataTopic: 4, upTopic: 1, "dc2dc.s1.poison": 2})
	b := newKfake(t, map[string]int32{downTopic: 2})

	recs := seqRecords(4, 0, 50)
	ts := time.UnixMilli(1_700_000_000_123)
	recs = append(recs,
		rec{partition: 2, key: []byte("tomb"), value: nil, ts: ts},   // a tombstone
		rec{partition: 3, key: nil, value: []byte("no key"), ts: ts}, // no key
		rec{partition: 1, key: []byte("e"), value: []byte{}, ts: ts}, // empty value
		rec{partition: 0, key: []byte("h"), value: []byte("h"), ts: ts, headers: []sarama.RecordHeader{
			{Key: []byte(SourceHeader), Value: []byte("X/other/0/7")}, // replaced, not duplicated
			{Key: []byte("traceparent"), Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		}},
	)
	produce(t, a.ListenAddrs(), dataTopic, recs)
	produce(t, a.ListenAddrs(), upTopic, seqRecords(1, 0, 10))
	produce(t, a.ListenAddrs(), "dc2dc.s1.poison", seqRecords(2, 0, 3))
	produce(t, b.ListenAddrs(), downTopic, seqRecords(2, 0, 7))

	reg := prometheus.NewRegistry()
	m := startMirror(t, testConfig(a, b, SyncRoutes(sync1, "A", "B")...), WithRegisterer(reg))
	select {
	case <-m.m.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("mirror not ready within 10s")
	}
	waitMirrored(t, a, b, dataTopic, 4, 30*time.Second)
	waitMirrored(t, a, b, upTopic, 1, 30*time.Second)
	waitMirrored(t, b, a, downTopic, 2, 30*time.Second)
	compareExactlyOnce(t, a, b, dataTopic, 4)

	for p := range int32(4) {
		as := readAll(t, a.ListenAddrs(), dataTopic, p)
		bs := readAll(t, b.ListenAddrs(), dataTopic, p)
		for i := range as {
			x, y := as[i], bs[i]
			if (x.Value == nil) != (y.Value == nil) || !bytes.Equal(x.Value, y.Value) || (x.Key == nil) != (y.Key == nil) {
				t.Fatalf("%d/%d: value or key nil-ness differs: A %q/%v B %q/%v", p, i, x.Key, x.Value == nil, y.Key, y.Value == nil)
			}
			if !x.Timestamp.Equal(y.Timestamp) {
				t.Fatalf("%d/%d: timestamp A %v B %v", p, i, x.Timestamp, y.Timestamp)
			}
			want := headersExcept(x.Headers, SourceHeader)
			got := headersExcept(y.Headers, SourceHeader)
			if want != got {
				t.Fatalf("%d/%d: headers A %s B %s", p, i, want, got)
			}
			n := 0
			for _, h := range y.Headers {
				if string(h.Key) == SourceHeader {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d/%d: B record has %d %s headers, want 1", p, i, n, SourceHeader)
			}
		}
	}
	// ctl.down went B -> A under its own source cluster name.
	down := readAll(t, a.ListenAddrs(), downTopic, 1)
	if got := sourceHeader(down[6]); got != "B/"+downTopic+"/1/6" {
		t.Fatalf("ctl.down record on A carries %q", got)
	}
	// Poison stays in A.
	if h := hwm(b.ListenAddrs(), "dc2dc.s1.poison", 0); h > 0 {
		t.Fatalf("poison topic reached B (%d records)", h)
	}
	// Metrics count what B acknowledged.
	harness.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		got, _ := gathered(t, reg, "dc2dc_mirror_records_forwarded_total", "topic", dataTopic)
		return got == float64(len(recs)), fmt.Sprintf("records_forwarded_total = %v, want %d", got, len(recs))
	})
	if _, n := gathered(t, reg, "dc2dc_mirror_lag_records", "", ""); n != 4+1+2 {
		t.Fatalf("lag series: %d, want one per owned partition (7)", n)
	}
}

func headersExcept(hs []*sarama.RecordHeader, skip string) string {
	var b strings.Builder
	for _, h := range hs {
		if string(h.Key) != skip {
			fmt.Fprintf(&b, "%s=%s;", h.Key, h.Value)
		}
	}
	return b.String()
}

// TestFollowsNewTopicsAndPartitions: a topic created after start is
// mirrored, with its partition count; added partitions are followed.
func TestFollowsNewTopicsAndPartitions(t *testing.T) {
	a := newKfake(t, map[string]int32{"dc2dc.s1.data": 2})
	b := newKfake(t, nil)
	cfg := testConfig(a, b, Route{From: "A", To: "B", TopicRegex: `dc2dc\..*\.(data|ctl\.up)`})
	startMirror(t, cfg)
	produce(t, a.ListenAddrs(), "dc2dc.s1.data", seqRecords(2, 0, 5))
	waitMirrored(t, a, b, "dc2dc.s1.data", 2, 30*time.Second)

	admin, err := sarama.NewClusterAdmin(a.ListenAddrs(), saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic("dc2dc.s2.data", &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("dc2dc.s2.other", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	produce(t, a.ListenAddrs(), "dc2dc.s2.data", seqRecords(3, 0, 5))
	produce(t, a.ListenAddrs(), "dc2dc.s2.other", seqRecords(1, 0, 1))
	waitMirrored(t, a, b, "dc2dc.s2.data", 3, 30*time.Second)
	compareExactlyOnce(t, a, b, "dc2dc.s2.data", 3)

	if err := admin.CreatePartitions("dc2dc.s1.data", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	produce(t, a.ListenAddrs(), "dc2dc.s1.data", seqRecords(4, 5, 5))
	waitMirrored(t, a, b, "dc2dc.s1.data", 4, 30*time.Second)
	compareExactlyOnce(t, a, b, "dc2dc.s1.data", 4)
	if h := hwm(b.ListenAddrs(), "dc2dc.s2.other", 0); h > 0 {
		t.Fatalf("a topic outside the regex reached B")
	}
}

// TestRestartResumesExactlyOnce stops the mirror mid-stream several times
// while a producer keeps writing, including once after its committed source
// offsets were rewound (a lost commit) and once after they were moved past
// the end (a commit ahead of what B holds): B ends up with every record of
// A exactly once, in order.
func TestRestartResumesExactlyOnce(t *testing.T) {
	const parts = 6
	a := newKfake(t, map[string]int32{dataTopic: parts})
	b := newKfake(t, nil)
	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}, GroupID: "g"})
	perRound := 400
	if testing.Short() {
		perRound = 100
	}

	ctx, cancel := context.WithCancel(context.Background())
	produced := make(chan int, 1)
	go func() {
		// A producer that keeps writing in small batches until canceled.
		n := 0
		defer func() { produced <- n }()
		for ctx.Err() == nil {
			produce(t, a.ListenAddrs(), dataTopic, seqRecords(parts, n, 20))
			n += 20
		}
	}()
	stopProducer := func() int { cancel(); return <-produced }

	forwarded := func() int64 {
		var s int64
		for p := range int32(parts) {
			s += max(0, hwm(b.ListenAddrs(), dataTopic, p))
		}
		return s
	}
	for round := range 5 {
		m := startMirror(t, cfg)
		target := forwarded() + int64(perRound*parts)
		harness.Eventually(t, 60*time.Second, 10*time.Millisecond, func() (bool, string) {
			f := forwarded()
			return f >= target, fmt.Sprintf("round %d: B holds %d records, waiting for %d", round, f, target)
		})
		m.stop(t)
		switch round {
		case 1:
			setCommitted(t, a.ListenAddrs(), "g", dataTopic, parts, func(int64) int64 { return 0 })
		case 2:
			setCommitted(t, a.ListenAddrs(), "g", dataTopic, parts, func(h int64) int64 { return h })
		}
	}
	total := stopProducer()
	startMirror(t, cfg)
	waitMirrored(t, a, b, dataTopic, parts, 60*time.Second)
	compareExactlyOnce(t, a, b, dataTopic, parts)
	if total < 5*perRound {
		t.Fatalf("producer wrote only %d records per partition", total)
	}
}

// setCommitted overwrites the group's committed offsets of every partition
// with f(high-water mark).
func setCommitted(t testing.TB, addrs []string, group, topic string, parts int32, f func(hwm int64) int64) {
	t.Helper()
	c, err := sarama.NewClient(addrs, saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, c)
	if err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		off := f(h)
		pom.MarkOffset(off, "")
		pom.ResetOffset(off, "")
		pom.AsyncClose()
	}
	om.Commit()
	if err := om.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestResumeSkipsForeignTail: records on B that the mirror did not write
// (no header, or another route's) do not hide where it stopped.
func TestResumeSkipsForeignTail(t *testing.T) {
	a := newKfake(t, map[string]int32{dataTopic: 1})
	b := newKfake(t, nil)
	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}, GroupID: "g"})
	produce(t, a.ListenAddrs(), dataTopic, seqRecords(1, 0, 30))
	m := startMirror(t, cfg)
	waitMirrored(t, a, b, dataTopic, 1, 30*time.Second)
	m.stop(t)
	// 20 foreign records on B, and the committed offset lost.
	foreign := seqRecords(1, 1000, 20)
	foreign[5].headers = []sarama.RecordHeader{{Key: []byte(SourceHeader), Value: []byte("Z/" + dataTopic + "/0/999")}}
	produce(t, b.ListenAddrs(), dataTopic, foreign)
	setCommitted(t, a.ListenAddrs(), "g", dataTopic, 1, func(int64) int64 { return 0 })
	produce(t, a.ListenAddrs(), dataTopic, seqRecords(1, 30, 10))
	startMirror(t, cfg)
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		h := hwm(b.ListenAddrs(), dataTopic, 0)
		return h >= 60, fmt.Sprintf("B holds %d records, want 30+20+10", h)
	})
	bs := readAll(t, b.ListenAddrs(), dataTopic, 0)
	if len(bs) != 60 {
		t.Fatalf("B holds %d records, want 60 (a duplicate or a loss)", len(bs))
	}
	for i, m := range bs[50:] {
		if got, want := sourceHeader(m), (SourcePos{"A", dataTopic, 0, int64(30 + i)}).String(); got != want {
			t.Fatalf("B offset %d: source %q, want %q", m.Offset, got, want)
		}
	}
}

// TestStopsWhenTargetRefusesRecord: a record larger than the target takes
// stops the mirror with CodeRefused instead of skipping it, and a later run
// that finds newer records of the partition in the target reports the hole
// (CodeGap) rather than resuming after it.
func TestStopsWhenTargetRefusesRecord(t *testing.T) {
	a := newKfake(t, map[string]int32{dataTopic: 1})
	b := newKfake(t, nil)
	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}})
	cfg.MaxMessageBytes = 2048
	recs := seqRecords(1, 0, 3)
	recs[1].value = bytes.Repeat([]byte("x"), 4096)
	produce(t, a.ListenAddrs(), dataTopic, recs)
	run := func() error {
		m, err := New(cfg, WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return m.Run(ctx)
	}
	err := run()
	var se *StopError
	if !asStop(err, &se) || se.Code != CodeRefused || se.Pos.Offset != 1 || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Run = %v, want a permanent %s StopError at offset 1", err, CodeRefused)
	}
	for _, m := range readAll(t, b.ListenAddrs(), dataTopic, 0) {
		if sourceHeader(m) == (SourcePos{"A", dataTopic, 0, 1}).String() {
			t.Fatal("B holds the refused record")
		}
	}
	if h := hwm(b.ListenAddrs(), dataTopic, 0); h == 1 {
		// Record 2 did not overtake the refused one this time: make it so.
		produce(t, b.ListenAddrs(), dataTopic, []rec{{key: []byte("p0"), value: []byte("0:2"),
			headers: []sarama.RecordHeader{{Key: []byte(SourceHeader), Value: []byte((SourcePos{"A", dataTopic, 0, 2}).String())}}}})
	}
	// A second run must not resume after record 2 and skip the refused one.
	err = run()
	if !asStop(err, &se) || se.Code != CodeGap || se.Pos.Offset != 1 {
		t.Fatalf("second Run = %v, want a %s StopError at offset 1", err, CodeGap)
	}
}

// TestCopiesTopicSettings: a created target topic takes over the source
// topic's retention and cleanup policy, and its record size limit plus
// room for the mirror's header.
func TestCopiesTopicSettings(t *testing.T) {
	a := newKfake(t, nil)
	b := newKfake(t, nil)
	admin, err := sarama.NewClusterAdmin(a.ListenAddrs(), saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	str := func(s string) *string { return &s }
	if err := admin.CreateTopic(dataTopic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{
		"retention.ms": str("123456789"), "cleanup.policy": str("compact"), "max.message.bytes": str("2097152"),
	}}, false); err != nil {
		t.Fatal(err)
	}
	produce(t, a.ListenAddrs(), dataTopic, seqRecords(3, 0, 2))
	startMirror(t, testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}}))
	waitMirrored(t, a, b, dataTopic, 3, 30*time.Second)
	badmin, err := sarama.NewClusterAdmin(b.ListenAddrs(), saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer badmin.Close()
	entries, err := describeTopicConfig(badmin, dataTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = e.Value
	}
	for k, v := range map[string]string{"retention.ms": "123456789", "cleanup.policy": "compact", "max.message.bytes": "2101248"} {
		if got[k] != v {
			t.Errorf("target %s = %q, want %q", k, got[k], v)
		}
	}
}

// TestRecordAtTheSourceLimitFitsTheTarget: a record batch as large as the
// source topic allows is still accepted by the target topic the mirror
// created, although the mirror adds a header.
func TestRecordAtTheSourceLimitFitsTheTarget(t *testing.T) {
	a := newKfake(t, nil)
	b := newKfake(t, nil)
	admin, err := sarama.NewClusterAdmin(a.ListenAddrs(), saramaCfg())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	limit := "8192"
	if err := admin.CreateTopic(dataTopic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &limit}}, false); err != nil {
		t.Fatal(err)
	}
	// Grow the value until the source refuses it, then keep the largest accepted.
	sc := saramaCfg()
	sc.Producer.Idempotent, sc.Net.MaxOpenRequests = false, 5
	p, err := sarama.NewSyncProducer(a.ListenAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for size := 7900; size < 8300; size += 4 {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: dataTopic, Value: sarama.ByteEncoder(bytes.Repeat([]byte("v"), size))})
		if err != nil {
			break
		}
		accepted++
	}
	_ = p.Close()
	if accepted == 0 || accepted == 100 {
		t.Fatalf("accepted %d sizes: the source limit was not reached", accepted)
	}
	startMirror(t, testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}}))
	waitMirrored(t, a, b, dataTopic, 1, 30*time.Second)
}

// TestTwoMirrorsShareTheWork: a second mirror in the same group takes half
// of the partitions while records flow, then the first one leaves; every
// record arrives exactly once, because a mirror waits for its records in
// flight before it gives partitions up and the next owner resumes from the
// target.
func TestTwoMirrorsShareTheWork(t *testing.T) {
	const parts = 6
	a := newKfake(t, map[string]int32{dataTopic: parts})
	b := newKfake(t, nil)
	cfg := testConfig(a, b, Route{From: "A", To: "B", Topics: []string{dataTopic}, GroupID: "g"})
	ctx, cancel := context.WithCancel(context.Background())
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for n := 0; ctx.Err() == nil && n < 4000; n += 20 {
			produce(t, a.ListenAddrs(), dataTopic, seqRecords(parts, n, 20))
		}
	}()
	forwarded := func() int64 {
		var s int64
		for p := range int32(parts) {
			s += max(0, hwm(b.ListenAddrs(), dataTopic, p))
		}
		return s
	}
	waitFor := func(n int64) {
		harness.Eventually(t, 60*time.Second, 10*time.Millisecond, func() (bool, string) {
			f := forwarded()
			return f >= n, fmt.Sprintf("B holds %d records, waiting for %d", f, n)
		})
	}
	first := startMirror(t, cfg)
	waitFor(2000)
	second := startMirror(t, cfg)
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		// Both own partitions once the second one has a session.
		n := 0
		for _, m := range []*running{first, second} {
			if _, series := gathered(t, registryOf(m), "dc2dc_mirror_lag_records", "", ""); series > 0 {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%d of 2 mirrors own partitions", n)
	})
	waitFor(forwarded() + 2000)
	first.stop(t)
	waitFor(forwarded() + 2000)
	cancel()
	<-produced
	waitMirrored(t, a, b, dataTopic, parts, 60*time.Second)
	compareExactlyOnce(t, a, b, dataTopic, parts)
	second.stop(t)
}
