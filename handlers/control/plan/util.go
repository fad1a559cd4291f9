package plan

import (
	"context"
	"fmt"
	"io/fs"
	"time"
)

// slogger prefixes a manager's log lines with fixed attributes.
type slogger struct {
	m  *Manager
	k1 string
	v1 any
	k2 string
	v2 any
}

func (l *slogger) attrs(kv []any) []any { return append([]any{l.k1, l.v1, l.k2, l.v2}, kv...) }

func (l *slogger) Info(msg string, kv ...any)  { l.m.log.Info(msg, l.attrs(kv)...) }
func (l *slogger) Warn(msg string, kv ...any)  { l.m.log.Warn(msg, l.attrs(kv)...) }
func (l *slogger) Error(msg string, kv ...any) { l.m.log.Error(msg, l.attrs(kv)...) }

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// errNoSync: no sync of that id (404 through the API).
func errNoSync(id string) error {
	return fmt.Errorf("no sync %q in this datacenter: list the syncs with `dc2dc get status`: %w", id, fs.ErrNotExist)
}
