/*
 * state.h - the live state of one group_by: per key, what its windows need.
 *
 * Events (finest tiles) are applied in time order; feat_state_eval() gives
 * every feature of a key as of a time T later than every event applied. Per
 * key and bounded window the state keeps the window's events in a ring and,
 * per input, running aggregates that events enter when applied and leave
 * when the window's tail passes them: a count, an exact sum (accum.h), a
 * monotonic queue for min and max, the position of the last non-null value.
 * Unbounded windows keep running aggregates only. Memory therefore follows
 * the number of keys times the contents of the longest window, not the
 * length of the input.
 *
 * Events are applied a few calls after feat_state_add() (to overlap the
 * cache misses of different keys' states); keys are interned at once, so
 * feat_state_find() and the key count are current, and every function
 * that reads a key's state first applies that key's waiting events
 * (state.c: apply_key; keys' states are independent).
 *
 * Evaluation moves window tails forward, so the times given to
 * feat_state_eval() for one key must not decrease, and each T must be later
 * than every event applied so far (events at or after T wait until after
 * the evaluation).
 */
#ifndef FEAT_STATE_H
#define FEAT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "aggop.h"
#include "hash.h"
#include "value.h"

struct feat_astate;
struct feat_buf;
struct feat_error;
struct feat_group_by;
struct feat_state_key;
struct feat_tile_rec;
struct feat_state_stat;

/* How a feature is kept (see state.c). */
enum feat_fkind {
	FEAT_FK_FAST,		/* running aggregates of an exact or unbounded window */
	FEAT_FK_FOLD,		/* an exact window folded from its events at T */
	FEAT_FK_RUN,		/* an unbounded window's running state */
	FEAT_FK_HOP,		/* a sawtooth window: buckets of one hop */
};

struct feat_state {
	const struct feat_group_by *g;
	struct feat_keymap keys;	/* encoded key -> id */
	struct feat_state_key **per_key;
	size_t per_key_cap;
	struct feat_keymap strings;	/* string values of inputs */
	size_t nwin;			/* distinct bounded windows */
	int64_t *wins;
	/* per input: which aggregates are needed (bit per enum feat_op) */
	unsigned *need_w;		/* [nwin * ninputs] bounded */
	unsigned *need_u;		/* [ninputs] unbounded */
	size_t *feat_win;		/* per feature: window slot, or nwin */
	unsigned char *fkind;		/* per feature: enum feat_fkind */
	size_t *fslot;			/* per feature: its RUN state or HOP slot */
	size_t nrun;			/* RUN states per key */
	size_t nhop;			/* distinct hops */
	int64_t *hops;			/* per hop: its length */
	int64_t *hop_reach;		/* per hop: the longest window with it */
	size_t *hop_nfeat;		/* per hop: features kept in its buckets */
	size_t *hop_feat;		/* per hop, per slot: the feature */
	size_t hop_stride;		/* slots per hop in hop_feat */
	struct feat_astate *scratch;	/* per feature, for folds and merges */
	struct feat_astate *tmp;	/* per aggregation: a decoded record;
					 * set once state records are taken */
	uint64_t *words;		/* the inputs of the event being added */
	struct feat_aggctx ctx;
	size_t entry_words;		/* ring entry: ts, [null mask], inputs */
	uint32_t *rcol;			/* per input: its word in an entry, or 0 */
	int mask_word;			/* entries hold their null mask (state.c) */
	int tword;			/* entries hold their time, else the ring
					 * keeps 32-bit offsets (state.c) */
	uint64_t ring_in;		/* bit per input kept in ring entries */
	struct feat_state_stat *stat;	/* running aggregates of bounded windows */
	size_t nstat;
	size_t *wfirst;			/* per bounded window: its first stat */
	long *ws_at;			/* [nwin * ninputs]: the stat, or -1 */
	long *us_at;			/* per input: its unbounded stat, or -1 */
	size_t nus;
	size_t key_size;		/* a key's fixed block and its parts */
	size_t off_tail, off_ws, off_us, off_run, off_hr;
	/* events not yet applied (state.c: apply_pending) */
	void *pend;
	uint64_t *pend_words;
	unsigned char *pend_types;
	size_t pend_head, npend, pend_depth;
};

/* Prepares an empty state for g. Returns 0, or -1 with err set. */
int feat_state_init(struct feat_state *st, const struct feat_group_by *g,
		    struct feat_error *err);

/* Frees everything. */
void feat_state_release(struct feat_state *st);

/*
 * Applies one event of the encoded key at time ts with the group_by's input
 * values. Times must not decrease across calls. Returns 0, or -1 with err
 * set (out of memory).
 */
int feat_state_add(struct feat_state *st, const void *key, size_t klen,
		   int64_t ts, const struct feat_value *inputs,
		   struct feat_error *err);

/*
 * Prepares the state to take state records (feat_state_merge): unbounded
 * windows then keep whole states. Must come before any event or record;
 * the group_by must allow state tiles (feat_group_by_resolution_ok).
 * Returns 0, or -1 with err set.
 */
int feat_state_tiled(struct feat_state *st, struct feat_error *err);

/*
 * Merges a state record of the encoded key: the encoded states (every
 * aggregation's) of its events in [start, start + resolution), the latest
 * at time last. Records and events come in time order (a record's time is
 * its start). Afterwards the key can be evaluated only at times T after
 * last: feat_state_eval() refuses a T inside the events of a record.
 * Returns 0, or -1 with err set (corrupted states, out of memory).
 */
int feat_state_merge(struct feat_state *st, const void *key, size_t klen,
		     int64_t start, int64_t last, const unsigned char *states,
		     size_t len, struct feat_error *err);

/*
 * Applies a record of the tile stream called name: an event
 * (feat_state_add) or a state record (feat_state_merge). Returns 0, or -1
 * with err set, naming the stream when the record is at fault.
 */
int feat_state_take(struct feat_state *st, const struct feat_tile_rec *rec,
		    const char *name, struct feat_error *err);

/* A hint that rec will be taken soon: asks for the memory that finding
 * its key and its strings reads. No effect on the state. */
void feat_state_prefetch(const struct feat_state *st,
			 const struct feat_tile_rec *rec);

/* The id of an encoded key, or -1 when no event of it has been applied. */
long feat_state_find(const struct feat_state *st, const void *key,
		     size_t klen);

/* Number of keys seen; ids are 0 .. count-1. */
static inline size_t feat_state_nkeys(const struct feat_state *st)
{
	return st->keys.count;
}

/*
 * Writes every feature of key id (or, for id -1, of a key without events)
 * as of time T into out[0 .. g->nfeatures). Strings point into the state
 * and stay valid while it lives; JSON results (lists, maps) are appended
 * to json and point into it, valid until json next changes. Returns 0, or
 * -1 with err set (out of memory).
 */
int feat_state_eval(struct feat_state *st, long id, int64_t T,
		    struct feat_value *out, struct feat_buf *json,
		    struct feat_error *err);

#endif
