/* remote.c: a worker's records POSTed to the daemon (see remote.h). */
#define _GNU_SOURCE /* fopencookie */
#include "remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_BYTES (256u << 10) /* send when this much has gathered */
#define BATCH_SECONDS 1.0        /* or when this long has passed */
#define BACKOFF_FIRST 0.5
#define BACKOFF_MAX 30.0
#define LOG_RETRY_MAX 60.0 /* the log is retried this long at most */

struct la_remote {
  CURL *curl;
  struct curl_slist *headers;     /* of the records */
  struct curl_slist *log_headers; /* of the log */
  char url[2048];
  double retry_s;
  char *buf; /* lines not yet sent */
  size_t len, cap;
  double last_send; /* monotonic seconds */
  FILE *stream;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Discards the daemon's answer (its status is what counts). */
static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  (void)p, (void)arg;
  return size * n;
}

/* One POST of n bytes; the HTTP status, or 0 when there was no answer. */
static long post_once(la_remote *r, const char *data, size_t n, char *why,
                      size_t size) {
  long status = 0;
  CURLcode rc;
  curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, data);
  curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
  rc = curl_easy_perform(r->curl);
  if (rc != CURLE_OK) {
    snprintf(why, size, "%s", curl_easy_strerror(rc));
    return 0;
  }
  curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
  snprintf(why, size, "HTTP %ld", status);
  return status;
}

/* The lines cannot be delivered: say why on stderr as the worker's error
 * line, and stop the run at once (its lines would be lost). */
static void stop_run(int code, const char *msg) {
  json_t *rec =
      json_pack("{s:s, s:s+}", "type", "error", "error", "report: ", msg);
  if (rec != NULL) json_dumpf(rec, stderr, JSON_COMPACT);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(code);
}

/* Sends data[0, n) to url (the handle's) with retries for up to limit
 * seconds: 0 once the daemon took it; else msg says why (what: what was
 * sent) and the answer is LA_REMOTE_EXIT when the daemon refused it, 1
 * when it could not be reached in time. */
static int post_retry(la_remote *r, const char *url, const char *what,
                      const char *data, size_t n, double limit, char *msg,
                      size_t size) {
  double start = now_s(), wait = BACKOFF_FIRST;
  char why[256];
  for (;;) {
    long status = post_once(r, data, n, why, sizeof why);
    if (status >= 200 && status < 300) return 0;
    if (status != 0 && status != 408 && status != 429 && status < 500) {
      snprintf(msg, size, "%s refused this run's %s (%s)", url, what, why);
      return LA_REMOTE_EXIT;
    }
    if (now_s() - start + wait > limit) {
      snprintf(msg, size, "%s: gave up after %.0f s (%s)", url, now_s() - start,
               why);
      return 1;
    }
    sleep_s(wait);
    wait = wait * 2 < BACKOFF_MAX ? wait * 2 : BACKOFF_MAX;
  }
}

/* Sends data[0, n) with retries; returns once the daemon took it, else
 * stops the run. */
static void post(la_remote *r, const char *data, size_t n) {
  char msg[2600];
  int code =
      post_retry(r, r->url, "lines", data, n, r->retry_s, msg, sizeof msg);
  if (code != 0) stop_run(code, msg);
}

/* Sends every complete line gathered so far. */
static int send_lines(la_remote *r) {
  const char *end = r->len ? memrchr(r->buf, '\n', r->len) : NULL;
  size_t n = end ? (size_t)(end - r->buf) + 1 : 0;
  r->last_send = now_s();
  if (n == 0) return 0;
  post(r, r->buf, n);
  memmove(r->buf, r->buf + n, r->len - n);
  r->len -= n;
  return 0;
}

static ssize_t cookie_write(void *cookie, const char *p, size_t n) {
  la_remote *r = cookie;
  if (r->len + n > r->cap) {
    size_t cap = (r->len + n) * 2;
    char *q = realloc(r->buf, cap);
    if (q == NULL) return -1; /* fopencookie's write: -1 on an error */
    r->buf = q, r->cap = cap;
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
  if (r->len >= BATCH_BYTES || now_s() - r->last_send >= BATCH_SECONDS)
    send_lines(r);
  return (ssize_t)n;
}

static int cookie_close(void *cookie) {
  la_remote *r = cookie;
  if (r->len > 0 && r->buf[r->len - 1] != '\n') cookie_write(r, "\n", 1);
  return send_lines(r);
}

/* The token: the first line of the file, printable. */
static int read_token(const char *path, char *tok, size_t size, la_err *err) {
  FILE *f = fopen(path, "r");
  size_t n;
  if (f == NULL)
    return la_errf(err, LA_EIO, "--report-token-file: cannot open %.300s: %s",
                   path, strerror(errno));
  if (fgets(tok, (int)size, f) == NULL) tok[0] = 0;
  fclose(f);
  n = strcspn(tok, "\r\n");
  tok[n] = 0;
  for (size_t i = 0; i < n; i++)
    if (tok[i] <= ' ' || tok[i] == 0x7f) n = 0;
  if (n == 0)
    return la_errf(err, LA_EINVAL, "--report-token-file: %.300s holds no token",
                   path);
  return 0;
}

/* libcurl's handle and headers for the reporter. */
static int setup_curl(la_remote *r, const char *tok, la_err *err) {
  char auth[600];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  if ((r->curl = curl_easy_init()) == NULL ||
      (r->headers = curl_slist_append(NULL, auth)) == NULL ||
      (r->headers = curl_slist_append(
           r->headers, "Content-Type: application/x-ndjson")) == NULL ||
      (r->log_headers = curl_slist_append(NULL, auth)) == NULL ||
      (r->log_headers = curl_slist_append(
           r->log_headers, "Content-Type: text/plain; charset=utf-8")) == NULL)
    return la_errf(err, LA_ENOMEM, "report: out of memory");
  curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
  curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
  return 0;
}

int la_remote_send_log(la_remote *r, const char *text, size_t n, uint64_t bytes,
                       la_err *err) {
  char url[sizeof r->url + 48], msg[2600];
  int code;
  snprintf(url, sizeof url, "%s/log?bytes=%llu", r->url,
           (unsigned long long)bytes);
  curl_easy_setopt(r->curl, CURLOPT_URL, url);
  curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->log_headers);
  code = post_retry(r, url, "log", text, n,
                    r->retry_s < LOG_RETRY_MAX ? r->retry_s : LOG_RETRY_MAX,
                    msg, sizeof msg);
  curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
  curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
  return code == 0 ? 0 : la_errf(err, LA_EIO, "report: %s", msg);
}

int la_remote_open(const char *url, const char *token_file, double retry_s,
                   la_remote **out, FILE **stream, la_err *err) {
  cookie_io_functions_t io = {NULL, cookie_write, NULL, cookie_close};
  char tok[512];
  la_remote *r;
  *out = NULL, *stream = NULL;
  if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
    return la_errf(err, LA_EINVAL, "--report-url: '%.200s' is not http://",
                   url);
  if (read_token(token_file, tok, sizeof tok, err)) return LA_EINVAL;
  if ((r = calloc(1, sizeof *r)) == NULL)
    return la_errf(err, LA_ENOMEM, "report: out of memory");
  snprintf(r->url, sizeof r->url, "%s", url);
  r->retry_s = retry_s;
  r->last_send = now_s();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (setup_curl(r, tok, err) != 0 ||
      (r->stream = fopencookie(r, "w", io)) == NULL) {
    la_remote_close(r, NULL);
    return la_errf(err, LA_ENOMEM, "report: cannot set up libcurl");
  }
  *out = r, *stream = r->stream;
  return 0;
}

int la_remote_close(la_remote *r, la_err *err) {
  int rc = 0;
  if (r == NULL) return 0;
  if (r->stream != NULL && fclose(r->stream) != 0) /* sends the rest */
    rc = la_errf(err, LA_EIO, "report: out of memory for the last lines");
  curl_slist_free_all(r->headers);
  curl_slist_free_all(r->log_headers);
  if (r->curl) curl_easy_cleanup(r->curl);
  curl_global_cleanup();
  free(r->buf);
  free(r);
  return rc;
}
