/*-------------------------------------------------------------------------
 *
 * queue.h
 *		Job queues (queue.c): what other concerns call in C.
 *
 * The periodic schedules enqueue their due periods through
 * queue_enqueue_job(), in the caller's transaction, with the same checks,
 * dedup and wakeups as resilience.enqueue().  It connects to SPI itself
 * (nested inside the caller's connection if there is one).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_QUEUE_H
#define RESILIENCE_QUEUE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* One job to enqueue; NULL pointers and has_run_at = false take the defaults. */
typedef struct QueueEnqueueRequest
{
	const char *queue;			/* required, an existing queue */
	Jsonb	   *payload;		/* NULL: '{}'; else a JSON object */
	bool		has_run_at;
	TimestampTz run_at;			/* if has_run_at; else now */
	int32		priority;		/* higher first; default 0 */
	const char *dedup_key;		/* NULL: none */
	int32		max_attempts;	/* >= 1; default 25 */
	const char *group_key;		/* NULL: none */
} QueueEnqueueRequest;

/* Set *req to the defaults of resilience.enqueue() for queue. */
extern void queue_enqueue_request_init(QueueEnqueueRequest *req,
									   const char *queue);

/*
 * Enqueue one job; its id (with a dedup_key, the unfinished job's of that
 * key if there is one).  ERROR as resilience.enqueue() on bad input.
 */
extern int64 queue_enqueue_job(const QueueEnqueueRequest *req);

/* _PG_init: define the queue settings. */
extern void queue_define_gucs(void);

/*
 * 22023 (with a hint) if queue is longer than a queue name may be: for
 * other modules that take a queue's name (schedules) before any lookup.
 */
extern void queue_check_name_length(const char *queue);

#endif							/* RESILIENCE_QUEUE_H */
