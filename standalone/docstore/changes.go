package docstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The changes feed. Each write takes the database's next sequence number;
// s\0db\0<seq> names the document changed at seq and q\0db holds the last
// sequence. A document's older entry is removed when it changes again, so
// the feed lists each document once, at its latest change, as CouchDB's.
// Documents written before the feed existed have no entry.
func lastSeqKey(db string) []byte   { return []byte("q\x00" + db) }
func changePrefix(db string) []byte { return []byte("s\x00" + db + "\x00") }
func changeKey(db string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(changePrefix(db), seq)
}

// lastSeq is the database's last sequence; callers hold s.mu for writes.
func (s *Store) lastSeq(db string) (uint64, error) {
	v, c, err := s.db.Get(lastSeqKey(db))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if len(v) != 8 {
		return 0, errors.New("docstore: corrupt sequence")
	}
	return binary.BigEndian.Uint64(v), nil
}

// recordChange adds the change of id at the next sequence to b, dropping
// the document's previous entry; it returns the sequence.
func (s *Store) recordChange(b *pebble.Batch, db, id string, prev *record) (uint64, error) {
	seq, err := s.lastSeq(db)
	if err != nil {
		return 0, err
	}
	seq++
	if err := b.Set(lastSeqKey(db), binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
		return 0, err
	}
	if prev != nil && prev.Seq != 0 {
		if err := b.Delete(changeKey(db, prev.Seq), nil); err != nil {
			return 0, err
		}
	}
	return seq, b.Set(changeKey(db, seq), []byte(id), nil)
}

// notify wakes the long polls.
func (s *Store) notify() {
	s.changeMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changeMu.Unlock()
}

func (s *Store) changeSignal() <-chan struct{} {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.changed
}

// Change is one entry of the changes feed.
type Change struct {
	Seq     uint64
	ID      string
	Rev     string
	Deleted bool
}

// Changes lists the changes after since, oldest first, at most limit (all
// when limit <= 0), and the database's last sequence.
func (s *Store) Changes(db string, since uint64, limit int) ([]Change, uint64, error) {
	if !s.hasDB(db) {
		return nil, 0, errNoDB
	}
	last, err := s.lastSeq(db)
	if err != nil {
		return nil, 0, err
	}
	var out []Change
	p := changePrefix(db)
	err = s.scan(changeKey(db, since+1), prefixEnd(p), false, func(k, v []byte) (bool, error) {
		seq := binary.BigEndian.Uint64(k[len(p):])
		rec, err := s.load(db, string(v))
		if err != nil || rec == nil || rec.Seq != seq {
			return err == nil, err // superseded between the scan and the load
		}
		out = append(out, Change{Seq: seq, ID: string(v), Rev: rec.Rev, Deleted: rec.Deleted})
		return limit <= 0 || len(out) < limit, nil
	})
	return out, last, err
}

// maxLongPoll bounds a long poll's wait, whatever timeout it asks for.
const maxLongPoll = 5 * time.Minute

// serveChanges is GET or POST /{db}/_changes with feed=normal or longpoll,
// since (a number or "now"), limit, include_docs and timeout (ms).
func (s *Store) serveChanges(w http.ResponseWriter, r *http.Request, db string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return &Error{405, "method_not_allowed", "Only GET,POST allowed"}
	}
	p, err := queryParams(r)
	if err != nil {
		return err
	}
	feed := "normal"
	if v, ok := p["feed"]; ok {
		_ = json.Unmarshal(v, &feed)
	}
	if feed != "normal" && feed != "longpoll" && feed != "continuous" {
		return badRequest("feed=" + feed + " is not supported; use normal, longpoll or continuous")
	}
	var since uint64
	if v, ok := p["since"]; ok {
		text := strings.Trim(string(v), `"`)
		if text == "now" {
			if since, err = s.lastSeq(db); err != nil {
				return err
			}
		} else if since, err = strconv.ParseUint(text, 10, 64); err != nil {
			return badRequest("Malformed sequence supplied in 'since' parameter.")
		}
	}
	limit, err := intParam(p, "limit", 0)
	if err != nil {
		return err
	}
	timeout, err := intParam(p, "timeout", 60000)
	if err != nil {
		return err
	}
	wait := min(time.Duration(timeout)*time.Millisecond, maxLongPoll)
	if feed == "continuous" {
		return s.serveContinuous(w, r, db, since, limit, wait, p)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		signal := s.changeSignal() // before reading, so no write is missed
		changes, last, err := s.Changes(db, since, limit)
		if err != nil {
			return err
		}
		if len(changes) > 0 || feed == "normal" {
			return s.writeChanges(w, db, changes, max(last, since), boolParam(p, "include_docs", false))
		}
		select {
		case <-signal:
		case <-deadline.C:
			return s.writeChanges(w, db, nil, max(last, since), false)
		case <-r.Context().Done():
			return nil
		}
	}
}

// serveContinuous is feed=continuous: one change per line as they come,
// a blank line every heartbeat (ms, or true for 60 s) while none do, and
// without a heartbeat a last line {"last_seq":N} once timeout passes with
// no change, as CouchDB does. Documents are not included.
func (s *Store) serveContinuous(w http.ResponseWriter, r *http.Request, db string, since uint64, limit int, timeout time.Duration, p map[string]json.RawMessage) error {
	var heartbeat time.Duration
	if v, ok := p["heartbeat"]; ok {
		if string(v) == "true" || string(v) == `"true"` {
			heartbeat = 60 * time.Second
		} else {
			ms, err := intParam(p, "heartbeat", 0)
			if err != nil {
				return err
			}
			heartbeat = time.Duration(max(ms, 100)) * time.Millisecond
		}
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	type rev struct {
		Rev string `json:"rev"`
	}
	sent := 0
	tick := timeout
	if heartbeat > 0 {
		tick = heartbeat
	}
	timer := time.NewTimer(tick)
	defer timer.Stop()
	for {
		// The server's write timeout would cut a feed that is meant to
		// stay open; each write moves it on.
		_ = rc.SetWriteDeadline(time.Now().Add(tick + 30*time.Second))
		signal := s.changeSignal()
		changes, _, err := s.Changes(db, since, limit-sent)
		if err != nil {
			return nil // the status line is sent: end the feed
		}
		for _, c := range changes {
			line, _ := json.Marshal(struct {
				Seq     uint64 `json:"seq"`
				ID      string `json:"id"`
				Changes []rev  `json:"changes"`
				Deleted bool   `json:"deleted,omitempty"`
			}{c.Seq, c.ID, []rev{{c.Rev}}, c.Deleted})
			if _, err := w.Write(append(line, '\n')); err != nil {
				return nil
			}
			since = c.Seq
			sent++
		}
		if len(changes) > 0 {
			_ = rc.Flush()
			if limit > 0 && sent >= limit {
				return endContinuous(w, since)
			}
			continue
		}
		select {
		case <-signal:
		case <-timer.C:
			if heartbeat == 0 {
				return endContinuous(w, since)
			}
			if _, err := w.Write([]byte("\n")); err != nil {
				return nil
			}
			_ = rc.Flush()
			timer.Reset(tick)
		case <-r.Context().Done():
			return nil
		}
	}
}

// endContinuous writes a continuous feed's last line.
func endContinuous(w http.ResponseWriter, last uint64) error {
	_, _ = w.Write([]byte(`{"last_seq":` + strconv.FormatUint(last, 10) + "}\n"))
	return nil
}

func (s *Store) writeChanges(w http.ResponseWriter, db string, changes []Change, last uint64, docs bool) error {
	type rev struct {
		Rev string `json:"rev"`
	}
	type result struct {
		Seq     uint64          `json:"seq"`
		ID      string          `json:"id"`
		Changes []rev           `json:"changes"`
		Deleted bool            `json:"deleted,omitempty"`
		Doc     json.RawMessage `json:"doc,omitempty"`
	}
	results := make([]result, 0, len(changes))
	for _, c := range changes {
		res := result{Seq: c.Seq, ID: c.ID, Changes: []rev{{c.Rev}}, Deleted: c.Deleted}
		if docs {
			// The latest revision: the document may have changed since.
			d, err := s.Get(db, c.ID, "")
			if errors.Is(err, errDeleted) {
				d, err = &Doc{ID: c.ID, Rev: c.Rev, Deleted: true}, nil
			}
			if err != nil {
				return err
			}
			if res.Doc, err = renderDoc(s, db, d, false); err != nil {
				return err
			}
		}
		results = append(results, res)
	}
	if len(changes) > 0 {
		// The last one listed, not the database's: with a limit, the
		// next poll starts after what this one returned.
		last = changes[len(changes)-1].Seq
	}
	writeJSON(w, 200, map[string]any{"results": results, "last_seq": last, "pending": 0})
	return nil
}
