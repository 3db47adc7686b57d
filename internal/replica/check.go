package replica

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// A resync where nothing changed used to cost a process, a connector and
// three requests per tenant (go-libsql's /info probe, the replication
// handshake, a fetch of the log that comes back empty). The handshake alone
// answers the question: its reply names the primary's log and its latest
// committed frame. When both equal what the replica's -client_wal_index
// records, the replica holds every frame the primary has, so the tenant is
// proven unchanged with one request from the coordinator, no process and no
// connector. Any other answer, or any error, sends the tenant to a real sync.

// helloPath is the replication handshake (gRPC service wal_log.ReplicationLog,
// method Hello), spoken over gRPC-web as go-libsql does.
const helloPath = "/wal_log.ReplicationLog/Hello"

// helloBody is a gRPC-web data frame holding HelloRequest{handshake_version: 1},
// the request go-libsql sends (a missing version is the legacy handshake).
var helloBody = func() []byte {
	msg := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))), msg...)
}()

// meta is the replica's replication state as go-libsql keeps it in
// -client_wal_index: the primary log's id (a UUID as a little-endian u128)
// and the last committed frame (MaxUint64 when none).
type meta struct {
	logID [16]byte
	frame uint64
}

func readMeta(path string) (meta, bool) {
	var m meta
	b, err := os.ReadFile(path + "-client_wal_index")
	if err != nil || len(b) < 24 {
		return m, false
	}
	copy(m.logID[:], b[:16])
	m.frame = binary.LittleEndian.Uint64(b[16:24])
	return m, m.frame != math.MaxUint64
}

// primaryState is what the handshake says about the primary.
type primaryState struct {
	logID    [16]byte
	frame    uint64
	hasFrame bool // a primary that never committed has no frame
}

// errNoAnswer marks a handshake that got no answer in time, as opposed to
// one the server answered with an error.
var errNoAnswer = errors.New("no answer")

// hello asks the primary of t for its replication state.
func hello(ctx context.Context, client *http.Client, t Target) (primaryState, error) {
	var st primaryState
	base := primaryURL(t.URL)
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return st, fmt.Errorf("bad URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+helloPath, bytes.NewReader(helloBody))
	if err != nil {
		return st, err
	}
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	req.Header.Set("X-Authorization", "Bearer "+t.Token.Reveal())
	// go-libsql names the database by the host name's first label, as
	// Turso's per-database host names do; "default" without one.
	ns := "default"
	if first, _, ok := strings.Cut(u.Hostname(), "."); ok && first != "" {
		ns = first
	}
	req.Header.Set("X-Namespace-Bin", base64.RawStdEncoding.EncodeToString([]byte(ns)))
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return st, errNoAnswer
		}
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return st, errNoAnswer
		}
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("HTTP %s", resp.Status)
	}
	// A gRPC error comes in the headers (a reply without body) or in the
	// trailer frame.
	if code := resp.Header.Get("Grpc-Status"); code != "" && code != "0" {
		return st, fmt.Errorf("gRPC status %s", code)
	}
	var msg []byte
	gotMsg, status := false, ""
	for len(body) >= 5 {
		flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
		if uint64(n) > uint64(len(body)-5) {
			return st, errors.New("truncated gRPC-web frame")
		}
		frame := body[5 : 5+n]
		body = body[5+n:]
		if flag&0x80 != 0 {
			for _, line := range strings.Split(string(frame), "\r\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "grpc-status") {
					status = strings.TrimSpace(v)
				}
			}
			continue
		}
		msg, gotMsg = frame, true
	}
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	if status != "" && status != "0" {
		return st, fmt.Errorf("gRPC status %s", status)
	}
	if !gotMsg || status != "0" {
		return st, errors.New("incomplete handshake reply")
	}
	return parseHello(msg)
}

// parseHello reads HelloResponse's log_id (3, a UUID string) and
// current_replication_index (5, optional uint64).
func parseHello(msg []byte) (primaryState, error) {
	var st primaryState
	gotLog := false
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return st, errors.New("bad handshake reply")
		}
		msg = msg[n:]
		switch {
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return st, errors.New("bad handshake reply")
			}
			id, err := uuidLE(string(v))
			if err != nil {
				return st, err
			}
			st.logID, gotLog = id, true
			msg = msg[n:]
		case num == 5 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return st, errors.New("bad handshake reply")
			}
			st.frame, st.hasFrame = v, true
			msg = msg[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return st, errors.New("bad handshake reply")
			}
			msg = msg[n:]
		}
	}
	if !gotLog {
		return st, errors.New("handshake reply without a log id")
	}
	return st, nil
}

// uuidLE is a UUID string as libsql stores it in the meta file: the u128
// of its bytes, little-endian.
func uuidLE(s string) ([16]byte, error) {
	var out [16]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return out, fmt.Errorf("handshake reply: log id %s", strconv.Quote(s))
	}
	for i := range b {
		out[i] = b[15-i]
	}
	return out, nil
}

// current reports whether the replica at path already holds everything
// the primary has: same log, same last committed frame. false (with or
// without an error) means only that it is not proven, and a real sync
// must decide.
func current(ctx context.Context, client *http.Client, t Target, path string) (bool, error) {
	m, ok := readMeta(path)
	if !ok {
		return false, nil
	}
	if _, err := os.Stat(path); err != nil {
		return false, nil
	}
	p, err := hello(ctx, client, t)
	if err != nil {
		return false, err
	}
	return p.hasFrame && p.logID == m.logID && p.frame == m.frame, nil
}
