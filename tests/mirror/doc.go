// Package mirror is the end-to-end test of `dc2dc mirror` as a process
// between two `dc2dc kafka` processes: records keep their partition and
// order and arrive exactly once although the mirror is killed with SIGKILL
// twice and the target broker once, mid-stream.
package mirror
