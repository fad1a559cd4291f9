//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris

package store

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// isLockConflict reports whether err is fcntl's answer to a lock held by
// another process (Pebble takes a POSIX write lock on <dir>/LOCK).
func isLockConflict(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)
}

// lockHolder returns the pid of the process holding the POSIX lock on the
// file, or 0. It must not be called on a file this process has locked:
// closing any descriptor of a file drops the process's POSIX locks on it.
func lockHolder(name string) int {
	f, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }() // opened read-only to query the lock
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil || lk.Type == syscall.F_UNLCK {
		return 0
	}
	return int(lk.Pid)
}
