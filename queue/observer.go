package queue

import "time"

// Observer receives the events of a running queue, for metrics. Each field
// is optional. The functions run on the queue's goroutines, several at
// once: they must be safe for concurrent use and quick. Every queue
// (Queue, queue/postgres) calls them alike.
type Observer struct {
	// Tried is called once for each try of a delivery whose result the
	// queue has taken in, with the delivery's action name
	// (Attempt.Action), how long the Runner took, and where the delivery
	// stands after it: Done (the try succeeded), Pending (it failed and
	// will be tried again) or Dead (it failed for good: a dead letter).
	// A try cut off by Run's end does not count and is not reported.
	Tried func(action string, d time.Duration, state State)
}

// ObserveTry reports a try to o, if o has a Tried; o may be nil.
func (o *Observer) ObserveTry(action string, d time.Duration, state State) {
	if o != nil && o.Tried != nil {
		o.Tried(action, d, state)
	}
}
