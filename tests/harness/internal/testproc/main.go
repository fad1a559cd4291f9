package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	delay := flag.Duration("ready-after", 0, "wait this long before printing the ready line")
	noReady := flag.Bool("no-ready", false, "never print a ready line")
	exitNow := flag.Int("exit", -1, "exit at once with this code (after the ready line unless -no-ready)")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	termCode := flag.Int("term-code", 0, "exit code after SIGTERM")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("starting up")
	fmt.Fprintln(os.Stderr, "a line on stderr")
	fmt.Println(`{"ready":false,"phase":"starting"}`)
	time.Sleep(*delay)
	if !*noReady {
		line, _ := json.Marshal(map[string]any{"ready": true, "component": "testproc", "pid": os.Getpid(), "env": os.Getenv("TESTPROC_VALUE")})
		fmt.Println(string(line))
	}
	if *exitNow >= 0 {
		os.Exit(*exitNow)
	}
	for range sig {
		if *ignoreTerm {
			fmt.Fprintln(os.Stderr, "ignoring SIGTERM")
			continue
		}
		fmt.Fprintln(os.Stderr, "stopping on SIGTERM")
		os.Exit(*termCode)
	}
}
