package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ownmx/ownmx/queue"
	queuepg "github.com/ownmx/ownmx/queue/postgres"
)

// queueUsage is the usage of "inbox queue".
const queueUsage = `usage: inbox queue [-queue DIR | -maildir DIR | -postgres URL] COMMAND
commands:
  list          the messages waiting, with each delivery's state
  dead          the dead letters, with the reason
  retry ID|all  try the waiting deliveries of a message (or of all) now
  replay ID     put a dead letter back in the queue, its lifetime restarted
  delete ID     remove a message, waiting or dead
`

// runQueueCommand runs "inbox queue ARGS" and returns the exit status. It
// works on the queue's directory, whether or not an inbox is running on
// it: a running inbox notices a change within a second.
func runQueueCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inbox queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, queueUsage); fs.PrintDefaults() }
	dir := fs.String("queue", "", "the queue `directory` (default: .queue under -maildir)")
	maildir := fs.String("maildir", "./mail", "the inbox's -maildir, whose .queue is the queue")
	pgURL := fs.String("postgres", "", "the inbox's -postgres `URL`, whose database holds the queue")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dir == "" {
		*dir = filepath.Join(*maildir, queueDir)
	}
	cmd, rest := fs.Arg(0), fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	wantArgs := map[string]int{"list": 0, "dead": 0, "retry": 1, "replay": 1, "delete": 1}
	n, ok := wantArgs[cmd]
	if !ok || len(rest) != n {
		fmt.Fprint(stderr, queueUsage)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, closeAdmin, err := openAdmin(ctx, *dir, *pgURL)
	if err != nil {
		fmt.Fprintf(stderr, "inbox queue: %v\n", err)
		return 1
	}
	defer closeAdmin()
	switch cmd {
	case "list", "dead":
		list := a.List
		if cmd == "dead" {
			list = a.Dead
		}
		infos, err := list(ctx)
		if err == nil {
			printQueue(stdout, infos, time.Now())
		}
		return status(stderr, err)
	case "retry":
		if rest[0] == "all" {
			return status(stderr, a.RetryAll(ctx))
		}
		return status(stderr, a.Retry(ctx, rest[0]))
	case "replay":
		return status(stderr, a.Replay(ctx, rest[0]))
	default: // delete
		return status(stderr, a.Delete(ctx, rest[0]))
	}
}

// admin is what "inbox queue" does to a queue, on disk or in PostgreSQL.
type admin interface {
	List(ctx context.Context) ([]queue.Info, error)
	Dead(ctx context.Context) ([]queue.Info, error)
	Retry(ctx context.Context, id string) error
	RetryAll(ctx context.Context) error
	Replay(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
}

// openAdmin opens the admin of the queue in PostgreSQL at pgURL, or else
// of the queue in dir, and returns what closes it.
func openAdmin(ctx context.Context, dir, pgURL string) (admin, func(), error) {
	if pgURL != "" {
		q, err := queuepg.Open(ctx, pgURL, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("-postgres %s: %w", redacted(pgURL), err)
		}
		return q.Admin(), func() { q.Close() }, nil
	}
	a, err := queue.OpenAdmin(dir)
	if err != nil {
		return nil, nil, err
	}
	return localAdmin{a}, func() {}, nil
}

// localAdmin is the admin of a queue on disk, whose listings need no
// context.
type localAdmin struct{ *queue.Admin }

func (a localAdmin) List(context.Context) ([]queue.Info, error) { return a.Admin.List() }
func (a localAdmin) Dead(context.Context) ([]queue.Info, error) { return a.Admin.Dead() }

// status reports err, if any, and returns the exit status.
func status(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "inbox queue: %v\n", err)
		return 1
	}
	return 0
}

// printQueue writes one paragraph per message: its ID, when it came, its
// size and sender, then a line per delivery with its recipients, state,
// tries, next try and last error.
func printQueue(w io.Writer, infos []queue.Info, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, m := range infos {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d bytes\tfrom <%s>\n", m.ID, m.Received.UTC().Format(time.RFC3339), m.Size, m.From)
		for _, d := range m.Deliveries {
			line := fmt.Sprintf("  %s\t%s\t%s\ttries %d", d.Action, strings.Join(d.Rcpt, ","), d.State, d.Tries)
			if d.State == queue.Pending && d.Next.After(now) {
				line += ", next in " + d.Next.Sub(now).Round(time.Second).String()
			}
			if d.Error != "" {
				line += ": " + oneLine(d.Error)
			}
			fmt.Fprintln(tw, line)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d messages\n", len(infos))
}

// oneLine keeps an error's text on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
