// Command dc2dc is the single binary of dc2dc: sync masters, sync workers,
// the mirror, the embedded development broker, operator commands and the
// `dev` harness behind `make run`.
//
// Every subcommand lives in its own file of this package and registers its
// constructor with register() from an init function, so the command tree is
// assembled in one place (newRootCmd) without one file listing them all.
// Flags and environment variables are read here, in cmd/, and nowhere else:
// the packages below take plain Config structs.
package main
