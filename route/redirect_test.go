package route

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// redirect is a Redirector to target; local false makes it run as itself.
type redirect struct {
	target string
	local  bool
}

func (redirect) Run(context.Context, *queue.Message, *queue.Attempt) error { return nil }
func (r redirect) Redirect() (string, bool)                                { return r.target, r.local }

// decliner is a QuarantineDecliner.
type decliner struct{ declines bool }

func (decliner) Run(context.Context, *queue.Message, *queue.Attempt) error { return nil }
func (d decliner) DeclinesQuarantine() bool                                { return d.declines }

// TestDeliveries checks the deliveries committed for recipients, with
// Redirectors and QuarantineDecliners among the actions.
func TestDeliveries(t *testing.T) {
	type d = queue.Delivery
	for _, tc := range []struct {
		name       string
		routes     map[string][]Action
		rcpt       []string
		quarantine bool
		want       []d
		err        string
	}{
		{
			name: "a redirect is its target's actions",
			routes: map[string][]Action{
				"me@example.com":    {nop, redirect{"other@example.com", true}},
				"other@example.com": {nop, nop},
			},
			rcpt: []string{"me@example.com"},
			want: []d{
				{Action: "me@example.com#1", Rcpt: []string{"me@example.com"}},
				{Action: "other@example.com#1", Rcpt: []string{"other@example.com"}},
				{Action: "other@example.com#2", Rcpt: []string{"other@example.com"}},
			},
		},
		{
			name: "two aliases of one target and the target itself: one delivery, the target once",
			routes: map[string][]Action{
				"a@example.com":  {redirect{"me@example.com", true}},
				"b@example.com":  {redirect{"me@example.com", true}},
				"me@example.com": {nop},
			},
			rcpt: []string{"a@example.com", "b@example.com", "me@example.com"},
			want: []d{{Action: "me@example.com#1", Rcpt: []string{"me@example.com"}}},
		},
		{
			name: "a chain of redirects",
			routes: map[string][]Action{
				"a@example.com": {redirect{"b@example.com", true}},
				"b@example.com": {redirect{"c@example.org", true}},
				"*@example.org": {nop},
			},
			rcpt: []string{"a@example.com"},
			want: []d{{Action: "*@example.org#1", Rcpt: []string{"c@example.org"}}},
		},
		{
			name:   "a loop",
			routes: map[string][]Action{"a@example.com": {redirect{"b@example.com", true}}, "b@example.com": {redirect{"a@example.com", true}}},
			rcpt:   []string{"a@example.com"},
			err:    "loop",
		},
		{
			name:   "a redirect to itself",
			routes: map[string][]Action{"a@example.com": {redirect{"a@example.com", true}}},
			rcpt:   []string{"a@example.com"},
			err:    "loop",
		},
		{
			name:   "a target that matches no route",
			routes: map[string][]Action{"a@example.com": {redirect{"nobody@example.org", true}}},
			rcpt:   []string{"a@example.com"},
			err:    `"nobody@example.org", which matches no route`,
		},
		{
			name:   "a redirect that runs as itself",
			routes: map[string][]Action{"a@example.com": {redirect{"me@elsewhere.example", false}}},
			rcpt:   []string{"a@example.com"},
			want:   []d{{Action: "a@example.com#1", Rcpt: []string{"a@example.com"}}},
		},
		{
			name:       "quarantined: a decliner beside a store is left out",
			routes:     map[string][]Action{"a@example.com": {nop, decliner{true}}},
			rcpt:       []string{"a@example.com"},
			quarantine: true,
			want:       []d{{Action: "a@example.com#1", Rcpt: []string{"a@example.com"}}},
		},
		{
			name:       "quarantined: a decliner alone is committed, to decline it",
			routes:     map[string][]Action{"a@example.com": {decliner{true}, Drop}},
			rcpt:       []string{"a@example.com"},
			quarantine: true,
			want:       []d{{Action: "a@example.com#1", Rcpt: []string{"a@example.com"}}},
		},
		{
			name:       "quarantined: a decliner that does not decline stays",
			routes:     map[string][]Action{"a@example.com": {nop, decliner{false}}},
			rcpt:       []string{"a@example.com"},
			quarantine: true,
			want:       []d{{Action: "a@example.com#1", Rcpt: []string{"a@example.com"}}, {Action: "a@example.com#2", Rcpt: []string{"a@example.com"}}},
		},
		{
			name:   "not quarantined: the decliner runs",
			routes: map[string][]Action{"a@example.com": {nop, decliner{true}}},
			rcpt:   []string{"a@example.com"},
			want:   []d{{Action: "a@example.com#1", Rcpt: []string{"a@example.com"}}, {Action: "a@example.com#2", Rcpt: []string{"a@example.com"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := NewMux()
			for p, actions := range tc.routes {
				mux.Handle(p, actions...)
			}
			groups, err := mux.group(tc.rcpt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mux.deliveries(groups, tc.quarantine)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("deliveries: %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("deliveries: %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestRedirectLoopDefers sends a message to an alias that loops: the
// client hears 451 4.3.0 and nothing is committed.
func TestRedirectLoopDefers(t *testing.T) {
	mux := NewMux()
	mux.Handle("a@example.com", redirect{"b@example.com", true})
	mux.Handle("b@example.com", redirect{"a@example.com", true})
	rec := &recorder{}
	addr := start(t, mux, rec)
	wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"a@example.com"}, testMessage), 451, "4.3.0")
	if n := len(rec.got()); n != 0 {
		t.Errorf("%d commits, want none", n)
	}
}
