/*
 * ingest.h: the daemon's request handler in front of the API: POST
 * /v1/ingest/{run_id} goes to the Slurm executor (authenticated by the
 * run's own token, docs/slurm.md), every other request to la_api_handle.
 */
#ifndef LORALPHA_INGEST_H
#define LORALPHA_INGEST_H

#include "api/api.h"
#include "slurm/slurm.h"

typedef struct la_ingest {
  la_api *api;     /* borrowed */
  la_slurm *slurm; /* borrowed */
} la_ingest;

/* The la_http_handler of the daemon; ctx is an la_ingest. */
void la_ingest_route(la_http_request *req, void *ctx);

#endif
