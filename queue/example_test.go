package queue_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ownmx/ownmx/queue"
)

// A queue commits a message for two actions, and runs them: the Runner
// looks each action up by name.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "queue-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	q, err := queue.Open(filepath.Join(dir, "queue"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan string)
	runner := queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
		body, err := io.ReadAll(m.Body)
		if err != nil {
			return err // tried again later
		}
		ran <- fmt.Sprintf("%s for %v: %q", a.Action, a.Rcpt, body)
		return nil // done: never run again
	})
	stopped := make(chan error)
	go func() { stopped <- q.Run(ctx, runner) }()

	env := &queue.Envelope{From: "alice@example.org", Rcpt: []string{"me@example.com", "shop@example.com"}}
	deliveries := []queue.Delivery{
		{Action: "inbox", Rcpt: []string{"me@example.com"}},
		{Action: "webhook", Rcpt: []string{"shop@example.com"}},
	}
	if _, err := q.Add(ctx, env, deliveries, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		log.Fatal(err) // answer 451: nothing was kept
	}
	// The message is on disk: answer 250.

	got := []string{<-ran, <-ran}
	if got[0] > got[1] {
		got[0], got[1] = got[1], got[0]
	}
	fmt.Println(got[0])
	fmt.Println(got[1])
	cancel()
	<-stopped
	// Output:
	// inbox for [me@example.com]: "Subject: hi\r\n\r\nhello\r\n"
	// webhook for [shop@example.com]: "Subject: hi\r\n\r\nhello\r\n"
}
