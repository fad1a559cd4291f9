package mirror

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SourceHeader is the record header the mirror adds to every record it
// forwards. Its value names the record it copies, as
// "<srcCluster>/<topic>/<partition>/<offset>". On start and after every
// rebalance the mirror reads the last such header of each target partition
// and resumes the source partition just after it: the target itself is the
// mirror's checkpoint, written atomically with the data.
const SourceHeader = "dc2dc-mirror-src"

// SourcePos identifies one source record: the cluster name from the mirror's
// configuration, the topic, the partition and the offset.
type SourcePos struct {
	Cluster   string
	Topic     string
	Partition int32
	Offset    int64
}

// String formats the position as the value of SourceHeader.
func (p SourcePos) String() string {
	return p.Cluster + "/" + p.Topic + "/" + strconv.FormatInt(int64(p.Partition), 10) + "/" + strconv.FormatInt(p.Offset, 10)
}

// appendHeader appends the header value to b without intermediate strings.
func (p SourcePos) appendTo(b []byte) []byte {
	b = append(b, p.Cluster...)
	b = append(b, '/')
	b = append(b, p.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(p.Partition), 10)
	b = append(b, '/')
	return strconv.AppendInt(b, p.Offset, 10)
}

var errBadHeader = errors.New("malformed " + SourceHeader + " header")

// ParseSourcePos parses a SourceHeader value. Cluster names never contain
// '/', and Kafka topic names cannot, so the split is unambiguous.
func ParseSourcePos(v string) (SourcePos, error) {
	cluster, rest, ok := strings.Cut(v, "/")
	if !ok || cluster == "" {
		return SourcePos{}, fmt.Errorf("%w %q: want <cluster>/<topic>/<partition>/<offset>", errBadHeader, v)
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return SourcePos{}, fmt.Errorf("%w %q: no offset", errBadHeader, v)
	}
	offStr := rest[i+1:]
	rest = rest[:i]
	j := strings.LastIndexByte(rest, '/')
	if j <= 0 {
		return SourcePos{}, fmt.Errorf("%w %q: no topic or partition", errBadHeader, v)
	}
	topic, partStr := rest[:j], rest[j+1:]
	if strings.IndexByte(topic, '/') >= 0 {
		return SourcePos{}, fmt.Errorf("%w %q: topic contains '/'", errBadHeader, v)
	}
	part, err := strconv.ParseInt(partStr, 10, 32)
	if err != nil || part < 0 || partStr[0] == '+' {
		return SourcePos{}, fmt.Errorf("%w %q: partition %q is not a non-negative int32", errBadHeader, v, partStr)
	}
	off, err := strconv.ParseInt(offStr, 10, 64)
	if err != nil || off < 0 || offStr[0] == '+' {
		return SourcePos{}, fmt.Errorf("%w %q: offset %q is not a non-negative int64", errBadHeader, v, offStr)
	}
	return SourcePos{Cluster: cluster, Topic: topic, Partition: int32(part), Offset: off}, nil
}
