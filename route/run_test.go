package route

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store"
)

// named is an action that records its name each time it runs.
type named struct {
	name string
	mu   *sync.Mutex
	ran  *[]string
}

func (n named) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	*n.ran = append(*n.ran, n.name)
	return nil
}

// TestRunDispatch checks that Mux.Run runs the action a delivery names,
// and that a name no route has (any more) is a failure to try again that
// names it.
func TestRunDispatch(t *testing.T) {
	var mu sync.Mutex
	var ran []string
	act := func(name string) Action { return named{name, &mu, &ran} }
	mux := NewMux()
	mux.Handle("orders+*@Example.com", act("orders 1"), act("orders 2"))
	mux.Handle("*@bücher.example", act("bücher"))
	mux.Handle("*", act("everything"))
	m := &queue.Message{ID: "m1", Body: io.NewSectionReader(strings.NewReader(testMessage), 0, int64(len(testMessage)))}
	for _, tc := range []struct{ action, want string }{
		{"orders+*@example.com#1", "orders 1"},
		{"orders+*@example.com#2", "orders 2"},
		{"*@xn--bcher-kva.example#1", "bücher"},
		{"*#1", "everything"},
	} {
		ran = nil
		if err := mux.Run(t.Context(), m, &queue.Attempt{Delivery: queue.Delivery{Action: tc.action}, ID: "m1.0", Number: 1}); err != nil {
			t.Errorf("Run(%q): %v", tc.action, err)
		}
		if !reflect.DeepEqual(ran, []string{tc.want}) {
			t.Errorf("Run(%q) ran %q, want %q", tc.action, ran, tc.want)
		}
		if a, ok := mux.Action(tc.action); !ok || a.(named).name != tc.want {
			t.Errorf("Action(%q) = %v, %v; want %q", tc.action, a, ok, tc.want)
		}
	}
	for _, name := range []string{
		"orders+*@example.com#3",  // an action taken off the list
		"orders+*@example.com#0",  // numbered from 1
		"orders+*@example.com#-1", //
		"orders+*@example.com#x",  //
		"orders+*@example.com#",   //
		"orders+*@example.com",    // no number
		"gone@example.com#1",      // a route removed
		"*@bücher.example#1",      // not the canonical name
		"",                        //
	} {
		ran = nil
		err := mux.Run(t.Context(), m, &queue.Attempt{Delivery: queue.Delivery{Action: name}, ID: "m1.0", Number: 1})
		if err == nil || !strings.Contains(err.Error(), `"`+name+`"`) || queue.IsPermanent(err) || len(ran) != 0 {
			t.Errorf("Run(%q): %v, ran %q; want an error naming it, not permanent, nothing run", name, err, ran)
		}
		if a, ok := mux.Action(name); ok {
			t.Errorf("Action(%q) = %v, want none", name, a)
		}
	}
}

// TestRunAfterCommit sends a message over SMTP, takes what the Mux
// committed and runs each delivery with Mux.Run, as the queue will: the
// Store actions write it to a Maildir and to the recipients' Mailboxes,
// in their Junk folders when a filter quarantined it.
func TestRunAfterCommit(t *testing.T) {
	for _, quarantined := range []bool{false, true} {
		root := t.TempDir()
		boxes := &store.Mailboxes{Root: filepath.Join(root, "boxes"), Domains: []string{"example.com"}, Hostname: "mx"}
		archive := &store.Maildir{Dir: filepath.Join(root, "archive"), Hostname: "mx"}
		mux := &Mux{Now: func() time.Time { return testNow }}
		mux.Handle("*@example.com", Store(boxes), Store(archive))
		mux.Handle("noreply@", Drop)
		rec := &recorder{}
		filter := func(next smtpd.DataHandler) smtpd.DataHandler {
			return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				env.Quarantine = quarantined
				return next.Data(ctx, env, r)
			})
		}
		addr := start(t, mux, rec, filter)
		wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"me@example.com", "you+tag@example.com", "noreply@example.com"}, testMessage), 250, "")
		commits := rec.got()
		if len(commits) != 1 || len(commits[0].deliveries) != 2 {
			t.Fatalf("commits %+v, want one with two deliveries", commits)
		}
		c := commits[0]
		for i, d := range c.deliveries {
			m := &queue.Message{ID: "q1", Envelope: *c.env, Body: io.NewSectionReader(strings.NewReader(c.body), 0, int64(len(c.body)))}
			if err := mux.Run(t.Context(), m, &queue.Attempt{Delivery: d, ID: "q1." + string(rune('0'+i)), Number: 1}); err != nil {
				t.Fatalf("Run(%q): %v", d.Action, err)
			}
		}
		folder := "new"
		if quarantined {
			folder = filepath.Join(store.Junk, "new")
		}
		for _, dir := range []string{"boxes/example.com/me", "boxes/example.com/you", "archive"} {
			got := readMaildir(t, filepath.Join(root, dir, folder))
			if len(got) != 1 {
				t.Errorf("quarantined %v: %s/%s holds %d messages, want 1", quarantined, dir, folder, len(got))
				continue
			}
			wantBody(t, got[0])
			if inbox := filepath.Join(root, dir, "new"); quarantined && len(readMaildir(t, inbox)) != 0 {
				t.Errorf("a quarantined message is in %s", inbox)
			}
		}
	}
}

// readMaildir returns the messages in the folder dir (a new/), none when
// it does not exist.
func readMaildir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(b))
	}
	return msgs
}

// TestStoreAction checks the Store action on its own: it reads the body
// from its start however much of it was read before, gives the store the
// Attempt's recipients and the message's flags, marks a permanent refusal
// of the store Permanent and a temporary one not, and is an
// smtpd.RcptHandler only over a store that is one.
func TestStoreAction(t *testing.T) {
	var got *smtpd.Envelope
	var gotBody string
	var reply error
	s := store.DeliverFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		b, err := io.ReadAll(r)
		got, gotBody = env, string(b)
		if err != nil {
			return err
		}
		return reply
	})
	body := io.NewSectionReader(strings.NewReader(testMessage), 0, int64(len(testMessage)))
	io.CopyN(io.Discard, body, 10) // a reader read before
	m := &queue.Message{ID: "q1", Envelope: queue.Envelope{ID: "T1", From: "alice@example.net", Rcpt: []string{"a@example.com", "b@example.com"}, SMTPUTF8: true, Quarantine: true}, Body: body}
	a := &queue.Attempt{Delivery: queue.Delivery{Action: "x#1", Rcpt: []string{"b@example.com"}}, ID: "q1.0", Number: 1}

	act := Store(s)
	if err := act.Run(t.Context(), m, a); err != nil {
		t.Fatal(err)
	}
	want := &smtpd.Envelope{ID: "T1", From: "alice@example.net", Rcpt: []string{"b@example.com"}, SMTPUTF8: true, Quarantine: true}
	if !reflect.DeepEqual(got, want) || gotBody != testMessage {
		t.Errorf("store got %+v and %q, want %+v and the whole message", got, gotBody, want)
	}

	for _, tc := range []struct {
		err       error
		permanent bool
	}{
		{smtpd.ErrNoSuchUser, true},
		{store.ErrMailboxLimit, false},
		{errors.New("disk full"), false},
	} {
		reply = tc.err
		err := act.Run(t.Context(), m, a)
		if !errors.Is(err, tc.err) || queue.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), "b@example.com") {
			t.Errorf("store failing with %v: Run = %v, permanent %v; want it wrapped, permanent %v, naming the recipient", tc.err, err, queue.IsPermanent(err), tc.permanent)
		}
	}

	if _, ok := act.(smtpd.RcptHandler); ok {
		t.Errorf("Store over a DeliverFunc is an smtpd.RcptHandler")
	}
	boxes := &store.Mailboxes{Root: t.TempDir(), Users: []string{"me"}}
	h, ok := Store(boxes).(smtpd.RcptHandler)
	if !ok {
		t.Fatalf("Store over Mailboxes is not an smtpd.RcptHandler")
	}
	if err := h.Rcpt(t.Context(), &smtpd.Envelope{}, "me@example.com"); err != nil {
		t.Errorf("Rcpt(me): %v", err)
	}
	if err := h.Rcpt(t.Context(), &smtpd.Envelope{}, "you@example.com"); !errors.Is(err, smtpd.ErrNoSuchUser) {
		t.Errorf("Rcpt(you): %v, want ErrNoSuchUser", err)
	}
	// A mailbox removed since the message was queued: permanent.
	a.Rcpt = []string{"you@example.com"}
	if err := Store(boxes).Run(t.Context(), m, a); !queue.IsPermanent(err) {
		t.Errorf("Mailboxes refusing an unknown user: %v, want a permanent failure", err)
	}
	if err := Drop.Run(t.Context(), m, a); err != nil {
		t.Errorf("Drop: %v", err)
	}
}
