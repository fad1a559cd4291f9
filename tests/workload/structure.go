package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// getJSON GETs a path and decodes its answer into out.
func getJSON(ctx context.Context, c *client, path string, query url.Values, out any) error {
	resp, err := c.raw(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func listDatabases(ctx context.Context, c *client) ([]string, error) {
	var body struct {
		Result []string `json:"result"`
	}
	err := getJSON(ctx, c, "_api/database", nil, &body)
	slices.Sort(body.Result)
	return body.Result, err
}

// listCollections returns the names of a database's non-system collections.
func listCollections(ctx context.Context, c *client, db string) ([]string, error) {
	var body struct {
		Result []struct {
			Name     string `json:"name"`
			IsSystem bool   `json:"isSystem"`
		} `json:"result"`
	}
	if err := getJSON(ctx, c, dbPath(db, "_api/collection"), url.Values{"excludeSystem": {"true"}}, &body); err != nil {
		return nil, err
	}
	var out []string
	for _, col := range body.Result {
		if !col.IsSystem && !strings.HasPrefix(col.Name, "_") {
			out = append(out, col.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// canonical renders v as JSON with sorted object keys, without the named
// top-level attributes (ids and figures that differ between clusters by nature).
func canonical(v map[string]any, drop ...string) string {
	c := make(map[string]any, len(v))
	for k, x := range v {
		if !slices.Contains(drop, k) {
			c[k] = x
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("unencodable: %v", err)
	}
	return string(b)
}

// bothSides runs get on A and on B.
func bothSides[T any](ctx context.Context, v *verifier, get func(context.Context, *client) (T, error)) (T, T, error) {
	a, err := get(ctx, v.a)
	if err != nil {
		var zero T
		return zero, zero, fmt.Errorf("A: %w", err) //nolint:staticcheck // "A" names the cluster
	}
	b, err := get(ctx, v.b)
	if err != nil {
		var zero T
		return zero, zero, fmt.Errorf("B: %w", err) //nolint:staticcheck // "B" names the cluster
	}
	return a, b, nil
}

// compareDefs reports objects present on one side or defined differently.
func (v *verifier) compareDefs(db, coll, what string, a, b map[string]string) {
	names := make([]string, 0, len(a)+len(b))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		da, inA := a[n]
		dbb, inB := b[n]
		switch {
		case !inA || !inB:
			v.diff(Diff{Kind: Structure, Database: db, Collection: coll, Key: what + " " + n, A: orMissing(inA, da), B: orMissing(inB, dbb)})
		case da != dbb:
			v.diff(Diff{Kind: Structure, Database: db, Collection: coll, Key: what + " " + n, A: da, B: dbb})
		}
	}
}

func orMissing(ok bool, s string) string {
	if !ok {
		return "missing"
	}
	return s
}

// collectionStructure compares type, numberOfShards, shardKeys and the indexes.
func (v *verifier) collectionStructure(ctx context.Context, db, coll string) error {
	props := func(ctx context.Context, c *client) (map[string]string, error) {
		var p struct {
			Type           int      `json:"type"`
			NumberOfShards int      `json:"numberOfShards"`
			ShardKeys      []string `json:"shardKeys"`
		}
		if err := getJSON(ctx, c, dbPath(db, "_api/collection/"+url.PathEscape(coll)+"/properties"), nil, &p); err != nil {
			return nil, err
		}
		return map[string]string{"type": fmt.Sprint(p.Type), "numberOfShards": fmt.Sprint(p.NumberOfShards),
			"shardKeys": strings.Join(p.ShardKeys, ",")}, nil
	}
	pa, pb, err := bothSides(ctx, v, props)
	if err != nil {
		return fmt.Errorf("workload: properties of %s/%s: %w", db, coll, err)
	}
	v.compareDefs(db, coll, "property", pa, pb)

	indexes := func(ctx context.Context, c *client) (map[string]string, error) {
		var body struct {
			Indexes []map[string]any `json:"indexes"`
		}
		if err := getJSON(ctx, c, dbPath(db, "_api/index"), url.Values{"collection": {coll}}, &body); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, ix := range body.Indexes {
			name, _ := ix["name"].(string)
			out[name] = canonical(ix, "id", "selectivityEstimate", "figures", "isNewlyCreated", "isBuilding", "progress")
		}
		return out, nil
	}
	ia, ib, err := bothSides(ctx, v, indexes)
	if err != nil {
		return fmt.Errorf("workload: indexes of %s/%s: %w", db, coll, err)
	}
	v.compareDefs(db, coll, "index", ia, ib)
	return nil
}

// searchObjects compares the views and the database's own analyzers.
func (v *verifier) searchObjects(ctx context.Context, db string) error {
	views := func(ctx context.Context, c *client) (map[string]string, error) {
		var list struct {
			Result []struct {
				Name string `json:"name"`
			} `json:"result"`
		}
		if err := getJSON(ctx, c, dbPath(db, "_api/view"), nil, &list); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, vw := range list.Result {
			var p map[string]any
			if err := getJSON(ctx, c, dbPath(db, "_api/view/"+url.PathEscape(vw.Name)+"/properties"), nil, &p); err != nil {
				return nil, err
			}
			out[vw.Name] = canonical(p, "id", "globallyUniqueId", "error", "code")
		}
		return out, nil
	}
	va, vb, err := bothSides(ctx, v, views)
	if err != nil {
		return fmt.Errorf("workload: views of %s: %w", db, err)
	}
	v.compareDefs(db, "", "view", va, vb)

	analyzers := func(ctx context.Context, c *client) (map[string]string, error) {
		var list struct {
			Result []map[string]any `json:"result"`
		}
		if err := getJSON(ctx, c, dbPath(db, "_api/analyzer"), nil, &list); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, an := range list.Result {
			name, _ := an["name"].(string)
			if strings.Contains(name, "::") { // built-in analyzers have no database prefix
				out[name] = canonical(an)
			}
		}
		return out, nil
	}
	aa, ab, err := bothSides(ctx, v, analyzers)
	if err != nil {
		return fmt.Errorf("workload: analyzers of %s: %w", db, err)
	}
	v.compareDefs(db, "", "analyzer", aa, ab)
	return nil
}

// users compares the users (but IgnoreUsers), whether they are active, and their
// database and collection permissions.
func (v *verifier) users(ctx context.Context) error {
	users := func(ctx context.Context, c *client) (map[string]string, error) {
		var list struct {
			Result []struct {
				User   string `json:"user"`
				Active bool   `json:"active"`
			} `json:"result"`
		}
		if err := getJSON(ctx, c, "_api/user", nil, &list); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, u := range list.Result {
			if slices.Contains(v.opts.IgnoreUsers, u.User) {
				continue
			}
			var perms struct {
				Result map[string]any `json:"result"`
			}
			if err := getJSON(ctx, c, "_api/user/"+url.PathEscape(u.User)+"/database", url.Values{"full": {"true"}}, &perms); err != nil {
				return nil, err
			}
			for db, p := range perms.Result {
				if len(v.opts.Databases) > 0 && db != "*" && !slices.Contains(v.opts.Databases, db) {
					delete(perms.Result, db)
					continue
				}
				// System collections (_users, _analyzers, dc2dc's _dc2dc) differ by nature.
				if pm, ok := p.(map[string]any); ok {
					if colls, ok := pm["collections"].(map[string]any); ok {
						for name := range colls {
							if strings.HasPrefix(name, "_") {
								delete(colls, name)
							}
						}
					}
				}
			}
			out[u.User] = fmt.Sprintf("active=%v permissions=%s", u.Active, canonical(perms.Result))
		}
		return out, nil
	}
	ua, ub, err := bothSides(ctx, v, users)
	if err != nil {
		return fmt.Errorf("workload: users: %w", err)
	}
	v.compareDefs("_system", "", "user", ua, ub)
	return nil
}
