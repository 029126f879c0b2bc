/*
 * train.h: one LoRA training run, from initialised adapters to the done
 * record, streaming JSON lines (the record types are in docs/worker.md).
 *
 * A trainer borrows its config and task; both must outlive it.
 */
#ifndef LORALPHA_TRAIN_H
#define LORALPHA_TRAIN_H

#include "loralpha/config.h"
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
 * the run finished (done or diverged), else an LA_E code with err filled. */
int la_trainer_run(la_trainer *tr, FILE *out, la_err *err);

/* Bytes of the tensors this run holds: task data and weights, parameters,
 * gradients, optimizer state, activations. */
size_t la_trainer_tensor_bytes(const la_trainer *tr);

/* Mean loss over the eval split with the current parameters. */
double la_trainer_eval(la_trainer *tr);

/* A pretraining run (task gpt, pretrain): writes the trained weights to
 * path as safetensors in GPT-2's names and layout (F32, Conv1D (in, out);
 * metadata: format "pt", loralpha "pretrain", steps), loadable as gpt.base.
 * Returns 0 or an LA_E code with err filled. */
int la_trainer_save_gpt(const la_trainer *tr, const char *path, la_err *err);

void la_trainer_free(la_trainer *tr);

#endif
