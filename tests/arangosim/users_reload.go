package arangosim

import "net/http"

// errNumHTTPForbidden is TRI_ERROR_HTTP_FORBIDDEN.
const errNumHTTPForbidden = 403

// The user cache follows _system/_users the way arangod's auth::UserManager does:
// it is rebuilt from the collection's documents whenever its version moves. The
// user API (POST/PUT/PATCH/DELETE /_api/user…) moves it after its own write
// (UserManager::storeUser → triggerGlobalReload, which bumps Sync/UserVersion in
// the agency); a plain document write to _users (insert/replace/update/remove,
// isRestore or not) does not, so such a change takes effect at the next reload:
// POST /_admin/auth/reload (RestAuthReloadHandler → triggerCacheRevalidation,
// which waits until the cache is reloaded) or any later user-API write.
func init() {
	routeSetups = append(routeSetups, func(s *Server) {
		// Registered with addHandler on every role, for every method.
		s.Handle("/_admin/auth/reload", AccessUser, handleAuthReload)
	})
}

// handleAuthReload serves /_admin/auth/reload: admin users only (superuser JWT or
// rw on _system; others get 403/403 "forbidden"), answers {"error":false,"code":200}
// once the cache holds the current _users documents.
func handleAuthReload(w http.ResponseWriter, r *Request) {
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumHTTPForbidden, "forbidden")
		return
	}
	if err := r.Server.c.reloadUsers(); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200))
}

// ReloadUsers rebuilds the user cache from the _system/_users documents (what
// POST /_admin/auth/reload does).
func (c *Cluster) ReloadUsers() error { return c.reloadUsers() }

// reloadUsers replaces the user cache with the users of the _users documents on
// the shards' leaders. Documents without a "user" attribute are ignored.
func (c *Cluster) reloadUsers() error {
	col, err := c.usersCollection()
	if err != nil {
		return err
	}
	users := make(map[string]*userRecord)
	for _, sh := range col.Shards {
		l := sh.Leader()
		if l == nil {
			continue
		}
		rp, ok := l.Replica("_system", sh.Name)
		if !ok {
			continue
		}
		rp.mu.Lock()
		docs := rp.freeze() // immutable from here on; the next write clones
		rp.mu.Unlock()
		for _, d := range docs {
			if u := userFromDoc(d); u != nil {
				users[u.Name] = u
			}
		}
	}
	c.users.mu.Lock()
	c.users.users = users
	c.users.mu.Unlock()
	return nil
}
