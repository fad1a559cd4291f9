// Package web renders a master's status web page: one HTML document, with
// no external assets (inline CSS, no script), that reloads itself every
// two seconds with a meta refresh. The admin API (package api) serves it on
// GET / of every master, with the leader's plan.Status.
//
// Invariants: Render writes only what it is given (it fetches nothing);
// every value is HTML-escaped by html/template; the refresh reloads the
// same URL, so a ?token= query (the page's way to authenticate a browser,
// see package api) survives it. Each shard row carries the class of its
// phase (phase-running, phase-failed, …) and data-shard with its name, so
// tests and people can find it.
package web
