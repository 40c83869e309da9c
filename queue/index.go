package queue

import (
	"cmp"
	"math"
	"slices"
)

// The schedule in memory.
//
// A waiting message costs the process one entry in byID and, while it is
// scheduled, one or two in heap: 16 bytes each, no pointers, so that the
// garbage collector has nothing to scan and 100,000 waiting messages cost
// a few MiB. Everything else about a message (its envelope, its deliveries'
// states) stays on disk and is read when the message is due.

// entry is one waiting message: its ID and when it is next due.
type entry struct {
	id  uint64 // the message's ID as a number (see formatID)
	due int64  // Unix nanoseconds; dueRunning or dueRemoved
}

const (
	// dueRunning marks a message that a job is running now.
	dueRunning = math.MaxInt64
	// dueRemoved marks a hole in byID, left until the next compaction.
	dueRemoved = math.MinInt64
)

// schedule holds the waiting messages, sorted by ID for lookups, and a
// min-heap by due time for the scheduler. A heap entry whose due differs
// from its message's in byID is stale and is dropped when it comes to the
// top: updates push a new entry rather than search the heap.
type schedule struct {
	byID []entry // sorted by id; holes have due == dueRemoved
	live int     // entries of byID that are not holes
	heap []entry // min-heap by due
}

// find returns the position of id in byID, or where it would go.
func (s *schedule) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(s.byID, id, func(e entry, id uint64) int { return cmp.Compare(e.id, id) })
}

// len returns the number of waiting messages, running ones included.
func (s *schedule) len() int { return s.live }

// set makes id due at due (or running, with dueRunning), adding it if it
// is not there.
func (s *schedule) set(id uint64, due int64) {
	i, ok := s.find(id)
	switch {
	case !ok:
		s.byID = slices.Insert(s.byID, i, entry{id, due})
		s.live++
	case s.byID[i].due == dueRemoved:
		s.byID[i].due = due
		s.live++
	default:
		s.byID[i].due = due
	}
	if due != dueRunning {
		s.push(entry{id, due})
	}
	s.compact()
}

// remove forgets id.
func (s *schedule) remove(id uint64) {
	if i, ok := s.find(id); ok && s.byID[i].due != dueRemoved {
		s.byID[i].due = dueRemoved
		s.live--
		s.compact()
	}
}

// state returns id's due time, and whether it is waiting.
func (s *schedule) state(id uint64) (int64, bool) {
	if i, ok := s.find(id); ok && s.byID[i].due != dueRemoved {
		return s.byID[i].due, true
	}
	return 0, false
}

// first returns the message due soonest that is not running, dropping
// the stale heap entries above it.
func (s *schedule) first() (entry, bool) {
	for len(s.heap) > 0 {
		top := s.heap[0]
		if due, ok := s.state(top.id); ok && due == top.due {
			return top, true
		}
		s.pop()
	}
	return entry{}, false
}

// take marks the message that first returned as running.
func (s *schedule) take(e entry) {
	s.pop()
	if i, ok := s.find(e.id); ok {
		s.byID[i].due = dueRunning
	}
}

// compact drops the holes of byID once they outnumber the live entries,
// and rebuilds the heap once stale entries make up most of it, each into
// a slice of the exact size, so that neither grows past twice what the
// waiting messages need.
func (s *schedule) compact() {
	if holes := len(s.byID) - s.live; holes > 64 && holes > s.live {
		kept := make([]entry, 0, s.live+s.live/8)
		for _, e := range s.byID {
			if e.due != dueRemoved {
				kept = append(kept, e)
			}
		}
		s.byID = kept
	}
	if len(s.heap) > 64 && len(s.heap) > 2*s.live {
		h := make([]entry, 0, s.live+s.live/8)
		for _, e := range s.byID {
			if e.due != dueRemoved && e.due != dueRunning {
				h = append(h, e)
			}
		}
		s.heap = h
		for i := len(h)/2 - 1; i >= 0; i-- {
			s.down(i)
		}
	}
}

// push adds e to the heap.
func (s *schedule) push(e entry) {
	s.heap = append(s.heap, e)
	i := len(s.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s.heap[p].due <= s.heap[i].due {
			break
		}
		s.heap[p], s.heap[i] = s.heap[i], s.heap[p]
		i = p
	}
}

// pop removes the heap's top.
func (s *schedule) pop() {
	n := len(s.heap) - 1
	s.heap[0] = s.heap[n]
	s.heap = s.heap[:n]
	if n > 0 {
		s.down(0)
	}
}

// down moves heap[i] down to its place.
func (s *schedule) down(i int) {
	h := s.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].due < h[l].due {
			m = r
		}
		if h[i].due <= h[m].due {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
