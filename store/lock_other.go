//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris)

package store

func isLockConflict(error) bool { return false }

func lockHolder(string) int { return 0 }
