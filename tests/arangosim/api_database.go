package arangosim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

func handleDatabaseCurrent(w http.ResponseWriter, r *Request) {
	c := r.Server.c
	db, ok := c.Database(r.DBName)
	if !ok {
		WriteError(w, http.StatusNotFound, errNumDatabaseNotFound, "database not found")
		return
	}
	sharding := db.Sharding
	res := obj("id", strconv.FormatUint(db.ID, 10), "name", db.Name, "isSystem", db.Name == "_system", "path", "none",
		"sharding", sharding, "replicationFactor", db.ReplicationFactor, "writeConcern", db.WriteConcern,
		"replicationVersion", "1")
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", rawJSON(res)))
}

func requireSystem(w http.ResponseWriter, r *Request) bool {
	if r.DBName != "_system" {
		WriteError(w, http.StatusForbidden, errNumUseSystemDatabase, "operation only allowed in system database")
		return false
	}
	return true
}

func handleDatabaseList(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) {
		return
	}
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", r.Server.c.Databases()))
}

func handleDatabaseUser(w http.ResponseWriter, r *Request) {
	var out []string
	for _, n := range r.Server.c.Databases() {
		if r.Superuser {
			out = append(out, n)
			continue
		}
		if u, ok := r.Server.c.users.get(r.User); ok && u.dbLevel(n) != "none" {
			out = append(out, n)
		}
	}
	if out == nil {
		out = []string{}
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", out))
}

func handleDatabaseCreate(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || refuseReadOnlyDDL(w, r) {
		return
	}
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	body, _ := r.Body()
	var req struct {
		Name    string `json:"name"`
		Options struct {
			Sharding          string `json:"sharding"`
			ReplicationFactor any    `json:"replicationFactor"`
			WriteConcern      int    `json:"writeConcern"`
		} `json:"options"`
		Users []struct {
			Username string          `json:"username"`
			User     string          `json:"user"`
			Passwd   string          `json:"passwd"`
			Active   *bool           `json:"active"`
			Extra    json.RawMessage `json:"extra"`
		} `json:"users"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, errNumCorruptedJSON, "invalid JSON object")
		return
	}
	rf := 1
	switch v := req.Options.ReplicationFactor.(type) {
	case float64:
		rf = int(v)
	case string:
		if v == "satellite" {
			rf = -1
		}
	}
	c := r.Server.c
	if _, err := c.CreateDatabase(req.Name, DatabaseOptions{Sharding: req.Options.Sharding, ReplicationFactor: rf,
		WriteConcern: req.Options.WriteConcern}); err != nil {
		writeErr(w, err)
		return
	}
	for _, u := range req.Users {
		name := u.Username
		if name == "" {
			name = u.User
		}
		if name == "" {
			continue
		}
		if _, ok := c.users.get(name); !ok {
			active := u.Active == nil || *u.Active
			if err := c.CreateUser(name, u.Passwd, active, u.Extra); err != nil {
				writeErr(w, err)
				return
			}
		}
		if err := c.SetPermission(name, req.Name, "", "rw"); err != nil {
			writeErr(w, err)
			return
		}
	}
	writeRaw(w, http.StatusCreated, obj("error", false, "code", 201, "result", true))
}

func handleDatabaseDrop(w http.ResponseWriter, r *Request) {
	if !requireSystem(w, r) || refuseReadOnlyDDL(w, r) {
		return
	}
	if !r.isAdmin() {
		WriteError(w, http.StatusForbidden, errNumForbidden, "forbidden")
		return
	}
	if err := r.Server.c.DropDatabase(r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	writeRaw(w, http.StatusOK, obj("error", false, "code", 200, "result", true))
}
