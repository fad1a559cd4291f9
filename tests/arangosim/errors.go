package arangosim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ArangoDB error numbers used by the simulator (docs errors.yaml).
const (
	errNumBadParameter        = 10
	errNumForbidden           = 11
	errNumNotImplemented      = 9
	errNumReadOnly            = 1004
	errNumHTTPBadParameter    = 400
	errNumHTTPNotFound        = 404
	errNumMethodNotAllowed    = 405
	errNumServiceUnavailable  = 503
	errNumCorruptedJSON       = 600
	errNumConflict            = 1200
	errNumDocumentNotFound    = 1202
	errNumDataSourceNotFound  = 1203
	errNumCollParamMissing    = 1204
	errNumDocumentHandleBad   = 1205
	errNumDuplicateName       = 1207
	errNumIllegalName         = 1208
	errNumIndexNotFound       = 1212
	errNumUniqueViolated      = 1210
	errNumDocumentKeyBad      = 1221
	errNumDocumentKeyUnexp    = 1222
	errNumDocumentKeyMissing  = 1226
	errNumDocumentTypeInvalid = 1227
	errNumDatabaseNotFound    = 1228
	errNumDatabaseNameInvalid = 1229
	errNumUseSystemDatabase   = 1230
	errNumInvalidEdgeAttr     = 1233
	errNumDocumentRevBad      = 1239
	errNumClusterMustNotKey   = 1466
	errNumNotAllShardingAttrs = 1468
	errNumMustNotChangeShard  = 1469
	errNumClusterUnsupported  = 1470
	errNumUnknownDistShards   = 1486
	errNumInsufficientDBSrv   = 1487
	errNumNotLeader           = 1496
	errNumCursorNotFound      = 1600
	errNumTrxAborted          = 1654
	errNumTrxNotFound         = 1655
	errNumUserInvalidName     = 1700
	errNumUserDuplicate       = 1702
	errNumUserNotFound        = 1703
	errNumAnalyzerNotFound    = 1202
)

// ArangoError is an error with the status and errorNum arangod would answer.
type ArangoError struct {
	Code    int    // HTTP status
	Num     int    // errorNum
	Message string // errorMessage
	// Extra members appended after errorNum (e.g. _id/_key/_rev of a 412).
	Extra []field
}

func (e *ArangoError) Error() string {
	return fmt.Sprintf("arangosim: HTTP %d, errorNum %d: %s", e.Code, e.Num, e.Message)
}

func newErr(code, num int, msg string) *ArangoError {
	return &ArangoError{Code: code, Num: num, Message: msg}
}

func asArangoError(err error) *ArangoError {
	var ae *ArangoError
	if errors.As(err, &ae) {
		return ae
	}
	return newErr(http.StatusInternalServerError, 4, err.Error())
}

// errorBody renders {"code","error","errorMessage","errorNum"} (+ extra members).
func errorBody(code, num int, msg string, extra []field) []byte {
	b := make([]byte, 0, 96+len(msg))
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"error":true,"errorMessage":`...)
	b = appendQuoted(b, msg)
	b = append(b, `,"errorNum":`...)
	b = strconv.AppendInt(b, int64(num), 10)
	if len(extra) > 0 {
		b = append(b, ',')
		b = appendFields(b, extra)
	}
	return append(b, '}')
}

// WriteError writes an arangod error body with the given status and errorNum.
func WriteError(w http.ResponseWriter, code, num int, msg string) {
	writeRaw(w, code, errorBody(code, num, msg, nil))
}

// writeErr writes err as arangod would (ArangoError, or 500 internal error).
func writeErr(w http.ResponseWriter, err error) {
	ae := asArangoError(err)
	writeRaw(w, ae.Code, errorBody(ae.Code, ae.Num, ae.Message, ae.Extra))
}

// WriteJSON marshals v and writes it with the JSON content type.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, 4, err.Error())
		return
	}
	writeRaw(w, code, b)
}

// writeRaw writes an already encoded JSON body.
func writeRaw(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// obj builds an ordered JSON object from alternating key, value pairs; values are
// marshalled with encoding/json unless they are already []byte raw JSON (rawJSON).
type rawJSON []byte

func obj(kv ...any) []byte {
	fs := make([]field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		var v []byte
		switch x := kv[i+1].(type) {
		case rawJSON:
			v = x
			if len(v) == 0 {
				v = []byte("null")
			}
		default:
			b, err := json.Marshal(x)
			if err != nil {
				b = []byte("null")
			}
			v = b
		}
		fs = append(fs, field{Key: k, Val: v})
	}
	return fieldsToObject(fs)
}
