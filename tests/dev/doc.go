// Package dev tests `dc2dc dev` (make run) as a process: it starts the whole
// development stack, writes the endpoints file, every endpoint answers,
// SIGINT stops every child process it recorded, and a second run on the
// same state directory finds the data of the first.
package dev
