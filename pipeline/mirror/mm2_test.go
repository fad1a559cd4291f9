package mirror

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// loadJavaProperties parses the subset of java.util.Properties syntax that
// deployments/mirrormaker2/mm2.properties uses: comments (# !), key = value
// or key: value, backslash escapes, and continuation lines.
func loadJavaProperties(text string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// An odd number of trailing backslashes continues the line.
		for trailingBackslashes(line)%2 == 1 && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		var key, val strings.Builder
		cur := &key
		sepSeen := false
		for j := 0; j < len(line); j++ {
			c := line[j]
			switch {
			case c == '\\' && j+1 < len(line):
				j++
				switch e := line[j]; e {
				case 't':
					cur.WriteByte('\t')
				case 'n':
					cur.WriteByte('\n')
				case 'r':
					cur.WriteByte('\r')
				case 'f':
					cur.WriteByte('\f')
				default:
					cur.WriteByte(e)
				}
			case cur == &key && (c == '=' || c == ':' || c == ' ' || c == '\t'):
				// Skip whitespace, at most one '=' or ':', whitespace.
				k := j
				for k < len(line) && (line[k] == ' ' || line[k] == '\t') {
					k++
				}
				if k < len(line) && (line[k] == '=' || line[k] == ':') && !sepSeen {
					k++
				}
				for k < len(line) && (line[k] == ' ' || line[k] == '\t') {
					k++
				}
				j = k - 1
				sepSeen = true
				cur = &val
			case c == '\\':
				// A lone trailing backslash (even count handled above) is dropped.
			default:
				cur.WriteByte(c)
			}
		}
		out[key.String()] = val.String()
	}
	return out
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

func TestLoadJavaProperties(t *testing.T) {
	got := loadJavaProperties("# c\n! c\na = 1\nb:2\nc 3\nd=x\\\\.y\ne = long \\\n   line\nf\\ g = h\n  i=\\t\n")
	want := map[string]string{"a": "1", "b": "2", "c": "3", "d": `x\.y`, "e": "long line", "f g": "h", "i": "\t"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys %v, want %d", len(got), got, len(want))
	}
}

func FuzzLoadJavaProperties(f *testing.F) {
	f.Add("a = b\\\\c\n")
	f.Add("k\\\n=v\\")
	f.Fuzz(func(t *testing.T, s string) {
		props := loadJavaProperties(s)
		// Writing the parsed values back, escaped, must parse to the same map.
		var b strings.Builder
		esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "\f", `\f`, " ", `\ `, "=", `\=`, ":", `\:`, "#", `\#`, "!", `\!`)
		for k, v := range props {
			b.WriteString(esc.Replace(k) + "=" + esc.Replace(v) + "\n")
		}
		again := loadJavaProperties(b.String())
		for k, v := range props {
			if again[k] != v {
				t.Fatalf("%q: %q became %q after a round trip", k, v, again[k])
			}
		}
	})
}

// TestMirrorMaker2Properties checks deployments/mirrormaker2/mm2.properties
// against the topic names and routes of this package: the same topics, the
// same directions, names unchanged, poison excluded, exactly-once on.
func TestMirrorMaker2Properties(t *testing.T) {
	b, err := os.ReadFile("../../deployments/mirrormaker2/mm2.properties")
	if err != nil {
		t.Fatal(err)
	}
	p := loadJavaProperties(string(b))
	for k, want := range map[string]string{
		"clusters":                            "A, B",
		"replication.policy.class":            "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
		"A->B.enabled":                        "true",
		"B->A.enabled":                        "true",
		"A.exactly.once.source.support":       "enabled",
		"B.exactly.once.source.support":       "enabled",
		"A.consumer.isolation.level":          "read_committed",
		"B.consumer.isolation.level":          "read_committed",
		"emit.checkpoints.enabled":            "true",
		"sync.group.offsets.enabled":          "false",
		"dedicated.mode.enable.internal.rest": "true",
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}
	// MM2 matches each comma-separated Java regex against the whole name;
	// these regexes are also valid RE2.
	matcher := func(key string) func(string) bool {
		var res []*regexp.Regexp
		for _, s := range strings.Split(p[key], ",") {
			res = append(res, regexp.MustCompile("^(?:"+strings.TrimSpace(s)+")$"))
		}
		return func(topic string) bool {
			for _, re := range res {
				if re.MatchString(topic) {
					return true
				}
			}
			return false
		}
	}
	flows := map[string]func(string) bool{"A->B": matcher("A->B.topics"), "B->A": matcher("B->A.topics")}
	excluded := matcher("topics.exclude")
	for _, sync := range []string{"s1", "prod-eu_2"} {
		for _, r := range SyncRoutes(sync, "A", "B") {
			flow := r.From + "->" + r.To
			other := r.To + "->" + r.From
			for _, topic := range r.Topics {
				if !flows[flow](topic) || excluded(topic) {
					t.Errorf("%s is not forwarded %s by mm2.properties", topic, flow)
				}
				if flows[other](topic) {
					t.Errorf("%s is forwarded back %s too: it would loop", topic, other)
				}
			}
		}
		poison := "dc2dc." + sync + ".poison"
		if !excluded(poison) || excludedTopic(poison) != excluded(poison) {
			t.Errorf("%s is not excluded", poison)
		}
	}
	for _, topic := range []string{"other.data", "dc2dc.s1.data.extra", "__consumer_offsets", "heartbeats"} {
		if flows["A->B"](topic) && !excluded(topic) {
			t.Errorf("%s would be forwarded A->B", topic)
		}
	}
}
