package main

// `dc2dc get status` (its output) and `dc2dc get status-page`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/web"
)

// printStatus prints the syncs (and with verbose every shard).
func printStatus(out io.Writer, st plan.Status, verbose bool, now time.Time) error {
	dc := st.DC
	if dc == "" {
		dc = "(unnamed)"
	}
	if _, err := fmt.Fprintf(out, "datacenter %s, leader master %s (epoch %d)\n", dc, dash(st.Leader), st.Epoch); err != nil {
		return err
	}
	if len(st.Syncs) == 0 {
		_, err := fmt.Fprintln(out, "no sync is configured: run `dc2dc configure sync --source.dc <DC>` against the masters of the datacenter that is to follow")
		return err
	}
	tw, err := table(out, "SYNC", "ROLE", "PEER", "STATE", "PEER ALIVE", "SHARDS", "MAX LAG", "IN SYNC", "ERROR")
	if err != nil {
		return err
	}
	for _, s := range st.Syncs {
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\t%s\n", s.ID, s.Role, dash(s.Peer), s.State, yes(s.PeerAlive),
			shardSummary(s), s.MaxLagSeconds, yes(s.InSync), dash(s.Error)); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !verbose {
		return nil
	}
	for _, s := range st.Syncs {
		if _, err := fmt.Fprintf(out, "\nsync %s (%s of %s, %s): %d shards\n", s.ID, s.Role, dash(s.Peer), s.State, len(s.Shards)); err != nil {
			return err
		}
		if len(s.Shards) == 0 {
			continue
		}
		tw, err := table(out, "COLLECTION", "SHARD", "PHASE", "LAG TICKS", "LAG", "LAST CHANGE", "SOURCE (WORKER PHASE EPOCH)", "TARGET (WORKER PHASE)", "ERROR")
		if err != nil {
			return err
		}
		for _, sh := range s.Shards {
			src := fmt.Sprintf("%s %s %d", dash(sh.Source.Worker), dash(sh.Source.Phase), sh.Source.StreamEpoch)
			dst := fmt.Sprintf("%s %s", dash(sh.Target.Worker), dash(sh.Target.Phase))
			errText := sh.Error
			if errText == "" {
				errText = firstNonEmpty(sh.Target.Error, sh.Source.Error)
			}
			if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1fs\t%s\t%s\t%s\t%s\n", sh.Collection, sh.Shard, sh.Phase, sh.LagTicks, sh.LagSeconds,
				web.Ago(now, sh.LastDataChange), src, dst, dash(oneLine(errText))); err != nil {
				return err
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// shardSummary is "5 (2 running, 1 failed, …)".
func shardSummary(s plan.SyncStatus) string {
	counts := s.Phases
	if len(counts) == 0 && len(s.Shards) > 0 {
		counts = map[string]int{}
		for _, sh := range s.Shards {
			counts[sh.Phase]++
		}
	}
	phases := make([]string, 0, len(counts))
	for ph := range counts {
		phases = append(phases, ph)
	}
	sort.Strings(phases)
	parts := make([]string, 0, len(phases))
	for _, ph := range phases {
		parts = append(parts, fmt.Sprintf("%d %s", counts[ph], ph))
	}
	if len(parts) == 0 {
		return fmt.Sprint(len(s.Shards))
	}
	return fmt.Sprintf("%d (%s)", len(s.Shards), strings.Join(parts, ", "))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newStatusPageCmd is `dc2dc get status-page`: the link to a master's
// status web page for a browser, with credentials in its ?token= query.
func newStatusPageCmd(o *getOptions) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "status-page",
		Short: "Print the link to the masters' status web page, with a token for the browser",
		Long: `Print the URL of the status web page of the first --master.endpoint (any master: a
follower forwards the page to the leader). With --auth.jwt-secret the link holds a JWT
that expires after --ttl; with --auth.token it holds that token (it stays in the
browser's history: prefer a JWT). Without either, the plain URL (a master without
authentication).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.endpoints) == 0 {
				return usageError(fmt.Errorf("no master endpoint: give --master.endpoint, e.g. http://master1:8629"))
			}
			if ttl <= 0 {
				return usageError(fmt.Errorf("--ttl %v: use a positive duration, e.g. 12h", ttl))
			}
			u, err := url.Parse(strings.TrimRight(o.endpoints[0], "/") + api.PathStatusPage)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError(fmt.Errorf("--master.endpoint %q is not an http:// or https:// URL: use e.g. http://master1:8629", o.endpoints[0]))
			}
			tok := o.token
			if o.secret != "" {
				if tok, err = api.SignJWT(o.secret, "dc2dc-status-page", ttl); err != nil {
					return failedError(fmt.Errorf("sign the page's JWT: %w", err))
				}
			}
			if tok != "" {
				u.RawQuery = url.Values{"token": {tok}}.Encode()
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), u.String())
			return err
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 12*time.Hour, "how long the link's JWT is valid (with --auth.jwt-secret)")
	return cmd
}

// pollStatus fetches the status until done says so or ctx ends; it returns
// the last status.
func pollStatus(ctx context.Context, cl *api.Client, every time.Duration, warn io.Writer, done func(plan.Status) (bool, error)) (plan.Status, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last plan.Status
	for {
		st, err := cl.Status(ctx)
		switch {
		case err != nil && transientStatusError(err) && ctx.Err() == nil:
			// A leader election (a master killed, a lost lease) or a master
			// restarting: the next poll finds the new leader.
			_, _ = fmt.Fprintf(warn, "        %s masters not answering yet (%v); retrying\n", time.Now().Format("15:04:05"), err) // a note only
			st = last
		case err != nil:
			return st, err
		default:
			last = st
			if ok, err := done(st); ok || err != nil {
				return st, err
			}
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// transientStatusError reports an error a poll outlives: a master answering
// 502/503/504 (no leader right now, forwarding failed) or none reachable.
func transientStatusError(err error) bool {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status == http.StatusBadGateway || ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED)
}
