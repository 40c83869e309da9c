package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/webhook"
)

// A receiver checks each webhook with Verify before it trusts the body,
// then decodes it. The body must be the bytes received: decode it only
// after Verify.
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the sender's, from its configuration

	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(r.Header, body, secret); err != nil {
			// A 4xx makes the sender give up on this message; a 503
			// would keep it queued while a wrong secret is mended.
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "not a message.received payload", http.StatusBadRequest)
			return
		}
		// A retry carries the same webhook-id: handle each one once.
		fmt.Printf("%s: mail from %s to %v: %q\n",
			r.Header.Get("webhook-id"), p.Data.Envelope.MailFrom, p.Data.Envelope.RcptTo, p.Data.Message.Subject)
		w.WriteHeader(http.StatusNoContent)
	}

	// The sender's side, as the queue runs it.
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	raw := "From: Alice <alice@sender.example>\r\nSubject: Hello\r\n\r\nHi Bob\r\n"
	m := &queue.Message{
		ID:       "m1",
		Envelope: queue.Envelope{From: "alice@sender.example", Rcpt: []string{"bob@example.com"}},
		Body:     io.NewSectionReader(strings.NewReader(raw), 0, int64(len(raw))),
	}
	e := &webhook.Endpoint{URL: srv.URL, Secrets: []string{secret}}
	err := e.Run(context.Background(), m, &queue.Attempt{ID: "m1.0", Delivery: queue.Delivery{Rcpt: m.Envelope.Rcpt}})
	fmt.Println("Run:", err)

	// Another secret does not pass.
	e.Secrets = []string{webhook.NewSecret()}
	err = e.Run(context.Background(), m, &queue.Attempt{ID: "m1.0", Delivery: queue.Delivery{Rcpt: m.Envelope.Rcpt}})
	fmt.Println("permanent:", queue.IsPermanent(err))
	// Output:
	// m1.0: mail from alice@sender.example to [bob@example.com]: "Hello"
	// Run: <nil>
	// permanent: true
}
