package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Counts is the number of documents per "database/collection" (system
// databases and collections left out).
type Counts map[string]int64

// Total is the sum over every collection.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Keys returns the collections in order.
func (c Counts) Keys() []string {
	ks := make([]string, 0, len(c))
	for k := range c {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// CountDocuments counts the documents of every user collection of every
// database of dc through its first Coordinator, as root.
func CountDocuments(ctx context.Context, hc *http.Client, dc Datacenter) (Counts, error) {
	if len(dc.Coordinators) == 0 {
		return nil, fmt.Errorf("devstack: no coordinator")
	}
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(dc.Coordinators[0], "/")+path, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(dc.Username, dc.Password)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d: %.200s", path, resp.StatusCode, b)
		}
		return json.Unmarshal(b, v)
	}
	var dbs struct {
		Result []string `json:"result"`
	}
	if err := get("/_api/database", &dbs); err != nil {
		return nil, err
	}
	out := Counts{}
	for _, db := range dbs.Result {
		if db == "_system" {
			continue
		}
		var colls struct {
			Result []struct {
				Name     string `json:"name"`
				IsSystem bool   `json:"isSystem"`
			} `json:"result"`
		}
		base := "/_db/" + url.PathEscape(db) + "/_api/collection"
		if err := get(base+"?excludeSystem=true", &colls); err != nil {
			return nil, err
		}
		for _, c := range colls.Result {
			if c.IsSystem || strings.HasPrefix(c.Name, "_") {
				continue
			}
			var cnt struct {
				Count int64 `json:"count"`
			}
			if err := get(base+"/"+url.PathEscape(c.Name)+"/count", &cnt); err != nil {
				return nil, err
			}
			out[db+"/"+c.Name] = cnt.Count
		}
	}
	return out, nil
}
