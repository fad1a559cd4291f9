package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "arangosim:", err)
		os.Exit(1)
	}
}

// readyLine is the single JSON line printed once the cluster serves.
type readyLine struct {
	ClusterID string                 `json:"clusterId"`
	Endpoint  string                 `json:"endpoint"`
	Servers   []arangosim.ServerInfo `json:"servers"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arangosim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg arangosim.Config
	fs.IntVar(&cfg.Coordinators, "coordinators", 1, "number of Coordinators")
	fs.IntVar(&cfg.DBServers, "dbservers", 3, "number of DB-Servers")
	fs.IntVar(&cfg.Port, "port", 0, "first port (further servers use the following ports); 0 = free ports")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "JWT secret: enables authentication, accepts superuser tokens signed with it")
	fs.StringVar(&cfg.RootPassword, "root-password", "", "root's password (enables authentication)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "keep data in Pebble under this folder across restarts (default: memory)")
	fs.IntVar(&cfg.MaxWALMarkers, "max-wal-markers", 0, "prune each DB-Server's oldest WAL markers beyond this count (0 = keep all)")
	verbose := fs.Bool("verbose", false, "log diagnostics to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := arangosim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	line, err := json.Marshal(readyLine{ClusterID: c.ID(), Endpoint: c.Endpoint(), Servers: c.Describe()})
	if err != nil {
		return errors.Join(err, c.Close())
	}
	// A failed write of the ready line is not fatal: the cluster serves until the
	// signal either way (a closed pipe on fd 1 ends the process with SIGPIPE).
	_, _ = fmt.Fprintln(stdout, string(line))
	<-ctx.Done()
	return c.Close()
}
