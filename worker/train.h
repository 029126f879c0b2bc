/*
 * train.h: one LoRA training run, from initialised adapters to the done
 * record, streaming JSON lines (the record types are in docs/worker.md).
 *
 * A trainer borrows its config and task; both must outlive it.
 */
#ifndef LORALPHA_TRAIN_H
#define LORALPHA_TRAIN_H

#include "loralpha/config.h"
#include "model.h"
#include "task.h"

#include <stddef.h>
#include <stdio.h>

typedef struct la_trainer la_trainer;

/* Sets up adapters (A from the task's A0 or Kaiming-uniform(a=sqrt 5) from
 * the run's seed, B = 0), optimizer and workspace. Returns 0 or an LA_E code
 * with err filled; *out is a new trainer to release with la_trainer_free. */
int la_trainer_new(const la_config *cfg, const la_task *task, la_trainer **out,
                   la_err *err);

/* One optimizer update on the next mini-batch; returns that batch's loss
 * (computed before the update). Writes no output. */
double la_trainer_step(la_trainer *tr);

/* The whole run: writes start, train, eval, spectra, sharpness and done
 * records to out, one JSON object per line, flushed per line. Returns 0 when
 * the run finished (done or diverged), else an LA_E code with err filled.
 * A stint (config stop_at, resume_at) trains exactly as the whole run does,
 * ends after update stop_at with the records of a last step, and sends no
 * record of a step <= resume_at (start and done are always sent). */
int la_trainer_run(la_trainer *tr, FILE *out, la_err *err);

/* The whole run in steps, as la_trainer_run takes them, for a driver that
 * computes the gradients itself (pack.h): la_trainer_begin writes start,
 * the step-0 eval and sharpness; then, while !la_trainer_over, the driver
 * puts the gradient of the batch of la_trainer_next_batch into the net's
 * gA and gB (la_trainer_net) and la_trainer_advance applies the update and
 * writes that step's records; la_trainer_finish writes done. begin and
 * advance return 0 or an LA_E code with err filled (the metrics failed:
 * the run ends there, without done). */
int la_trainer_begin(la_trainer *tr, FILE *out, la_err *err);
int la_trainer_advance(la_trainer *tr, FILE *out, double loss, la_err *err);
/* 1 when the run has diverged or taken its last step, else 0. */
int la_trainer_over(const la_trainer *tr);
void la_trainer_finish(la_trainer *tr, FILE *out);

/* The optimizer update of the gradient in the net's gA and gB, without
 * records (la_trainer_step's second half). */
void la_trainer_update(la_trainer *tr);

/* Gathers the next mini-batch: *X (batch, d_in) and *Y (batch, y_dim),
 * the trainer's buffers, valid until the next call. */
void la_trainer_next_batch(la_trainer *tr, const float **X, const float **Y);

/* The trainer's net: its parameters A, B, the gradients gA, gB it is
 * trained on, the scaling s (borrowed). */
la_net_f *la_trainer_net(la_trainer *tr);

/* Makes every record of the run carry its run_id (a pack's runs share one
 * output). */
void la_trainer_tag(la_trainer *tr);

/* Writes the record {"type":"error","error":msg} (with "run_id" when
 * run_id >= 0) as one line on f and flushes it; bytes of msg that are not
 * UTF-8 become '?'. */
void la_put_error(FILE *f, int64_t run_id, const char *msg);

/* Bytes of the tensors this run holds: task data and weights, parameters,
 * gradients, optimizer state, activations. */
size_t la_trainer_tensor_bytes(const la_trainer *tr);

/* Mean loss over the eval split with the current parameters. */
double la_trainer_eval(la_trainer *tr);

/* Writes into ze (n_eval, dims[1]) the eval split's first-layer frozen
 * product X_eval W0_0^T, chunk by chunk as la_trainer_eval computes it, so
 * that runs sharing the task can evaluate from it (not task gpt). */
void la_trainer_eval_frozen(const la_trainer *tr, float *ze);

/* From now on la_trainer_eval takes the first layer's frozen product from
 * ze (borrowed: la_trainer_eval_frozen's, of a trainer with the same task
 * and batch) instead of computing it: the same loss, bit for bit. */
void la_trainer_share_eval(la_trainer *tr, const float *ze);

/* A pretraining run (task gpt, pretrain): writes the trained weights to
 * path as safetensors in GPT-2's names and layout (F32, Conv1D (in, out);
 * metadata: format "pt", loralpha "pretrain", steps), loadable as gpt.base.
 * Returns 0 or an LA_E code with err filled. */
int la_trainer_save_gpt(const la_trainer *tr, const char *path, la_err *err);

void la_trainer_free(la_trainer *tr);

#endif
