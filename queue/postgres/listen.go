package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenRetry bounds the waits between two attempts at listening, which
// double from the first.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// listen wakes Run at each notification on the queue's channel, until ctx
// is done, on a connection of its own (outside the pool, so that it takes
// no worker's place). When the connection breaks it connects again, and
// wakes Run then too, for the notifications it may have missed.
func (q *Queue) listen(ctx context.Context) {
	wait := listenRetryMin
	for {
		err := q.listenOnce(ctx, func() { wait = listenRetryMin })
		if ctx.Err() != nil {
			return
		}
		q.opts.Logger.Debug("queue/postgres: listening for notifications", "worker", q.opts.Name, "err", err, "retry", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// listenOnce connects, listens, calls listening, and wakes Run at each
// notification until the connection fails or ctx is done.
func (q *Queue) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, q.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(closeCtx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	listening()
	if q.listening != nil {
		q.listening()
	}
	q.wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		q.wake()
	}
}
