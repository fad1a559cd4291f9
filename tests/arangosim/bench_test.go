package arangosim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func benchDoc(i int) []byte {
	pad := strings.Repeat("x", 1024-40)
	return []byte(fmt.Sprintf(`{"n":%d,"payload":"%s"}`, i, pad))
}

func benchCluster(b *testing.B) (*Cluster, *http.Client) {
	c := startSim(b, Config{})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	req, _ := http.NewRequest("POST", c.Endpoint()+"/_api/collection",
		strings.NewReader(`{"name":"bench","numberOfShards":3,"replicationFactor":2}`))
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return c, hc
}

func post(b *testing.B, hc *http.Client, url string, body []byte) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Arango-Error-Codes") != "" {
		b.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("X-Arango-Error-Codes"))
	}
}

// BenchmarkInsertSingle: one 1 KiB document per request through a Coordinator
// (3 shards, replicationFactor 2).
func BenchmarkInsertSingle(b *testing.B) {
	c, hc := benchCluster(b)
	url := c.Endpoint() + "/_api/document/bench"
	b.SetBytes(1024)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			post(b, hc, url, benchDoc(i))
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkInsertBatch1000: batches of 1000 1 KiB documents per request.
func BenchmarkInsertBatch1000(b *testing.B) {
	c, hc := benchCluster(b)
	url := c.Endpoint() + "/_api/document/bench"
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := 0; i < 1000; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(benchDoc(i))
	}
	buf.WriteByte(']')
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post(b, hc, url, body)
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkWALTail: tailing a leader's WAL (1 MiB chunks) after 20000 1 KiB documents.
func BenchmarkWALTail(b *testing.B) {
	c, hc := benchCluster(b)
	url := c.Endpoint() + "/_api/document/bench"
	var buf bytes.Buffer
	for batch := 0; batch < 20; batch++ {
		buf.Reset()
		buf.WriteByte('[')
		for i := 0; i < 1000; i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(benchDoc(i))
		}
		buf.WriteByte(']')
		post(b, hc, url, buf.Bytes())
	}
	s := c.DBServers()[0]
	b.ResetTimer()
	markers := 0
	var bytesRead int64
	for i := 0; i < b.N; i++ {
		from := uint64(0)
		for {
			resp, err := hc.Get(s.Endpoint() + "/_api/wal/tail?from=" + strconv.FormatUint(from, 10) + "&chunkSize=1048576")
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bytesRead += int64(len(body))
			markers += bytes.Count(body, []byte{'\n'})
			li, _ := strconv.ParseUint(resp.Header.Get("X-Arango-Replication-Lastincluded"), 10, 64)
			if resp.StatusCode == http.StatusNoContent || resp.Header.Get("X-Arango-Replication-Checkmore") != "true" || li <= from {
				break
			}
			from = li
		}
	}
	b.SetBytes(bytesRead / int64(b.N))
	b.ReportMetric(float64(markers)/b.Elapsed().Seconds(), "markers/s")
}
