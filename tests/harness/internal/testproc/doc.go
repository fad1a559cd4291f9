// Command testproc is the process the harness's own tests start: it prints
// noise, then its ready line, and reacts to SIGTERM as its flags say.
package main
