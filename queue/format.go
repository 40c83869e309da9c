package queue

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The files of a message.
//
// A message file holds one line of JSON (a header: the envelope, the
// deliveries and the commit time) and then the message as received. It is
// written once and never changed; it moves between queue/ and dead/.
//
// Its state file, ID.state beside it, holds one JSON object: when the
// message's lifetime began and, per delivery, its state, tries, next try
// and last error. It is absent until the first try ends (every delivery
// is then pending and due), and it is replaced as a whole, through a file
// in tmp/ renamed over it.

// Directories of a queue, under its root.
const (
	tmpDir   = "tmp"
	queueDir = "queue"
	deadDir  = "dead"
	lockFile = "lock"
	kickFile = "kick"
	stateExt = ".state"
)

// State is where a delivery stands.
type State string

// The states of a delivery.
const (
	// Pending deliveries are waiting for their next try.
	Pending State = "pending"
	// Done deliveries were confirmed by their Runner; they never run again.
	Done State = "done"
	// Dead deliveries failed permanently or outlived the queue's lifetime.
	Dead State = "dead"
)

// header is the first line of a message file.
type header struct {
	Committed  time.Time  `json:"committed"`
	Envelope   Envelope   `json:"envelope"`
	Deliveries []Delivery `json:"deliveries"`
}

// state is the content of a state file.
type state struct {
	// Since is when the lifetime began: the commit, or the last replay.
	Since      time.Time       `json:"since"`
	Deliveries []deliveryState `json:"deliveries"`
}

// deliveryState is where one delivery stands.
type deliveryState struct {
	State State `json:"state"`
	// Tries counts the tries that ended (a cut-off try is not counted).
	Tries int `json:"tries"`
	// Failures counts the failed tries since the commit or the last
	// replay; the backoff grows with it.
	Failures int `json:"failures"`
	// Next is the earliest time of the next try; zero means now.
	Next time.Time `json:"next,omitzero"`
	// Error is the last failure's text, or the reason of a dead delivery.
	Error string `json:"error,omitempty"`
}

// initialState is the state of a message that no try has ended for.
func initialState(h *header) *state {
	st := &state{Since: h.Committed, Deliveries: make([]deliveryState, len(h.Deliveries))}
	for i := range st.Deliveries {
		st.Deliveries[i].State = Pending
	}
	return st
}

// due returns when the earliest pending delivery is due, and whether any
// is pending.
func (st *state) due() (time.Time, bool) {
	var first time.Time
	pending := false
	for _, d := range st.Deliveries {
		if d.State == Pending && (!pending || d.Next.Before(first)) {
			first, pending = d.Next, true
		}
	}
	return first, pending
}

// anyDead reports whether some delivery is dead.
func (st *state) anyDead() bool {
	for _, d := range st.Deliveries {
		if d.State == Dead {
			return true
		}
	}
	return false
}

// maxHeader bounds a message file's header line.
const maxHeader = 16 << 20

// readHeader reads the header of the open message file f and returns it
// with the offset and size of the message that follows it.
func readHeader(f *os.File) (h *header, off, size int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	br := bufio.NewReader(io.NewSectionReader(f, 0, min(fi.Size(), maxHeader)))
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, 0, 0, fmt.Errorf("queue: message file %s has no header line: %w", f.Name(), err)
	}
	h = new(header)
	if err := json.Unmarshal(line, h); err != nil {
		return nil, 0, 0, fmt.Errorf("queue: message file %s: header: %w", f.Name(), err)
	}
	off = int64(len(line))
	return h, off, fi.Size() - off, nil
}

// readState reads the state file of message id in the directory dir; nil
// with no error when there is none.
func readState(dir, id string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, id+stateExt))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st := new(state)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("queue: state file %s: %w", filepath.Join(dir, id+stateExt), err)
	}
	return st, nil
}

// loadState reads message id's state in dir, or makes the initial one from
// h when there is no state file; it fails when the file does not match h.
func loadState(dir, id string, h *header) (*state, error) {
	st, err := readState(dir, id)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return initialState(h), nil
	}
	if len(st.Deliveries) != len(h.Deliveries) {
		return nil, fmt.Errorf("queue: state file of %s has %d deliveries, its message %d", id, len(st.Deliveries), len(h.Deliveries))
	}
	return st, nil
}

// writeState replaces the state file of message id in root/dir with st,
// through tmp/. The file's data reaches the disk before the rename, so the
// state file holds either the old state or the new one whole, whatever
// happens; sync also flushes dir so that the new one survives a crash.
func writeState(root, dir, id string, st *state, sync func(dir string) error, noSync bool) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(root, tmpDir, id+stateExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && !noSync {
		err = datasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(root, dir, id+stateExt))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("queue: writing the state of %s: %w", id, err)
	}
	if sync != nil && !noSync {
		return sync(dir)
	}
	return nil
}
