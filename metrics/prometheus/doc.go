// Package prometheus exports the events of an smtpd.Server, an
// auth.Checker and a queue as Prometheus metrics (client_golang): make the
// metrics with NewSMTP, NewAuth and NewQueue on a registry, hand their
// hooks to the parts they watch, and serve the registry (promhttp).
// NewQueueCounts adds the number of messages in a queue, asked at each
// scrape.
//
//	reg := prometheus.NewRegistry()
//	srv.Observer = ownprom.NewSMTP(reg).Observer()
//	checker.Checked = ownprom.NewAuth(reg).Checked
//	opts.Observer = ownprom.NewQueue(reg, nil).Observer()
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The metrics, all prefixed ownmx_:
//
//	smtp_connections_total                    counter    connections accepted
//	smtp_connections_open                     gauge      connections being served
//	smtp_connection_duration_seconds          histogram  how long connections lasted
//	smtp_connections_closed_total{reason}     counter    connections ended, by smtpd.CloseReason
//	smtp_replies_total{command,class}         counter    replies, by command answered and class (2xx…5xx)
//	smtp_refusals_total{stage,code}           counter    replies of 400 or more, by stage and code
//	smtp_handler_duration_seconds{stage}      histogram  handler time: CONNECT, MAIL, RCPT, DATA
//	smtp_messages_accepted_total              counter    messages accepted (250 after DATA)
//	smtp_message_size_bytes                   histogram  their sizes (its _sum: the bytes accepted)
//	smtp_message_recipients_total             counter    their recipients
//	auth_results_total{method,result}         counter    spf, dkim (one per signature; none when
//	                                                     unsigned) and dmarc results, as RFC 8601 words
//	auth_verdicts_total{verdict,policy}       counter    verdicts (deliver, quarantine, reject,
//	                                                     defer) and the DMARC policy published
//	                                                     (none, quarantine, reject, or absent)
//	auth_unchecked_total                      counter    messages of trusted clients, not checked
//	queue_tries_total{kind,outcome}           counter    tries of deliveries: delivered, retry, dead
//	queue_try_duration_seconds{kind}          histogram  how long the tries took
//	queue_messages{state}                     gauge      messages waiting, and dead letters, counted
//	                                                     at each scrape (NewQueueCounts)
//
// Labels are bounded: commands are the verbs smtpd names (others are
// "OTHER"), reply classes are "2xx" to "5xx", codes the three digits of a
// reply, reasons, results, verdicts and policies the words of a closed
// set, and a queue's kinds what its kind function makes of its actions.
package prometheus
