package wal

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkParse parses a tail answer of 1000 document markers of about
// 1 KiB each (MB/s of body).
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	pad := strings.Repeat("x", 1000)
	for i := 1; i <= 1000; i++ {
		sb.WriteString(`{"tick":"` + strconv.Itoa(i) + `","type":2300,"db":"shop","cuid":"c1/s2","tid":"0","data":{"_key":"k` +
			strconv.Itoa(i) + `","_id":"orders/k` + strconv.Itoa(i) + `","_rev":"_l6zhVDW---","n":` + strconv.Itoa(i) + `,"pad":"` + pad + `"}}` + "\n")
	}
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		recs, err := Parse(body, nil)
		if err != nil || len(recs) != 1000 {
			b.Fatal(len(recs), err)
		}
	}
}
