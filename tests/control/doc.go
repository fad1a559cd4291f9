// Package control holds the process tests of the control plane: an
// arangosim cluster as a process, three `dc2dc master` processes and two
// `dc2dc worker` processes. They check that exactly one master leads, that
// a kill -9 of the leader gives a new leader with a higher epoch within
// 10 s and the workers follow it, that a kill -9 of a worker shows it dead
// within 5 s, that a paused leader (SIGSTOP) is replaced and does not act
// as leader when it resumes, and that a bad configuration, a wrong cluster JWT secret and
// an unreachable cluster stop a master at once with an error naming the
// setting to fix.
package control
