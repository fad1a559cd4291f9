package arangosim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

func (c *Cluster) usersCollection() (*Collection, error) {
	db, ok := c.Database("_system")
	if !ok {
		return nil, newErr(http.StatusInternalServerError, 4, "_system database missing")
	}
	col, ok := db.Collection("_users")
	if !ok {
		return nil, newErr(http.StatusInternalServerError, 4, "_users collection missing")
	}
	return col, nil
}

// userDocFields renders a user as its _users document (spec §4.5).
func userDocFields(u *userRecord) []field {
	perm := func(l string) []byte {
		return obj("read", l == "ro" || l == "rw", "write", l == "rw")
	}
	var dbs []field
	names := make([]string, 0, len(u.DBs))
	for n := range u.DBs {
		names = append(names, n)
	}
	for n := range u.Colls {
		if _, ok := u.DBs[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fs := []field{}
		if l, ok := u.DBs[n]; ok {
			fs = append(fs, field{"permissions", perm(l)})
		}
		if cm := u.Colls[n]; len(cm) > 0 {
			var cs []field
			cn := make([]string, 0, len(cm))
			for k := range cm {
				cn = append(cn, k)
			}
			slices.Sort(cn)
			for _, k := range cn {
				cs = append(cs, field{k, obj("permissions", rawJSON(perm(cm[k])))})
			}
			fs = append(fs, field{"collections", fieldsToObject(cs)})
		}
		dbs = append(dbs, field{n, fieldsToObject(fs)})
	}
	extra := u.Extra
	if len(extra) == 0 {
		extra = []byte("{}")
	}
	return []field{
		{"user", quoteJSON(u.Name)},
		{"source", quoteJSON("LOCAL")},
		{"authData", obj("active", u.Active, "simple", rawJSON(obj("hash", u.Hash, "salt", u.Salt, "method", "sha256")))},
		{"databases", fieldsToObject(dbs)},
		{"userData", extra},
		{"configData", []byte("{}")},
	}
}

// saveUser writes the user's _users document (insert or replace) and updates the cache.
func (c *Cluster) saveUser(u *userRecord) error {
	col, err := c.usersCollection()
	if err != nil {
		return err
	}
	if u.Key == "" {
		u.Key = col.newKey(c)
	}
	op := &docOp{kind: opInsert, key: u.Key, fields: userDocFields(u)}
	o := writeOptions{OverwriteMode: "replace", KeepNull: true, MergeObjects: true, IgnoreRevs: true}
	col.prepare(c, []*docOp{op}, o)
	res := c.execute(col, []*docOp{op}, o)
	if res[0].err != nil {
		return res[0].err
	}
	// Like UserManager::storeUser + triggerGlobalReload: the whole cache is
	// reloaded, so _users documents written through the document API since the
	// last reload take effect too.
	c.users.put(u)
	if err := c.reloadUsers(); err != nil {
		return err
	}
	return nil
}

func hashPassword(pw string) (salt, hash string) {
	salt = strings.ReplaceAll(newUUID(), "-", "")[:16]
	sum := sha256.Sum256([]byte(salt + pw))
	return salt, hex.EncodeToString(sum[:])
}

// ensureRootUser creates root with the configured password and rw everywhere.
func (c *Cluster) ensureRootUser() error {
	if _, ok := c.users.get("root"); ok {
		return nil
	}
	salt, hash := hashPassword(c.cfg.RootPassword)
	return c.saveUser(&userRecord{Name: "root", Active: true, Salt: salt, Hash: hash,
		DBs: map[string]string{"*": "rw"}, Colls: map[string]map[string]string{"*": {"*": "rw"}}})
}

func validUserName(n string) bool { return n != "" && len(n) <= 256 && !strings.ContainsAny(n, ":") }

// CreateUser creates a user with a password.
func (c *Cluster) CreateUser(name, password string, active bool, extra []byte) error {
	if !validUserName(name) {
		return newErr(http.StatusBadRequest, errNumUserInvalidName, "invalid user name")
	}
	if _, ok := c.users.get(name); ok {
		return newErr(http.StatusConflict, errNumUserDuplicate, "duplicate user")
	}
	salt, hash := hashPassword(password)
	if len(extra) == 0 || string(extra) == "null" {
		extra = []byte("{}")
	}
	return c.saveUser(&userRecord{Name: name, Active: active, Salt: salt, Hash: hash, Extra: compactOr(extra),
		DBs: map[string]string{}, Colls: map[string]map[string]string{}})
}

// SetPermission grants level ("rw", "ro", "none") on a database (coll == "") or a
// collection; level "" revokes (removes the entry).
func (c *Cluster) SetPermission(user, db, coll, level string) error {
	old, ok := c.users.get(user)
	if !ok {
		return newErr(http.StatusNotFound, errNumUserNotFound, "user not found")
	}
	u := old.clone()
	if coll == "" {
		if level == "" {
			delete(u.DBs, db)
		} else {
			u.DBs[db] = level
		}
	} else {
		if u.Colls[db] == nil {
			u.Colls[db] = map[string]string{}
		}
		if level == "" {
			delete(u.Colls[db], coll)
		} else {
			u.Colls[db][coll] = level
		}
	}
	return c.saveUser(u)
}

func (u *userRecord) clone() *userRecord {
	n := *u
	n.DBs = make(map[string]string, len(u.DBs))
	for k, v := range u.DBs {
		n.DBs[k] = v
	}
	n.Colls = make(map[string]map[string]string, len(u.Colls))
	for k, m := range u.Colls {
		cm := make(map[string]string, len(m))
		for a, b := range m {
			cm[a] = b
		}
		n.Colls[k] = cm
	}
	return &n
}

// DeleteUser removes a user.
func (c *Cluster) DeleteUser(name string) error {
	u, ok := c.users.get(name)
	if !ok {
		return newErr(http.StatusNotFound, errNumUserNotFound, "user not found")
	}
	col, err := c.usersCollection()
	if err != nil {
		return err
	}
	op := &docOp{kind: opRemove, key: u.Key}
	o := writeOptions{IgnoreRevs: true}
	col.prepare(c, []*docOp{op}, o)
	c.execute(col, []*docOp{op}, o)
	c.users.remove(name)
	return c.reloadUsers()
}

func userJSON(u *userRecord, code int) []byte {
	extra := u.Extra
	if len(extra) == 0 {
		extra = []byte("{}")
	}
	fs := []field{{"user", quoteJSON(u.Name)}, {"active", boolJSON(u.Active)}, {"extra", extra}}
	if code != 0 {
		fs = append(fs, field{"code", intJSON(code)}, field{"error", boolJSON(false)})
	}
	return fieldsToObject(fs)
}

func (c *Cluster) userNames() []string {
	c.users.mu.RLock()
	defer c.users.mu.RUnlock()
	out := make([]string, 0, len(c.users.users))
	for n := range c.users.users {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func requireAdminOrSelf(w http.ResponseWriter, r *Request, user string) bool {
	if r.isAdmin() || (user != "" && r.User == user) {
		return true
	}
	WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
	return false
}

type userBody struct {
	User   string          `json:"user"`
	Passwd *string         `json:"passwd"`
	Active *bool           `json:"active"`
	Extra  json.RawMessage `json:"extra"`
}

func handleUserCreate(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || !requireAdminOrSelf(w, r, "") {
		return
	}
	body, _ := r.Body()
	var req userBody
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	pw := ""
	if req.Passwd != nil {
		pw = *req.Passwd
	}
	active := req.Active == nil || *req.Active
	c := r.Server.c
	if err := c.CreateUser(req.User, pw, active, req.Extra); err != nil {
		writeErr(w, err)
		return
	}
	u, _ := c.users.get(req.User)
	writeRaw(w, http.StatusCreated, userJSON(u, 201))
}

func handleUserList(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) {
		return
	}
	c := r.Server.c
	var items [][]byte
	for _, n := range c.userNames() {
		if !r.isAdmin() && n != r.User {
			continue
		}
		if u, ok := c.users.get(n); ok {
			items = append(items, userJSON(u, 0))
		}
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(joinArray(items))))
}

func userOr404(w http.ResponseWriter, r *Request) (*userRecord, bool) {
	name := r.PathValue("user")
	if !requireAdminOrSelf(w, r, name) {
		return nil, false
	}
	u, ok := r.Server.c.users.get(name)
	if !ok {
		WriteError(w, http.StatusNotFound, errNumUserNotFound, "user not found")
		return nil, false
	}
	return u, true
}

func handleUserGet(w http.ResponseWriter, r *Request) {
	if u, ok := userOr404(w, r); ok {
		writeRaw(w, http.StatusOK, userJSON(u, 200))
	}
}

func handleUserModify(replace bool) HandlerFunc {
	return func(w http.ResponseWriter, r *Request) {
		if !requireSystem(w, r) {
			return
		}
		old, ok := userOr404(w, r)
		if !ok {
			return
		}
		body, _ := r.Body()
		var req userBody
		if err := json.Unmarshal(body, &req); err != nil {
			WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
			return
		}
		u := old.clone()
		if req.Passwd != nil {
			u.Salt, u.Hash = hashPassword(*req.Passwd)
		} else if replace {
			u.Salt, u.Hash = hashPassword("")
		}
		if req.Active != nil {
			u.Active = *req.Active
		} else if replace {
			u.Active = true
		}
		if req.Extra != nil {
			if replace {
				u.Extra = compactOr(req.Extra)
			} else {
				of, _ := objectFields(rawOrNull(u.Extra))
				nf, err := objectFields(req.Extra)
				if err == nil {
					merged, _ := mergePatch(of, nf, true, true)
					u.Extra = fieldsToObject(merged)
				}
			}
		} else if replace {
			u.Extra = []byte("{}")
		}
		if err := r.Server.c.saveUser(u); err != nil {
			writeErr(w, err)
			return
		}
		writeRaw(w, http.StatusOK, userJSON(u, 200))
	}
}

func handleUserDelete(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || !requireAdminOrSelf(w, r, "") {
		return
	}
	if err := r.Server.c.DeleteUser(r.PathValue("user")); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusAccepted, obj("error", false, "code", 202))
}

func handleUserGrant(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || !requireAdminOrSelf(w, r, "") {
		return
	}
	body, _ := r.Body()
	var req struct {
		Grant string `json:"grant"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	switch req.Grant {
	case "rw", "ro", "none":
	default:
		WriteError(w, http.StatusBadRequest, errNumBadParameter, "invalid value for grant")
		return
	}
	db, coll := r.PathValue("db"), r.PathValue("coll")
	if coll != "" && strings.HasPrefix(coll, "_") {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	c := r.Server.c
	if db != "*" {
		if _, ok := c.Database(db); !ok {
			WriteError(w, http.StatusNotFound, errNumDatabaseNotFound, "database not found")
			return
		}
	}
	if err := c.SetPermission(r.PathValue("user"), db, coll, req.Grant); err != nil {
		writeErr(w, err)
		return
	}
	key := db
	if coll != "" {
		key = db + "/" + coll
	}
	writeRaw(w, http.StatusOK, fieldsToObject([]field{{key, quoteJSON(req.Grant)}, {"code", intJSON(200)}, {"error", boolJSON(false)}}))
}

func handleUserRevoke(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || !requireAdminOrSelf(w, r, "") {
		return
	}
	if err := r.Server.c.SetPermission(r.PathValue("user"), r.PathValue("db"), r.PathValue("coll"), ""); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusAccepted, obj("error", false, "code", 202))
}

func handleUserDatabases(w http.ResponseWriter, r *Request) {
	u, ok := userOr404(w, r)
	if !ok {
		return
	}
	c := r.Server.c
	full := r.QueryBool("full", false)
	var res []field
	for _, dbn := range c.Databases() {
		l := u.dbLevel(dbn)
		if !full {
			if l != "none" {
				res = append(res, field{dbn, quoteJSON(l)})
			}
			continue
		}
		db, _ := c.Database(dbn)
		var cs []field
		for _, col := range db.Collections() {
			cl := "undefined"
			if m, ok := u.Colls[dbn]; ok {
				if v, ok := m[col.Name]; ok {
					cl = v
				}
			}
			cs = append(cs, field{col.Name, quoteJSON(cl)})
		}
		star := "undefined"
		if m, ok := u.Colls[dbn]; ok {
			if v, ok := m["*"]; ok {
				star = v
			}
		}
		cs = append(cs, field{"*", quoteJSON(star)})
		res = append(res, field{dbn, obj("permission", l, "collections", rawJSON(fieldsToObject(cs)))})
	}
	if full {
		res = append(res, field{"*", obj("permission", u.dbLevel("*"))})
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(fieldsToObject(res))))
}

func handleUserDatabase(w http.ResponseWriter, r *Request) {
	u, ok := userOr404(w, r)
	if !ok {
		return
	}
	db, coll := r.PathValue("db"), r.PathValue("coll")
	l := u.dbLevel(db)
	if coll != "" {
		l = u.collLevel(db, coll)
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", l))
}

func handleOpenAuth(w http.ResponseWriter, r *Request) {
	body, _ := r.Body()
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Username == "" {
		WriteError(w, http.StatusBadRequest, errNumHTTPBadParameter, "invalid JSON")
		return
	}
	c := r.Server.c
	u, ok := c.users.get(req.Username)
	if !ok || !u.Active || !u.checkPassword(req.Password) {
		WriteError(w, http.StatusUnauthorized, errNumForbidden, "Wrong credentials")
		return
	}
	ttl := time.Hour
	tok, _, err := c.userToken(u.Name, ttl)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, obj("jwt", tok, "must_change_password", false, "expires_in", int(ttl.Seconds())))
}
