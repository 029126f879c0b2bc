/*
 * record.h: the record protocol between a trainer and the daemon, and the
 * run states (docs/protocol.md is the contract in words).
 *
 * A trainer writes one JSON object per line (stdout for a local worker, the
 * body of POST /v1/ingest/{run} for a remote one, out/N.jsonl for `loralpha
 * import`). Every reader turns a line into an la_record with
 * la_record_parse, which checks every field: its type, its range, finite
 * numbers (null where a value may be unknown), non-negative losses, bounded
 * lists and strings, no duplicate keys. Fields and record types whose names
 * start with "x_" are extensions: accepted and ignored. Any other unknown
 * field or type is an error. The error names the record type, the field and
 * the problem ("train: loss: -1 is negative").
 *
 * The parser depends on jansson only (base library: no libuv, SQLite or
 * BLAS). A parsed record owns its variable parts (layers, singular values,
 * strings); la_record_clear releases them.
 */
#ifndef LORALPHA_RECORD_H
#define LORALPHA_RECORD_H

#include "loralpha/common.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- run states ---- */

/* A run's state in the database, in this order everywhere (counts, lists). */
typedef enum la_run_state {
  LA_RUN_QUEUED,
  LA_RUN_RUNNING,
  LA_RUN_DONE,
  LA_RUN_FAILED,
  LA_RUN_DIVERGED,
  LA_RUN_CANCELLED,
  LA_RUN_WAITING, /* halving: at a rung, its cell not decided yet */
  LA_RUN_STOPPED, /* halving: its cell stopped at a rung (a normal end) */
  LA_RUN_N_STATES
} la_run_state;

/* The states' names ("queued" ... "stopped"), indexed by la_run_state. */
extern const char *const la_run_state_names[LA_RUN_N_STATES];

/* The state named s (an index into la_run_state_names), or -1 when s
 * names none: an index, not an error code. */
int la_run_state_from_name(const char *s);

/* ---- records ---- */

typedef enum la_rec_type {
  LA_REC_START,     /* once, first: config, shapes, per-layer facts */
  LA_REC_TRAIN,     /* the batch loss of update `step` */
  LA_REC_EVAL,      /* the eval loss after `step` updates */
  LA_REC_SPECTRA,   /* spectra, signal and drift of one layer's dW */
  LA_REC_SHARPNESS, /* top Hessian eigenvalues */
  LA_REC_DONE,      /* the end: status and final figures */
  LA_REC_ERROR,     /* the trainer failed: its message */
  LA_REC_EXTENSION, /* a type named x_...: valid, carries nothing */
  LA_REC_N_TYPES
} la_rec_type;

/* Limits of a record (docs/protocol.md). */
#define LA_RECORD_MAX_LINE (4u << 20) /* bytes in one line */
#define LA_RECORD_MAX_STEP 2147483647 /* steps, iterations, counts */
#define LA_RECORD_MAX_SV LA_MAX_WIDTH /* singular values in one record */
#define LA_RECORD_MAX_REASON 512      /* bytes of done.reason */
#define LA_RECORD_MAX_ERROR 4096      /* bytes of error.error */
#define LA_RECORD_MAX_NAME 64         /* bytes of start.blas_core */
#define LA_RECORD_MAX_LAYERS 256      /* entries of start.layers */
#define LA_RECORD_MAX_MODULE 200      /* bytes of a layer's module name */

/* One layer of a start record. Numbers: NaN when null or absent. */
typedef struct la_rec_layer {
  int64_t layer, d_in, d_out;
  double sigma_max_w0, target_norm;
  char *module; /* owned: the adapted module's name ("h.0.attn.c_attn"), or
                   NULL when the trainer names none */
} la_rec_layer;

/* A parsed record. Numbers the protocol lets be null (or leave out) are NaN
 * then; integers left out are -1. */
typedef struct la_record {
  la_rec_type type;
  int64_t run_id; /* every type: the run it belongs to; -1: absent */
  int64_t step;   /* train, eval, spectra, sharpness */
  union {
    struct {
      double scale;
      int64_t params, n_train, n_eval;
      char *blas_core; /* owned, or NULL */
      size_t n_layers;
      la_rec_layer *layers; /* (n_layers) owned */
    } start;
    struct {
      double loss, lr, lr_b, grad_norm_a, grad_norm_b, update_norm;
    } train; /* eval: loss only */
    struct {
      int64_t layer;
      double sigma_max, fro, stable_rank;
      double signal, drift, drift_ratio, cos_target, rel_err;
      double tf_signal, tf_drift, mech_ratio, a_drift;
      size_t n_sv;
      double *sv; /* (n_sv) owned; NaN for a null entry */
    } spectra;
    struct {
      double lora, full, ratio;
      int64_t lora_iters, full_iters, rows;
      double lora_residual, full_residual;    /* ||Hx - lambda x|| */
      int64_t lora_converged, full_converged; /* 1, 0, -1: absent (unknown) */
    } sharp;
    struct {
      int64_t status; /* 0 done, 1 diverged */
      char *reason;   /* owned, or NULL */
      int64_t steps, best_step;
      double final_train_loss, final_eval_loss, best_eval_loss;
      double wall_s, steps_per_s;
    } done;
    struct {
      char *error; /* owned */
    } error;
  } u;
} la_record;

/* The name of a record type ("start" ... "error", "x_..." for extensions). */
const char *la_record_type_name(la_rec_type t);

/* Parses and checks one line (len bytes, no newline). On success fills *out
 * (the caller clears it) and returns 0; else returns LA_EINVAL (LA_ENOMEM)
 * with err naming the type, the field and the problem, and *out holds
 * nothing to clear. */
int la_record_parse(const char *line, size_t len, la_record *out, la_err *err);

/* The same for a record already parsed as JSON (borrowed). */
int la_record_from_json(const json_t *obj, la_record *out, la_err *err);

/* Releases what r owns and leaves it an extension record (safe to clear
 * again). */
void la_record_clear(la_record *r);

/* Moves src into *dst (dst must hold nothing); src is left cleared. */
void la_record_move(la_record *dst, la_record *src);

#endif
