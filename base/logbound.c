/* logbound.c: a log kept bounded, its head and its tail (logbound.h). */
#include "loralpha/logbound.h"

#include "loralpha/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void la_logbound_add(la_logbound *b, const char *p, size_t n) {
  while (n > 0 && b->bytes < LA_LOG_HEAD) {
    b->head[b->bytes++] = *p++;
    n--;
  }
  if (n > LA_LOG_TAIL) { /* only the last LA_LOG_TAIL bytes can stay */
    b->bytes += n - LA_LOG_TAIL;
    p += n - LA_LOG_TAIL;
    n = LA_LOG_TAIL;
  }
  for (size_t i = 0; i < n; i++) /* the tail, in a ring */
    b->tail[(b->bytes++ - LA_LOG_HEAD) % LA_LOG_TAIL] = p[i];
}

char *la_logbound_text(const la_logbound *b) {
  uint64_t in_tail = b->bytes > LA_LOG_HEAD ? b->bytes - LA_LOG_HEAD : 0;
  uint64_t kept = in_tail < LA_LOG_TAIL ? in_tail : LA_LOG_TAIL;
  size_t head = b->bytes < LA_LOG_HEAD ? (size_t)b->bytes : LA_LOG_HEAD;
  size_t start = (size_t)((in_tail - kept) % LA_LOG_TAIL), len = 0;
  char *out;
  if (b->bytes == 0) return NULL;
  if ((out = malloc(head + kept + LA_LOG_MARK)) == NULL) return NULL;
  memcpy(out, b->head, head);
  len = head;
  if (in_tail > kept)
    len += (size_t)snprintf(out + len, LA_LOG_MARK,
                            "\n[... %llu bytes of the log left out ...]\n",
                            (unsigned long long)(in_tail - kept));
  for (uint64_t i = 0; i < kept; i++)
    out[len++] = b->tail[(start + i) % LA_LOG_TAIL];
  out[len] = '\0';
  la_utf8_sanitize(out, len); /* a JSON string, and no NUL inside */
  return out;
}
