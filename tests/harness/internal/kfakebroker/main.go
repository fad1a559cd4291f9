// Command kfakebroker runs an in-memory Kafka broker (kfake) as a process for
// the end-to-end tests, until `dc2dc kafka` provides the same. It prints a
// JSON ready line with its address and stops on SIGTERM or SIGINT.
//
//	kfakebroker -port 9092 -data-dir /tmp/b -topic dc2dc.s.data:12
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

type topicFlags []string

func (f *topicFlags) String() string     { return strings.Join(*f, ",") }
func (f *topicFlags) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	port := flag.Int("port", 0, "port to listen on (0: any)")
	dataDir := flag.String("data-dir", "", "persist the broker's state here and reload it on start")
	syncWrites := flag.Bool("sync", false, "fsync every write")
	clusterID := flag.String("cluster-id", "kfake", "cluster id")
	minSession := flag.Duration("group-min-session-timeout", 500*time.Millisecond, "smallest consumer-group session timeout allowed")
	var topics topicFlags
	flag.Var(&topics, "topic", "topic to create as name:partitions (repeatable)")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID(*clusterID),
		kfake.GroupMinSessionTimeout(*minSession),
	}
	if *port != 0 {
		opts = append(opts, kfake.Ports(*port))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	for _, t := range topics {
		name, n, ok := strings.Cut(t, ":")
		parts, err := strconv.Atoi(n)
		if !ok || err != nil || parts < 1 {
			fmt.Fprintf(os.Stderr, "kfakebroker: -topic %q: write it as name:partitions\n", t)
			os.Exit(2)
		}
		opts = append(opts, kfake.SeedTopics(int32(parts), name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfakebroker: %v\n", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	line, _ := json.Marshal(map[string]any{"ready": true, "component": "kafka", "brokers": c.ListenAddrs()})
	fmt.Println(string(line))
	<-sig
	c.Close()
}
