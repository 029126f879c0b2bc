/* report.c: the morning report of a sweep (see report.h): one
 * self-contained HTML page (inline CSS and SVG, no scripts, nothing loaded
 * from elsewhere) or the same content as Markdown tables. The input is the
 * API's JSON (docs/api.md, docs/analysis.md); every field is optional, and
 * what is missing or not a finite number shows as "–" or is left out. */
#include "loralpha/report.h"

#include "loralpha/record.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_RUN_ROWS 200  /* rows of a run table before "… more" */
#define ERR_LINES 6       /* lines of a failed run's error shown */
#define ERR_BYTES 600     /* and at most this many bytes of it */
#define MAX_RULES 8       /* heuristics shown */
#define MAX_CELLS 4000000 /* cells of a (group x value) grid */
#define MAX_PATH 64       /* points of a claim-2 path that are plotted */

#define LEG_MAX 16   /* legend entries of a plot */
#define RANK_RULES 3 /* the rank-tied rules marked on the loss plots */

enum { CELL_TEXT, CELL_NUM, CELL_WORST, CELL_KEY, CELL_FLAG };
enum { MK_NONE, MK_DOT, MK_SQUARE, MK_RING, MK_CROSS };

/* The geometry of a plot in viewBox units: its size, the plot area, where
 * the legend starts at the right, and the font size. Each SVG is drawn at
 * its own size (width and height attributes: one unit is one CSS pixel)
 * and only shrinks to fit a narrower page, so the font sizes below are
 * what a reader sees at normal zoom. */
typedef struct geom {
  int w, h, pl, pr, pt, pb, leg_x, font;
} geom;

static const geom k_wide = {880, 430, 80, 570, 14, 350, 586, 14};
static const geom k_half = {560, 430, 84, 420, 14, 356, 432, 14};
static const geom k_small = {344, 280, 72, 334, 30, 216, 0, 13};

/* The dashboard's colours, defined here once for the whole report: its
 * categorical palette (web/js/api.js PALETTE: a colour per rank, by the
 * rank's place among the sweep's ranks), its viridis stops (api.js
 * VIRIDIS: α from small to large) and the colours of its law plot
 * (web/js/sweep.js). tests/unit/test_report.c compares the first two with
 * api.js. */
static const char *const k_palette[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define N_PALETTE (sizeof k_palette / sizeof *k_palette)
static const unsigned char k_viridis[][3] = {
    {68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142},
    {38, 130, 142}, {31, 158, 137}, {53, 183, 121}, {109, 205, 89},
    {180, 222, 44}, {253, 231, 37}};
#define N_VIRIDIS (sizeof k_viridis / sizeof *k_viridis)
static const char k_col_sqrt[] = "#1f77b4"; /* the √r fit and its band */
static const char k_col_free[] = "#d62728"; /* the free fit */
static const char k_col_star[] = "#222";    /* α* */
static const char k_col_excl[] = "#999";    /* α* left out of the fits */
static const char *const k_dashes[] = {"", "7 3", "2 3", "9 3 2 3"};

/* The rank-tied rules drawn on the law plot and the loss plots: the LoRA
 * scale they set is s = coef * r^power (docs/analysis.md, fit.h). */
static const struct ref_rule {
  const char *title;
  double coef, power;
  const char *color, *dash;
} k_refs[RANK_RULES] = {{"α = r", 1, 0, "#7f7f7f", "6 4"},
                        {"α = 2r", 2, 0, "#2ca02c", "6 4"},
                        {"rsLoRA 16", 16, -0.5, "#9467bd", "2 3"}};

static const char k_no_analysis[] =
    "The analysis is not available yet: no fits, α*(r), heuristics or "
    "drift figures. The loss curves and run tables come from the runs.";
static const char k_no_analysis_short[] = "No analysis yet.";

static const char k_law_caption[] =
    "Points: the refined α* of each rank with its bootstrap interval; "
    "hollow: at the grid's edge (square) or ill-determined (circle), both "
    "left out of the fits. Lines: the free fit, the √r fit with its interval "
    "for c (band), and the rank-tied rules, all in the sweep's α.";

static const char k_css[] =
    "body{font-family:Helvetica,Arial,sans-serif;color:#222;"
    "max-width:1100px;margin:24px auto;padding:0 16px;line-height:1.45}\n"
    "h1{font-size:1.6em;margin:0 0 4px}\n"
    "h2{border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:36px}\n"
    "h3{margin:22px 0 6px}\n"
    "nav{font-size:.9em;margin:6px 0 0}nav a{color:#1f5fa0}\n"
    ".sub{color:#555;margin:0}\n"
    "table{border-collapse:collapse;margin:8px 0 16px;font-size:.88em}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#eef1f5}\n"
    "tbody tr:nth-child(even) td{background:#f8f8f8}\n"
    "td.n{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}\n"
    "td.worst,tbody tr:nth-child(even) td.worst{background:#fbd9d3;"
    "color:#9b1c10;font-weight:bold}\n"
    "td.flag{color:#b03a2e;font-weight:bold}\n"
    ".formula{font-size:1.35em;margin:6px 0 2px}\n"
    ".warn{border-left:5px solid #c0392b;background:#fdecea;"
    "padding:6px 10px}\n"
    ".note{color:#555;font-style:italic}\n"
    "figure{margin:8px 0 18px;break-inside:avoid}\n"
    "figure svg{max-width:100%;height:auto;display:block}\n"
    "figcaption{font-size:.9em;color:#444;max-width:880px;margin:0 0 4px}\n"
    ".plots{display:flex;flex-wrap:wrap;gap:0 16px}\n"
    ".plots figure{flex:1 1 480px;min-width:0;max-width:560px}\n"
    ".ranks{display:flex;flex-wrap:wrap;gap:0 14px}\n"
    ".ranks figure{flex:0 1 344px;min-width:0;margin:4px 0 8px}\n"
    ".key{font-size:.9em;color:#333}\n"
    ".key span.sw{display:inline-block;width:26px;height:0;"
    "vertical-align:middle;margin:0 5px 0 12px;border-top:2px solid}\n"
    ".headline{font-size:1.45em;font-weight:bold;margin:8px 0 6px}\n"
    ".state{border-left:5px solid #c0392b;background:#fdecea;"
    "padding:6px 10px;font-size:1.1em}\n"
    ".state.active{border-color:#1f77b4;background:#eaf2fa}\n"
    "pre.err{white-space:pre-wrap;word-break:break-word;margin:0;"
    "font-size:.9em;max-width:640px}\n"
    "footer{margin-top:40px;color:#777;font-size:.8em}\n"
    "@media print{body{max-width:none;margin:0;font-size:10pt}"
    "nav{display:none}h2,h3{break-after:avoid}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

static const char k_nav[] =
    "<a href=\"#sweep\">Sweep</a> · <a href=\"#law\">The law</a> · "
    "<a href=\"#alpha-star\">α*(r)</a> · <a href=\"#budget\">Budget</a> · "
    "<a href=\"#heuristics\">Heuristics</a> · <a href=\"#loss\">Loss "
    "against α</a> · <a href=\"#drift\">Signal and drift</a> · "
    "<a href=\"#failed\">Failed runs</a>";

/* The report being written and what every section needs. */
typedef struct rep {
  FILE *out;
  int md;          /* Markdown, else HTML */
  int rc;          /* first failure (LA_ENOMEM), 0 if none */
  int n_svg;       /* plots written so far: the ids of their clip paths */
  const geom *geo; /* of the plot being written */
  const json_t *sweep, *spec, *analysis, *runs;
  const json_t *full;  /* the analysis' full-budget checkpoint, or NULL */
  const char *scaling; /* "peft" or "rslora" */
  double scale_power;  /* the sweep's alpha = s * r^scale_power */
  double a_lo, a_hi;   /* the runs' α range (the viridis scale's ends) */
  int has_answer;      /* the analysis has a headline or answers */
} rep;

/* A formatted number, returned by value. */
typedef struct numstr {
  char s[24];
} numstr;

/* A formatted interval, percentage or time, returned by value. */
typedef struct widestr {
  char s[64];
} widestr;

/* A bounded text buffer (truncates). */
typedef struct sbuf {
  char s[1024];
  size_t n;
} sbuf;

/* A log axis mapping [lo, hi] onto pixels p0..p1, ticks at base^k. */
typedef struct axis {
  double lo, hi, p0, p1;
  int base;
} axis;

typedef struct frame {
  axis x, y;
} frame;

/* A colour as CSS text, returned by value. */
typedef struct colour {
  char s[24];
} colour;

typedef struct legend_item {
  char label[96];
  colour color;
  const char *dash;
  int marker, line, band;
} legend_item;

/* A family of curves: y[g * nx + i] for group g (value g[g]) at x[i]. */
typedef struct curves {
  const char *title, *xlabel, *ylabel, *group;
  const double *x, *g, *y;
  size_t nx, ng;
  int xbase, half; /* half: a narrow plot, two side by side */
  int by_alpha;    /* groups are α: viridis colours, else the palette */
} curves;

/* One α* point of the law plot. */
typedef struct star {
  double rank, alpha, lo, hi;
  int edge, ill;
} star;

/* The two fits of one lr: free c r^p, and the √r law's c with interval. */
typedef struct law {
  double c, p, sc, sc_lo, sc_hi, sp;
  int poor;
} law;

/* What the heuristics table learns of one rule over its rows. */
typedef struct rule_stat {
  double sum, worst, worst_rank, worst_lr;
  long n;
} rule_stat;

/* A slice of the drift table: the rows with fkey = fval, a curve per gkey
 * value (gv) against xkey (xv). */
typedef struct dslice {
  const json_t *d;
  const char *fkey, *gkey, *xkey;
  double fval;
  double *gv, *xv;
  size_t ng, nx;
} dslice;

/* Which drift figures to plot: target-aware, else target-free. */
typedef struct dmetric {
  const char *ratio, *signal, *ratio_name, *signal_name;
} dmetric;

/* ---- output and escaping ------------------------------------------- */

/* Writes s unchanged (static text only). */
static void put(rep *r, const char *s) {
  fputs(s, r->out);
}

static void emit(rep *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* printf to the report (never with text from the JSON: see put_text). */
static void emit(rep *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(r->out, fmt, ap);
  va_end(ap);
}

/* The replacement of byte c in the report's format, or NULL to keep it:
 * entities for HTML's specials (Markdown too, as it passes HTML through),
 * backslashes before Markdown's punctuation (~ too: two of them on a line
 * would strike the text between through), spaces for control bytes. */
static const char *esc_of(const rep *r, unsigned char c, int keep_nl) {
  switch (c) {
  case '&': return "&amp;";
  case '<': return "&lt;";
  case '>': return "&gt;";
  case '"': return r->md ? NULL : "&quot;";
  case '\'': return r->md ? NULL : "&#39;";
  case '\n': return keep_nl ? "\n" : r->md ? " ⏎ " : " ";
  case '\\': return r->md ? "\\\\" : NULL;
  case '`': return r->md ? "\\`" : NULL;
  case '*': return r->md ? "\\*" : NULL;
  case '_': return r->md ? "\\_" : NULL;
  case '|': return r->md ? "\\|" : NULL;
  case '~': return r->md ? "\\~" : NULL;
  default: return c < 0x20 || c == 0x7f ? " " : NULL;
  }
}

/* Writes at most n bytes of s (to a NUL), escaped for the format. */
static void put_esc(rep *r, const char *s, size_t n, int keep_nl) {
  for (size_t i = 0; s != NULL && i < n && s[i] != '\0'; i++) {
    const char *e = esc_of(r, (unsigned char)s[i], keep_nl);
    if (e)
      fputs(e, r->out);
    else
      fputc(s[i], r->out);
  }
}

/* Writes text (NULL: nothing) escaped for the format, on one line. */
static void put_text(rep *r, const char *s) {
  put_esc(r, s, SIZE_MAX, 0);
}

/* x readably: 3 significant digits, whole from 1000 to a million, "–"
 * when it is not a finite number. */
static numstr fnum(double x) {
  numstr n;
  if (!isfinite(x))
    snprintf(n.s, sizeof n.s, "%s", "–");
  else if (fabs(x) >= 1000 && fabs(x) < 1e6)
    snprintf(n.s, sizeof n.s, "%.0f", x);
  else
    snprintf(n.s, sizeof n.s, "%.3g", x);
  return n;
}

/* An interval "[lo, hi]", or "" when neither end is a number. */
static widestr fint(double lo, double hi) {
  widestr n = {""};
  if (isfinite(lo) || isfinite(hi))
    snprintf(n.s, sizeof n.s, "[%s, %s]", fnum(lo).s, fnum(hi).s);
  return n;
}

/* A regret as a signed percentage ("+148%"), "–" if not a number. */
static widestr fpct(double g) {
  widestr n = {"–"};
  if (isfinite(g))
    snprintf(n.s, sizeof n.s, "%s%s%%", g < 0 ? "-" : "+",
             fnum(fabs(100 * g)).s);
  return n;
}

/* Unix time t as "YYYY-MM-DD HH:MM:SS UTC", or "–". */
static widestr ftime_utc(double t) {
  widestr n = {"–"};
  struct tm tm;
  time_t tt;
  if (!isfinite(t) || t < 0 || t > 253402300799.0) return n;
  tt = (time_t)t;
  if (gmtime_r(&tt, &tm) == NULL ||
      strftime(n.s, sizeof n.s, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf(n.s, sizeof n.s, "%s", "–");
  return n;
}

/* Empties b. */
static void sb_clear(sbuf *b) {
  b->n = 0;
  b->s[0] = '\0';
}

static void sb_add(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends printf output to b, truncating at its size. */
static void sb_add(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int k;
  if (b->n + 1 >= sizeof b->s) return;
  va_start(ap, fmt);
  k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
  va_end(ap);
  if (k < 0) {
    b->s[b->n] = '\0';
  } else if ((size_t)k < sizeof b->s - b->n) {
    b->n += (size_t)k;
  } else { /* truncated: drop a character it may have cut */
    b->n = sizeof b->s - 1;
    while (b->n > 0 && ((unsigned char)b->s[b->n - 1] & 0x80))
      b->n--;
    b->s[b->n] = '\0';
  }
}

/* ---- JSON access (every function accepts NULL and wrong types) ------- */

/* obj[key] as a double: NaN unless it is a finite number. */
static double jnum(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  double x = json_is_number(v) ? json_number_value(v) : NAN;
  return isfinite(x) ? x : NAN;
}

/* obj[key] as an integer, or def. */
static long long jint(const json_t *o, const char *key, long long def) {
  const json_t *v = json_object_get(o, key);
  if (json_is_integer(v)) return (long long)json_integer_value(v);
  if (json_is_real(v) && fabs(json_real_value(v)) < 9e15)
    return (long long)json_real_value(v);
  return def;
}

/* obj[key] as a string, or NULL. */
static const char *jstr(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

/* obj[key] is true. */
static int jtrue(const json_t *o, const char *key) {
  return json_is_true(json_object_get(o, key));
}

/* a string, or the "name" of an object, or def. */
static const char *name_of(const json_t *v, const char *def) {
  if (json_is_string(v)) return json_string_value(v);
  return jstr(v, "name") ? jstr(v, "name") : def;
}

/* a and b are equal to 1e-9 relative (false for NaN). */
static int same(double a, double b) {
  return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* qsort order of doubles. */
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* calloc of n + 1 items (so never NULL for n = 0 but on failure, which is
 * noted as LA_ENOMEM). */
static void *zalloc(rep *r, size_t n, size_t size) {
  void *p = calloc(n + 1, size);
  if (p == NULL) r->rc = LA_ENOMEM;
  return p;
}

/* Appends to v (room for cap) the finite values of key among the objects
 * of arr whose fkey is near fval (all objects when fkey is NULL); returns
 * the new count. */
static size_t gather(const json_t *arr, const char *key, const char *fkey,
                     double fval, double *v, size_t n, size_t cap) {
  for (size_t i = 0; i < json_array_size(arr) && n < cap; i++) {
    const json_t *o = json_array_get(arr, i);
    double x = jnum(o, key);
    if (isfinite(x) && (fkey == NULL || same(jnum(o, fkey), fval))) v[n++] = x;
  }
  return n;
}

/* Sorts v[0..n) and drops near-duplicates; returns the new count. */
static size_t uniq(double *v, size_t n) {
  size_t k = 0;
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_dbl);
  for (size_t i = 1; i < n; i++)
    if (!same(v[i], v[k])) v[++k] = v[i];
  return k + 1;
}

/* The distinct values of key as in gather, ascending, in *out (malloc'd,
 * freed by the caller); returns the count. */
static size_t distinct(rep *r, const json_t *arr, const char *key,
                       const char *fkey, double fval, double **out) {
  size_t cap = json_array_size(arr);
  *out = zalloc(r, cap, sizeof **out);
  if (*out == NULL) return 0;
  return uniq(*out, gather(arr, key, fkey, fval, *out, 0, cap));
}

/* The index of the value near x in ascending v[0..n), or -1 when there is
 * none (an index, not an error code). */
static long index_of(const double *v, size_t n, double x) {
  size_t lo = 0, hi = n;
  if (!isfinite(x)) return -1; /* an index: none */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x && !same(v[mid], x))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && same(v[lo], x) ? (long)lo : -1;
}

/* Runs in the given state. */
static size_t count_state(const json_t *runs, const char *state) {
  size_t n = 0;
  for (size_t i = 0; i < json_array_size(runs); i++) {
    const char *s = jstr(json_array_get(runs, i), "state");
    if (s && strcmp(s, state) == 0) n++;
  }
  return n;
}

/* The sweep's name (the sweep's, else its spec's), never NULL. */
static const char *sweep_name(const rep *r) {
  const char *s = jstr(r->sweep, "name");
  if (s == NULL) s = jstr(r->spec, "name");
  return s ? s : "unnamed sweep";
}

/* The checkpoint with the largest fraction (the full budget), or NULL. */
static const json_t *full_checkpoint(const json_t *analysis) {
  const json_t *cks = json_object_get(analysis, "checkpoints"), *best = NULL;
  double bf = 0;
  for (size_t i = 0; i < json_array_size(cks); i++) {
    const json_t *ck = json_array_get(cks, i);
    double f = jnum(ck, "fraction");
    if (!json_is_object(ck)) continue;
    if (!isfinite(f)) f = 0;
    if (best == NULL || f > bf) best = ck, bf = f;
  }
  return best;
}

/* The fit of checkpoint ck at lr by method ("free", "sqrt"), or NULL. */
static const json_t *find_fit(const json_t *ck, double lr, const char *method) {
  const json_t *fits = json_object_get(ck, "fits");
  for (size_t i = 0; i < json_array_size(fits); i++) {
    const json_t *f = json_array_get(fits, i);
    const char *m = jstr(f, "method");
    if (m && strcmp(m, method) == 0 && same(jnum(f, "lr"), lr)) return f;
  }
  return NULL;
}

/* The refined α* of (lr, rank) at the full budget, or NaN. */
static double star_alpha(const rep *r, double lr, double rank) {
  const json_t *as = json_object_get(r->full, "alpha_star");
  for (size_t i = 0; i < json_array_size(as); i++) {
    const json_t *o = json_array_get(as, i);
    if (same(jnum(o, "lr"), lr) && same(jnum(o, "rank"), rank))
      return jnum(o, "alpha");
  }
  return NAN;
}

/* ---- document structure -------------------------------------------- */

/* Opens a section with its heading. */
static void section_begin(rep *r, const char *id, const char *title) {
  if (r->md) {
    put(r, "\n## ");
    put_text(r, title);
    put(r, "\n\n");
    return;
  }
  emit(r, "<section id=\"%s\">\n<h2>", id);
  put_text(r, title);
  put(r, "</h2>\n");
}

/* Closes a section. */
static void section_end(rep *r) {
  if (!r->md) put(r, "</section>\n");
}

/* A third-level heading. */
static void subhead(rep *r, const char *text) {
  put(r, r->md ? "### " : "<h3>");
  put_text(r, text);
  put(r, r->md ? "\n\n" : "</h3>\n");
}

/* A paragraph of text. */
static void para(rep *r, const char *text) {
  put(r, r->md ? "" : "<p>");
  put_text(r, text);
  put(r, r->md ? "\n\n" : "</p>\n");
}

/* A paragraph in the style of a remark (italics). */
static void note(rep *r, const char *text) {
  put(r, r->md ? "_" : "<p class=\"note\">");
  put_text(r, text);
  put(r, r->md ? "_\n\n" : "</p>\n");
}

/* Opens a table with n header cells. */
static void table_begin(rep *r, const char *const *head, int n) {
  put(r, r->md ? "|" : "<table>\n<thead><tr>");
  for (int i = 0; i < n; i++) {
    put(r, r->md ? " " : "<th>");
    put_text(r, head[i] ? head[i] : "");
    put(r, r->md ? " |" : "</th>");
  }
  put(r, r->md ? "\n|" : "</tr></thead>\n<tbody>\n");
  for (int i = 0; r->md && i < n; i++)
    put(r, " --- |");
  if (r->md) put(r, "\n");
}

/* Closes a table. */
static void table_end(rep *r) {
  put(r, r->md ? "\n" : "</tbody>\n</table>\n");
}

/* Opens a row. */
static void row_begin(rep *r) {
  put(r, r->md ? "|" : "<tr>");
}

/* Closes a row. */
static void row_end(rep *r) {
  put(r, r->md ? "\n" : "</tr>\n");
}

/* A cell of text (NULL: "–"), escaped; kind is a CELL_* style. */
static void cell(rep *r, const char *s, int kind) {
  static const char *const open[] = {"<td>", "<td class=\"n\">",
                                     "<td class=\"n worst\">", "<th>",
                                     "<td class=\"flag\">"};
  int strong = kind == CELL_WORST || kind == CELL_KEY;
  if (r->md) {
    put(r, strong ? " **" : " ");
    put_text(r, s ? s : "–");
    put(r, strong ? "** |" : " |");
    return;
  }
  put(r, open[kind]);
  put_text(r, s ? s : "–");
  put(r, kind == CELL_KEY ? "</th>" : "</td>");
}

/* A numeric cell. */
static void cell_num(rep *r, double x) {
  cell(r, fnum(x).s, CELL_NUM);
}

/* A cell of obj[key] as a whole number, or "–". */
static void cell_int(rep *r, const json_t *o, const char *key) {
  numstr n = {"–"};
  if (json_is_number(json_object_get(o, key)))
    snprintf(n.s, sizeof n.s, "%lld", jint(o, key, 0));
  cell(r, n.s, CELL_NUM);
}

/* A row of the summary table: a label and its text. */
static void kv(rep *r, const char *key, const char *val) {
  row_begin(r);
  cell(r, key, CELL_KEY);
  cell(r, val, CELL_TEXT);
  row_end(r);
}

/* ---- SVG helpers ---------------------------------------------------- */

/* A log axis over [mn, mx] with a margin, from pixel p0 to p1; base 0
 * picks 10 for spans over three decades, else 2. */
static axis axis_make(double mn, double mx, double p0, double p1, int base) {
  axis a = {1, 10, p0, p1, base ? base : 2};
  double pad;
  if (!(mn > 0 && mx >= mn && isfinite(mx))) return a;
  mn = fmax(mn, 1e-100), mx = fmin(fmax(mx, mn), 1e100);
  pad = 0.05 * log2(mx / mn) + 0.15;
  a.lo = mn / exp2(pad), a.hi = mx * exp2(pad);
  if (base == 0) a.base = a.hi / a.lo > 1000 ? 10 : 2;
  return a;
}

/* The pixel of v > 0 on a (clamped well outside the plot). */
static double amap(const axis *a, double v) {
  double t = (log(v) - log(a->lo)) / (log(a->hi) - log(a->lo));
  double p = a->p0 + t * (a->p1 - a->p0);
  return fmin(fmax(p, -5000), 5000);
}

/* Round ticks over a narrow axis: 1, 2 or 5 times a power of ten apart,
 * about four of them. Returns the count (at most 16). */
static int nice_ticks(const axis *a, double *t) {
  double raw = (a->hi - a->lo) / 4, mag = pow(10, floor(log10(raw)));
  double step = raw <= mag       ? mag
                : raw <= 2 * mag ? 2 * mag
                : raw <= 5 * mag ? 5 * mag
                                 : 10 * mag;
  double k0 = ceil(a->lo / step);
  int n = 0;
  while (n < 16 && (k0 + n) * step <= a->hi) {
    t[n] = (k0 + n) * step;
    n++;
  }
  return n;
}

/* Ticks m * 10^k inside a for m in ms[0..nm); returns the count, or 0
 * when there would be more than max. */
static int decade_ticks(const axis *a, const double *ms, int nm, int max,
                        double *t) {
  int n = 0;
  for (double k = floor(log10(a->lo)); k <= ceil(log10(a->hi)); k++)
    for (int i = 0; i < nm; i++) {
      double v = ms[i] * pow(10, k);
      if (v < a->lo * (1 - 1e-9) || v > a->hi * (1 + 1e-9)) continue;
      if (n == max || n == 16) return 0;
      t[n++] = v;
    }
  return n;
}

/* The tick values of a: powers of its base (every k-th, at most max); on
 * a base-10 axis with fewer than three powers inside, 1, 2 and 5 times
 * them (or every whole multiple when that gives too few); else round
 * values. Returns the count (at most 16). */
static int axis_ticks(const axis *a, int max, double *t) {
  static const double m125[] = {1, 2, 5}, m13[] = {1, 3};
  static const double m19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  double lb = log(a->base), k0 = ceil(log(a->lo) / lb - 1e-9);
  double k1 = floor(log(a->hi) / lb + 1e-9), step;
  int n = 0;
  if (a->base == 10 && k1 - k0 < 2) {
    n = decade_ticks(a, m125, 3, max, t);
    if (n == 0) n = decade_ticks(a, m13, 2, max, t);
    if (n > 0 && n < 3) {
      double u[16];
      int k = decade_ticks(a, m19, 9, max, u);
      if (k > n) memcpy(t, u, sizeof u), n = k;
    }
    if (n >= 2) return n;
    n = 0;
  }
  if (k1 - k0 < 1) return nice_ticks(a, t);
  step = ceil((k1 - k0 + 1) / max);
  for (double k = ceil(k0 / step) * step; k <= k1 && n < 16; k += step)
    t[n++] = pow(a->base, k);
  return n;
}

/* ' stroke-dasharray="d"' when d is a dash pattern. */
static void put_dash(rep *r, const char *d) {
  if (d && *d) emit(r, " stroke-dasharray=\"%s\"", d);
}

/* Opens the SVG of the current geometry, drawn at its own size (see
 * geom), with its title and a clip path for the plot area. */
static void svg_begin(rep *r, const char *title) {
  const geom *g = r->geo;
  r->n_svg++;
  emit(r,
       "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
       "role=\"img\" font-family=\"Helvetica, Arial, sans-serif\" "
       "font-size=\"%d\">\n<title>",
       g->w, g->h, g->w, g->h, g->font);
  put_text(r, title);
  emit(r,
       "</title>\n<defs><clipPath id=\"clip%d\"><rect x=\"%d\" y=\"%d\" "
       "width=\"%d\" height=\"%d\"/></clipPath></defs>\n",
       r->n_svg, g->pl, g->pt, g->pr - g->pl, g->pb - g->pt);
}

/* Opens a figure: its caption (the title in bold, then the text), and
 * its SVG. */
static void figure_begin(rep *r, const char *title, const char *caption) {
  put(r, "<figure>\n<figcaption><b>");
  put_text(r, title);
  put(r, ".</b> ");
  put_text(r, caption);
  put(r, "</figcaption>\n");
  svg_begin(r, title);
}

/* Opens the group of what is drawn inside the plot area. */
static void clip_begin(rep *r) {
  emit(r, "<g clip-path=\"url(#clip%d)\">\n", r->n_svg);
}

/* Closes the SVG and its figure. */
static void figure_end(rep *r) {
  put(r, "</svg>\n</figure>\n");
}

/* The plot area with grid lines, tick labels and axis titles. */
static void svg_axes(rep *r, const frame *f, const char *xl, const char *yl) {
  const geom *g = r->geo;
  double t[16];
  int n = axis_ticks(&f->x, (g->pr - g->pl) / 48, t);
  emit(r,
       "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" "
       "stroke=\"#999\"/>\n",
       g->pl, g->pt, g->pr - g->pl, g->pb - g->pt);
  for (int i = 0; i < n; i++) {
    double px = amap(&f->x, t[i]);
    emit(r,
         "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
         "stroke=\"#e4e4e4\"/><text x=\"%.1f\" y=\"%d\" "
         "text-anchor=\"middle\">%s</text>\n",
         px, g->pt, px, g->pb, px, g->pb + g->font + 4, fnum(t[i]).s);
  }
  n = axis_ticks(&f->y, (g->pb - g->pt) / 36, t);
  for (int i = 0; i < n; i++) {
    double py = amap(&f->y, t[i]);
    emit(r,
         "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
         "stroke=\"#e4e4e4\"/><text x=\"%d\" y=\"%.1f\" "
         "text-anchor=\"end\">%s</text>\n",
         g->pl, py, g->pr, py, g->pl - 5, py + g->font / 3.0, fnum(t[i]).s);
  }
  emit(r, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"%d\">",
       (g->pl + g->pr) / 2, g->pb + 2 * g->font + 12, g->font + 1);
  put_text(r, xl);
  emit(r,
       "</text>\n<text transform=\"translate(%d,%d) rotate(-90)\" "
       "text-anchor=\"middle\" font-size=\"%d\">",
       g->font, (g->pt + g->pb) / 2, g->font + 1);
  put_text(r, yl);
  put(r, "</text>\n");
}

/* Polylines through the points of (x, y) that can sit on log axes; a
 * missing point breaks the line. */
static void svg_line(rep *r, const frame *f, const double *x, const double *y,
                     size_t n, const char *color, const char *dash,
                     double width) {
  int open = 0;
  for (size_t i = 0; i <= n; i++) {
    int ok = i < n && x[i] > 0 && y[i] > 0 && isfinite(x[i]) && isfinite(y[i]);
    if (ok && !open) {
      emit(r, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"",
           color, width);
      put_dash(r, dash);
      put(r, " points=\"");
      open = 1;
    }
    if (ok)
      emit(r, "%.1f,%.1f ", amap(&f->x, x[i]), amap(&f->y, y[i]));
    else if (open)
      put(r, "\"/>\n"), open = 0;
  }
}

/* A band between lo and hi over x (drawn only when every value is
 * positive). */
static void svg_band(rep *r, const frame *f, const double *x, const double *lo,
                     const double *hi, size_t n, const char *color) {
  for (size_t i = 0; i < n; i++)
    if (!(x[i] > 0 && lo[i] > 0 && hi[i] > 0 && isfinite(hi[i]))) return;
  emit(r,
       "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
       color);
  for (size_t i = 0; i < n; i++)
    emit(r, "%.1f,%.1f ", amap(&f->x, x[i]), amap(&f->y, hi[i]));
  for (size_t i = n; i-- > 0;)
    emit(r, "%.1f,%.1f ", amap(&f->x, x[i]), amap(&f->y, lo[i]));
  put(r, "\"/>\n");
}

/* A marker of kind MK_* centred at (x, y). */
static void svg_marker(rep *r, double x, double y, int kind,
                       const char *color) {
  switch (kind) {
  case MK_DOT:
    emit(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", x, y,
         color);
    break;
  case MK_RING:
    emit(r,
         "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#fff\" "
         "stroke=\"%s\" stroke-width=\"1.8\"/>\n",
         x, y, color);
    break;
  case MK_SQUARE:
    emit(r,
         "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"#fff\" "
         "stroke=\"%s\" stroke-width=\"1.8\"/>\n",
         x - 4.5, y - 4.5, color);
    break;
  case MK_CROSS:
    emit(r,
         "<path d=\"M%.1f %.1fl10 10m0 -10l-10 10\" stroke=\"%s\" "
         "stroke-width=\"2.2\" fill=\"none\"/>\n",
         x - 5, y - 5, color);
    break;
  default: break;
  }
}

/* The sample of one legend item (band, line, marker) at height y. */
static void legend_sample(rep *r, const legend_item *it, int y) {
  int x = r->geo->leg_x;
  if (it->band)
    emit(r,
         "<rect x=\"%d\" y=\"%d\" width=\"28\" height=\"12\" fill=\"%s\" "
         "fill-opacity=\"0.18\"/>\n",
         x, y - 6, it->color.s);
  if (it->line) {
    emit(r,
         "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
         "stroke-width=\"2\"",
         x, y, x + 28, y, it->color.s);
    put_dash(r, it->dash);
    put(r, "/>\n");
  }
  svg_marker(r, x + 14, y, it->marker, it->color.s);
}

/* The legend at the right of the plot: n items, of which the first
 * LEG_MAX are filled in (and LEG_MAX - 1 shown when there are more). */
static void svg_legend(rep *r, const legend_item *it, int n) {
  const geom *g = r->geo;
  int shown = n > LEG_MAX ? LEG_MAX - 1 : n, step = g->font + 8;
  for (int i = 0; i < shown; i++) {
    int y = g->pt + 12 + step * i;
    legend_sample(r, &it[i], y);
    emit(r, "<text x=\"%d\" y=\"%.1f\">", g->leg_x + 34, y + g->font / 3.0);
    put_text(r, it[i].label);
    put(r, "</text>\n");
  }
  if (shown < n)
    emit(r, "<text x=\"%d\" y=\"%d\" fill=\"#555\">+ %d more</text>\n",
         g->leg_x + 34, g->pt + 16 + step * shown, n - shown);
}

/* Sets legend item i's looks and clears its label; returns it. */
static legend_item *legend_at(legend_item *it, int i, const char *color,
                              const char *dash, int marker, int line) {
  legend_item *li = &it[i];
  snprintf(li->color.s, sizeof li->color.s, "%s", color);
  li->dash = dash, li->marker = marker, li->line = line;
  li->band = 0;
  li->label[0] = '\0';
  return li;
}

/* The dashboard's viridis(t) (web/js/api.js): t in [0, 1] between its
 * stops, each channel rounded to the nearest whole number. */
static colour viridis(double t) {
  colour c;
  double x, f;
  size_t i;
  int ch[3];
  if (!isfinite(t)) t = 0;
  x = fmin(1, fmax(0, t)) * (double)(N_VIRIDIS - 1);
  i = (size_t)fmin((double)(N_VIRIDIS - 2), floor(x));
  f = x - (double)i;
  for (int k = 0; k < 3; k++) {
    double v = k_viridis[i][k], w = k_viridis[i + 1][k];
    ch[k] = (int)floor(v + f * (w - v) + 0.5);
  }
  snprintf(c.s, sizeof c.s, "rgb(%d,%d,%d)", ch[0], ch[1], ch[2]);
  return c;
}

/* The colour of α as the dashboard gives it (sweep.js alphaColor): the
 * place of log α in the runs' α range, on 90% of the viridis scale. */
static colour alpha_colour(const rep *r, double alpha) {
  double t = r->a_hi > r->a_lo && alpha > 0
                 ? log(alpha / r->a_lo) / log(r->a_hi / r->a_lo)
                 : 0.5;
  return viridis(t * 0.9);
}

/* The palette's colour of group g (the g-th rank). */
static colour palette_colour(size_t g) {
  colour c;
  snprintf(c.s, sizeof c.s, "%s", k_palette[g % N_PALETTE]);
  return c;
}

/* The colour of group g of c. */
static colour group_colour(const rep *r, const curves *c, size_t g) {
  return c->by_alpha ? alpha_colour(r, c->g[g]) : palette_colour(g);
}

/* Widens [*mn, *mx] to v when v is a positive finite number. */
static void widen(double *mn, double *mx, double v) {
  if (v > 0 && isfinite(v)) *mn = fmin(*mn, v), *mx = fmax(*mx, v);
}

/* ---- curves: loss and drift against alpha or lr --------------------- */

/* Axes for a family of curves: every x value and positive y. Returns 0
 * when there is nothing to plot. */
static int curves_frame(const rep *r, const curves *c, frame *f) {
  double ymn = INFINITY, ymx = -INFINITY, xmn = INFINITY, xmx = -INFINITY;
  for (size_t i = 0; i < c->ng * c->nx; i++)
    widen(&ymn, &ymx, c->y[i]);
  for (size_t i = 0; i < c->nx; i++)
    widen(&xmn, &xmx, c->x[i]);
  if (!(ymn <= ymx) || !(xmn <= xmx)) return 0;
  f->x = axis_make(xmn, xmx, r->geo->pl, r->geo->pr, c->xbase);
  f->y = axis_make(ymn, ymx, r->geo->pb, r->geo->pt, 0);
  return 1;
}

/* Curve g of c: its line and a dot per value. */
static void curve_draw(rep *r, const curves *c, const frame *f, size_t g) {
  const double *y = c->y + g * c->nx;
  colour cc = group_colour(r, c, g);
  const char *col = cc.s, *dash = k_dashes[(g / N_PALETTE) % 4];
  if (c->by_alpha) dash = "";
  svg_line(r, f, c->x, y, c->nx, col, dash, 1.8);
  for (size_t i = 0; i < c->nx; i++)
    if (c->x[i] > 0 && y[i] > 0 && isfinite(y[i]))
      svg_marker(r, amap(&f->x, c->x[i]), amap(&f->y, y[i]), MK_DOT, col);
}

/* The legend items of c; returns how many there are. */
static int curves_legend(const rep *r, const curves *c, legend_item *it) {
  int n = 0;
  for (size_t g = 0; g < c->ng && n < LEG_MAX; g++) {
    colour cc = group_colour(r, c, g);
    const char *dash = c->by_alpha ? "" : k_dashes[(g / N_PALETTE) % 4];
    snprintf(legend_at(it, n++, cc.s, dash, MK_DOT, 1)->label, sizeof it->label,
             "%s%s", c->group, fnum(c->g[g]).s);
  }
  return (int)c->ng;
}

/* A family of curves on log-log axes with a legend; a note when there is
 * nothing to plot. */
static void plot_curves(rep *r, const curves *c, const char *caption) {
  legend_item it[LEG_MAX];
  frame f;
  int n;
  r->geo = c->half ? &k_half : &k_wide;
  if (!curves_frame(r, c, &f)) {
    sbuf b = {{0}, 0};
    sb_add(&b, "%s: nothing to plot (no positive values).", c->title);
    note(r, b.s);
    return;
  }
  figure_begin(r, c->title, caption);
  svg_axes(r, &f, c->xlabel, c->ylabel);
  clip_begin(r);
  for (size_t g = 0; g < c->ng; g++)
    curve_draw(r, c, &f, g);
  put(r, "</g>\n");
  n = curves_legend(r, c, it);
  svg_legend(r, it, n);
  figure_end(r);
}

/* ---- the law plot --------------------------------------------------- */

/* The sweep's α for rank-tied rule k at rank rank. */
static double ref_alpha(const rep *r, int k, double rank) {
  return k_refs[k].coef * pow(rank, k_refs[k].power + r->scale_power);
}

/* The legend text of rule k: its name and, when the sweep's α is not the
 * rule's own words, what it is in the sweep's α. */
static void ref_label(const rep *r, int k, char *buf, size_t size) {
  double e = k_refs[k].power + r->scale_power, coef = k_refs[k].coef;
  numstr c = {""};
  char form[64];
  if (coef != 1) c = fnum(coef);
  if (fabs(e - 1) < 1e-9)
    snprintf(form, sizeof form, "%sr", c.s);
  else if (fabs(e - 0.5) < 1e-9)
    snprintf(form, sizeof form, "%s√r", c.s);
  else if (fabs(e) < 1e-9)
    snprintf(form, sizeof form, "%s", fnum(coef).s);
  else
    snprintf(form, sizeof form, "%s·r^%s", fnum(coef).s, fnum(e).s);
  if (k < 2 && fabs(e - 1) < 1e-9)
    snprintf(buf, size, "rule %s", k_refs[k].title);
  else
    snprintf(buf, size, "rule %s: α = %s", k_refs[k].title, form);
}

/* An α* entry of the analysis as a point: the refined α, else the
 * grid's; returns whether it can sit on log axes. */
static int star_read(const json_t *o, star *s) {
  s->rank = jnum(o, "rank"), s->alpha = jnum(o, "alpha");
  if (!(s->alpha > 0)) s->alpha = jnum(o, "alpha_grid");
  s->lo = jnum(o, "ci_lo"), s->hi = jnum(o, "ci_hi");
  s->edge = jtrue(o, "at_edge"), s->ill = jtrue(o, "ill_determined");
  return s->rank > 0 && s->alpha > 0 && isfinite(s->alpha);
}

/* The full budget's α* points at lr; returns the count, *out is
 * malloc'd. */
static size_t law_points(rep *r, double lr, star **out) {
  const json_t *as = json_object_get(r->full, "alpha_star");
  size_t n = 0;
  *out = zalloc(r, json_array_size(as), sizeof **out);
  for (size_t i = 0; *out && i < json_array_size(as); i++) {
    const json_t *o = json_array_get(as, i);
    if (same(jnum(o, "lr"), lr) && star_read(o, &(*out)[n])) n++;
  }
  return *out ? n : 0;
}

/* The full budget's α* of (lr, rank) into *s; returns whether there is
 * one. */
static int star_of(const rep *r, double lr, double rank, star *s) {
  const json_t *as = json_object_get(r->full, "alpha_star");
  for (size_t i = 0; i < json_array_size(as); i++) {
    const json_t *o = json_array_get(as, i);
    if (same(jnum(o, "lr"), lr) && same(jnum(o, "rank"), rank))
      return star_read(o, s);
  }
  return 0;
}

/* The free and √r fits of one lr. */
static law law_read(const json_t *fr, const json_t *sq) {
  law L;
  L.c = jnum(fr, "c"), L.p = jnum(fr, "p"), L.poor = jtrue(fr, "poor");
  L.sc = jnum(sq, "c"), L.sc_lo = jnum(sq, "c_lo"), L.sc_hi = jnum(sq, "c_hi");
  L.sp = isfinite(jnum(sq, "p")) ? jnum(sq, "p") : 0.5;
  return L;
}

/* The law plot's axes: every point and interval, and every line at the
 * ends of the tested ranks. */
static void law_frame(const rep *r, const star *pt, size_t n, const law *L,
                      frame *f) {
  double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    widen(&xmn, &xmx, pt[i].rank);
    widen(&ymn, &ymx, pt[i].alpha);
    widen(&ymn, &ymx, pt[i].lo);
    widen(&ymn, &ymx, pt[i].hi);
  }
  for (int e = 0; e < 2 && xmn <= xmx; e++) {
    double rr = e ? xmx : xmn;
    widen(&ymn, &ymx, L->c * pow(rr, L->p));
    widen(&ymn, &ymx, L->sc_lo * pow(rr, L->sp));
    widen(&ymn, &ymx, L->sc_hi * pow(rr, L->sp));
    for (int k = 0; k < 3; k++)
      widen(&ymn, &ymx, ref_alpha(r, k, rr));
  }
  f->x = axis_make(xmn, xmx, r->geo->pl, r->geo->pr, 2);
  f->y = axis_make(ymn, ymx, r->geo->pb, r->geo->pt, 2);
}

/* The law plot's lines (√r band and line, free fit, rules), appending
 * their legend items after it[n]; returns the new count. */
static int law_lines(rep *r, const frame *f, const law *L, legend_item *it,
                     int n) {
  double xs[2] = {f->x.lo, f->x.hi}, ys[2], lo[2], hi[2];
  for (int e = 0; e < 2; e++) {
    lo[e] = L->sc_lo * pow(xs[e], L->sp), hi[e] = L->sc_hi * pow(xs[e], L->sp);
    ys[e] = L->sc * pow(xs[e], L->sp);
  }
  svg_band(r, f, xs, lo, hi, 2, k_col_sqrt);
  svg_line(r, f, xs, ys, 2, k_col_sqrt, "", 2.2);
  if (isfinite(L->sc)) {
    legend_item *li = legend_at(it, n++, k_col_sqrt, "", MK_NONE, 1);
    li->band = isfinite(L->sc_lo) && isfinite(L->sc_hi);
    snprintf(li->label, sizeof li->label, "√r fit: α* = %s·√r", fnum(L->sc).s);
  }
  for (int e = 0; e < 2; e++)
    ys[e] = L->c * pow(xs[e], L->p);
  svg_line(r, f, xs, ys, 2, k_col_free, L->poor ? "3 3" : "", 2.4);
  if (isfinite(L->c) && isfinite(L->p))
    snprintf(legend_at(it, n++, k_col_free, L->poor ? "3 3" : "", 0, 1)->label,
             sizeof it->label, "free fit: α* = %s·r^%s%s", fnum(L->c).s,
             fnum(L->p).s, L->poor ? " (poor)" : "");
  for (int k = 0; k < 3; k++) {
    for (int e = 0; e < 2; e++)
      ys[e] = ref_alpha(r, k, xs[e]);
    svg_line(r, f, xs, ys, 2, k_refs[k].color, k_refs[k].dash, 1.4);
    ref_label(r, k,
              legend_at(it, n++, k_refs[k].color, k_refs[k].dash, 0, 1)->label,
              sizeof it->label);
  }
  return n;
}

/* The marker and color of an α* point. */
static int star_marker(const star *s, const char **color) {
  *color = s->edge ? "#c0392b" : s->ill ? k_col_excl : k_col_star;
  return s->edge ? MK_SQUARE : s->ill ? MK_RING : MK_DOT;
}

/* The α* points with their interval bars, flagged ones hollow and
 * labelled (the labels outside the clipped group). */
static void law_marks(rep *r, const frame *f, const star *pt, size_t n) {
  clip_begin(r);
  for (size_t i = 0; i < n; i++) {
    const char *col;
    int mk = star_marker(&pt[i], &col);
    double px = amap(&f->x, pt[i].rank), py = amap(&f->y, pt[i].alpha);
    if (pt[i].lo > 0 && pt[i].hi > 0 && isfinite(pt[i].hi)) {
      double a = amap(&f->y, pt[i].lo), b = amap(&f->y, pt[i].hi);
      emit(r,
           "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8\" stroke=\"%s\" "
           "stroke-width=\"1.3\" fill=\"none\"/>\n",
           px, a, b, px - 4, a, px - 4, b, col);
    }
    svg_marker(r, px, py, mk, col);
  }
  put(r, "</g>\n");
  for (size_t i = 0; i < n; i++) {
    double px = amap(&f->x, pt[i].rank), py = amap(&f->y, pt[i].alpha);
    int left = px > r->geo->pr - 140;
    if (!pt[i].edge && !pt[i].ill) continue;
    emit(r,
         "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" fill=\"%s\" "
         "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\" "
         "text-anchor=\"%s\">%s%s%s</text>\n",
         left ? px - 8 : px + 8, fmax(py - 7, r->geo->pt + 11),
         r->geo->font - 1, pt[i].edge ? "#c0392b" : "#555",
         left ? "end" : "start", pt[i].edge ? "at edge" : "",
         pt[i].edge && pt[i].ill ? ", " : "",
         pt[i].ill ? "ill-determined" : "");
  }
}

/* The legend items of the α* points (plain, at edge, ill-determined). */
static int law_point_legend(const star *pt, size_t n, legend_item *it) {
  int k = 0, edge = 0, ill = 0;
  for (size_t i = 0; i < n; i++)
    edge |= pt[i].edge, ill |= pt[i].ill;
  snprintf(legend_at(it, k++, k_col_star, "", MK_DOT, 0)->label,
           sizeof it->label, "α* with bootstrap interval");
  if (edge)
    snprintf(legend_at(it, k++, "#c0392b", "", MK_SQUARE, 0)->label,
             sizeof it->label, "α* at the grid's edge");
  if (ill)
    snprintf(legend_at(it, k++, k_col_excl, "", MK_RING, 0)->label,
             sizeof it->label, "α* ill-determined");
  return k;
}

/* The log-log plot of α*(r) at lr with the fits and the rules. */
static void plot_law(rep *r, double lr, const law *L) {
  legend_item it[LEG_MAX];
  char title[200];
  star *pt;
  size_t n = law_points(r, lr, &pt);
  frame f;
  int ni;
  r->geo = &k_wide;
  if (n == 0) {
    note(r, "No α* point to plot at this lr.");
    free(pt);
    return;
  }
  law_frame(r, pt, n, L, &f);
  snprintf(title, sizeof title, "α*(r) at lr %s, step %s (%s scaling)",
           fnum(lr).s, fnum(jnum(r->full, "step")).s, r->scaling);
  figure_begin(r, title, k_law_caption);
  svg_axes(r, &f, "rank r", "α* (the sweep's α)");
  ni = law_point_legend(pt, n, it);
  clip_begin(r);
  ni = law_lines(r, &f, L, it, ni);
  put(r, "</g>\n");
  law_marks(r, &f, pt, n);
  svg_legend(r, it, ni);
  figure_end(r);
  free(pt);
}

/* ---- header and summary --------------------------------------------- */

/* "N runs: done a, failed b, …" from the sweep's counts (or the runs when
 * it has none), nonzero states only, and the progress. */
static void counts_text(const rep *r, sbuf *b) {
  static const la_run_state order[LA_RUN_N_STATES] = {
      LA_RUN_DONE,      LA_RUN_STOPPED, LA_RUN_FAILED,  LA_RUN_DIVERGED,
      LA_RUN_CANCELLED, LA_RUN_RUNNING, LA_RUN_WAITING, LA_RUN_QUEUED};
  const json_t *c = json_object_get(r->sweep, "counts");
  const char *sep = ": ";
  long long k[LA_RUN_N_STATES], total = 0;
  double prog = jnum(r->sweep, "progress");
  for (int i = 0; i < LA_RUN_N_STATES; i++) {
    const char *st = la_run_state_names[order[i]];
    k[i] = json_is_object(c) ? jint(c, st, 0)
                             : (long long)count_state(r->runs, st);
    total += k[i];
  }
  sb_add(b, "%lld runs", jint(r->sweep, "n_runs", total));
  for (int i = 0; i < LA_RUN_N_STATES; i++)
    if (k[i])
      sb_add(b, "%s%s %lld", sep, la_run_state_names[order[i]], k[i]),
          sep = ", ";
  if (isfinite(prog)) sb_add(b, " (%s%% finished)", fnum(100 * prog).s);
}

/* Whether no run of the sweep ended with a loss (none done or diverged)
 * although some ended: a sweep that failed, whatever its state says. */
static int nothing_finished(const rep *r) {
  const json_t *c = json_object_get(r->sweep, "counts");
  long long ok, ended;
  if (json_is_object(c)) {
    ok = jint(c, "done", 0) + jint(c, "diverged", 0);
    ended = ok + jint(c, "failed", 0) + jint(c, "cancelled", 0);
  } else {
    ok = (long long)(count_state(r->runs, "done") +
                     count_state(r->runs, "diverged"));
    ended = ok + (long long)(count_state(r->runs, "failed") +
                             count_state(r->runs, "cancelled"));
  }
  return ok == 0 && ended > 0;
}

/* What the banner under the title says of the sweep's state (NULL: no
 * banner, it is done) and whether it is only news (still running). */
static const char *state_lead(const rep *r, int *active) {
  const char *st = jstr(r->sweep, "state");
  *active = 0;
  if (st && strcmp(st, "failed") == 0) return "This sweep failed.";
  if (st && strcmp(st, "cancelled") == 0)
    return "This sweep was cancelled: what follows is partial.";
  if (st && strcmp(st, "active") == 0) {
    *active = 1;
    return "This sweep is still running: what follows is partial.";
  }
  if (nothing_finished(r))
    return "No run of this sweep finished with a loss: every run failed or "
           "was cancelled.";
  return NULL;
}

/* The banner under the title when the sweep is not simply done: failed
 * (with the sweep's error), cancelled, still running. */
static void state_banner(rep *r) {
  int active;
  const char *lead = state_lead(r, &active), *e = jstr(r->sweep, "error");
  if (lead == NULL) return;
  if (r->md)
    put(r, "> **");
  else
    emit(r, "<p class=\"state%s\"><strong>", active ? " active" : "");
  put_text(r, lead);
  put(r, r->md ? "**" : "</strong>");
  if (e && *e) {
    put(r, " Why: ");
    put_text(r, e);
  }
  put(r, r->md ? "\n\n" : "</p>\n");
}

/* The line under the title: id, state, the runs' counts, when
 * generated. */
static void write_sub(rep *r) {
  sbuf b = {{0}, 0};
  const char *state = jstr(r->sweep, "state");
  long long id = jint(r->sweep, "id", -1);
  if (id >= 0) sb_add(&b, "Sweep #%lld · ", id);
  sb_add(&b, "%s · ", state ? state : "state unknown");
  counts_text(r, &b);
  sb_add(&b, " · report generated %s", ftime_utc(la_time_unix()).s);
  put(r, r->md ? "" : "<p class=\"sub\">");
  put_text(r, b.s);
  put(r, r->md ? "\n\n" : "</p>\n");
  state_banner(r);
}

/* The navigation: a link per section (the answer's when there is one). */
static void write_nav(rep *r) {
  const json_t *ss = json_object_get(r->sweep, "search_state");
  put(r, "<nav>");
  if (r->has_answer) put(r, "<a href=\"#answer\">Answer</a> · ");
  put(r, k_nav);
  if (json_array_size(json_object_get(ss, "cells")) > 0 ||
      json_is_object(json_object_get(ss, "halving")))
    put(r, " · <a href=\"#search\">Search along α</a>");
  put(r, "</nav>\n");
}

/* The document's head (HTML: doctype, style, title, navigation). */
static void write_head(rep *r) {
  const char *name = sweep_name(r), *st = jstr(r->sweep, "state");
  int active;
  if (r->md) {
    put(r, "# loralpha report: ");
    put_text(r, name);
    put(r, "\n\n");
    write_sub(r);
    return;
  }
  put(r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
         "\n<meta name=\"viewport\" content=\"width=device-width, "
         "initial-scale=1\">\n<title>loralpha report: ");
  put_text(r, name);
  if (state_lead(r, &active) && !active) {
    put(r, " (");
    put_text(r, st && strcmp(st, "done") ? st : "nothing finished");
    put(r, ")");
  }
  put(r, "</title>\n<style>\n");
  put(r, k_css);
  put(r, "</style>\n</head>\n<body>\n<header>\n<h1>loralpha report: ");
  put_text(r, name);
  put(r, "</h1>\n");
  write_sub(r);
  write_nav(r);
  put(r, "</header>\n");
}

/* ", key value" when obj has key (a string, number or boolean). */
static void sb_field(sbuf *b, const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  if (json_is_string(v))
    sb_add(b, ", %s %s", key, json_string_value(v));
  else if (json_is_number(v))
    sb_add(b, ", %s %s", key, fnum(json_number_value(v)).s);
  else if (json_is_boolean(v))
    sb_add(b, ", %s %s", key, json_is_true(v) ? "yes" : "no");
}

/* A command task: its program and first arguments (templates as given). */
static void command_text(const json_t *task, sbuf *b) {
  const json_t *argv =
      json_object_get(json_object_get(task, "command"), "argv");
  size_t n = json_array_size(argv);
  sb_add(b, "command:");
  for (size_t i = 0; i < n && i < 8; i++)
    sb_add(b, " %.200s", json_string_value(json_array_get(argv, i)));
  if (n > 8) sb_add(b, " … (%zu arguments)", n - 1);
}

/* The task: its kind, shape and the fields that shape the data. */
static void task_text(const json_t *task, sbuf *b) {
  static const char *const keys[] = {
      "activation",  "loss",          "n_train",      "n_eval",
      "target_rank", "target_scale",  "target_decay", "input_decay",
      "noise",       "eval_fraction", "data_seed"};
  const json_t *w = json_object_get(task, "widths");
  const char *kind = jstr(task, "task");
  if (kind != NULL && strcmp(kind, "command") == 0)
    return command_text(task, b);
  sb_add(b, "%s", kind ? kind : "unknown task");
  if (json_array_size(w) > 0) {
    sb_add(b, ", widths ");
    for (size_t i = 0; i < json_array_size(w); i++)
      sb_add(b, "%s%s", i ? "×" : "",
             fnum(json_number_value(json_array_get(w, i))).s);
  } else if (json_object_get(task, "d_in")) {
    sb_add(b, ", %s×%s", fnum(jnum(task, "d_in")).s,
           fnum(jnum(task, "d_out")).s);
  }
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    sb_field(b, task, keys[i]);
}

/* How every run trains: steps, batch, optimizer, schedule, scaling. */
static void training_text(const rep *r, sbuf *b) {
  const json_t *opt = json_object_get(r->spec, "optimizer");
  const json_t *sch = json_object_get(r->spec, "schedule");
  const char *kind = jstr(json_object_get(r->spec, "task"), "task");
  if (kind != NULL && strcmp(kind, "command") == 0) {
    sb_add(b,
           "%s steps, batch %s, the trainer's own optimizer and schedule, "
           "%s scaling",
           fnum(jnum(r->spec, "steps")).s, fnum(jnum(r->spec, "batch")).s,
           r->scaling);
    return;
  }
  sb_add(b, "%s steps, batch %s, %s", fnum(jnum(r->spec, "steps")).s,
         fnum(jnum(r->spec, "batch")).s, name_of(opt, "adamw"));
  sb_field(b, opt, "weight_decay");
  sb_field(b, opt, "momentum");
  sb_field(b, opt, "loraplus_ratio");
  sb_add(b, ", %s schedule", name_of(sch, "constant"));
  sb_field(b, sch, "warmup_steps");
  sb_field(b, sch, "min_lr_ratio");
  sb_add(b, ", %s scaling", r->scaling);
  sb_field(b, r->spec, "diverge_factor");
}

/* One grid axis: its values (the first 12) or its log range. */
static void axis_text(sbuf *b, const char *name, const json_t *ax) {
  const json_t *l2 = json_object_get(ax, "log2"),
               *l10 = json_object_get(ax, "log10");
  const json_t *lim = l2 ? l2 : l10;
  size_t n = json_array_size(ax);
  sb_add(b, "%s%s ", b->n ? "; " : "", name);
  for (size_t i = 0; i < n && i < 12; i++)
    sb_add(b, "%s%s", i ? ", " : "",
           fnum(json_number_value(json_array_get(ax, i))).s);
  if (n > 12) sb_add(b, ", … (%zu values)", n);
  if (lim)
    sb_add(b, "%s^%s … %s^%s (%s values)", l2 ? "2" : "10",
           fnum(json_number_value(json_array_get(lim, 0))).s, l2 ? "2" : "10",
           fnum(json_number_value(json_array_get(lim, 1))).s,
           fnum(jnum(ax, "num")).s);
  if (n == 0 && lim == NULL) sb_add(b, "–");
}

/* The seeds: a count per grid point or a list, and the sweep seed. */
static void seeds_text(const json_t *spec, sbuf *b) {
  const json_t *sd = json_object_get(spec, "seeds");
  if (json_is_array(sd))
    sb_add(b, "%zu listed seeds", json_array_size(sd));
  else if (json_is_integer(sd))
    sb_add(b, "%lld per grid point", (long long)json_integer_value(sd));
  else
    sb_add(b, "1 per grid point");
  if (json_is_integer(json_object_get(spec, "seed")))
    sb_add(b, " (sweep seed %lld)", jint(spec, "seed", 0));
}

/* The analysis' measured.lacks (docs/analysis.md): what no done run sent,
 * as a row, when something is lacking. */
static void measured_row(rep *r, sbuf *b) {
  const json_t *lacks =
      json_object_get(json_object_get(r->analysis, "measured"), "lacks");
  if (json_array_size(lacks) == 0) return;
  sb_clear(b);
  for (size_t i = 0; i < json_array_size(lacks); i++)
    sb_add(b, "%s%s", i ? "; " : "",
           json_string_value(json_array_get(lacks, i)));
  kv(r, "not measured", b->s);
}

/* The summary rows of the spec: description, task, training, grid. */
static void summary_spec(rep *r, sbuf *b) {
  const json_t *grid = json_object_get(r->spec, "grid");
  if (jstr(r->spec, "description"))
    kv(r, "description", jstr(r->spec, "description"));
  sb_clear(b), task_text(json_object_get(r->spec, "task"), b);
  kv(r, "task", b->s);
  sb_clear(b), training_text(r, b);
  kv(r, "training", b->s);
  sb_clear(b);
  axis_text(b, "rank", json_object_get(grid, "rank"));
  axis_text(b, "α", json_object_get(grid, "alpha"));
  axis_text(b, "lr", json_object_get(grid, "lr"));
  kv(r, "grid", b->s);
  sb_clear(b), seeds_text(r->spec, b);
  kv(r, "seeds", b->s);
  measured_row(r, b);
}

/* The runs the analysis left out (a loss that is not a finite number >= 0
 * in the database), first 20 named. */
static void excluded_note(rep *r) {
  const json_t *ex = json_object_get(r->analysis, "excluded"), *e;
  sbuf b = {{0}, 0};
  size_t i, n = json_array_size(ex);
  if (n == 0) return;
  sb_add(&b, "Left out of the analysis (%zu):", n);
  json_array_foreach(ex, i, e) {
    if (i == 20) {
      sb_add(&b, " and %zu more.", n - 20);
      break;
    }
    sb_add(&b, "%s run %lld at step %lld: %s", i ? ";" : "",
           jint(e, "run_id", -1), jint(e, "step", -1),
           jstr(e, "reason") ? jstr(e, "reason") : "?");
  }
  note(r, b.s);
}

/* The summary's state row, flagged when the sweep failed or was
 * cancelled (or nothing finished). */
static void state_row(rep *r) {
  int active;
  row_begin(r);
  cell(r, "state", CELL_KEY);
  cell(r, jstr(r->sweep, "state"),
       state_lead(r, &active) && !active ? CELL_FLAG : CELL_TEXT);
  row_end(r);
}

/* The "Sweep" section: identity, counts, times, spec, analysis. */
static void write_summary(rep *r) {
  static const char *const head[] = {"field", "value"};
  sbuf b = {{0}, 0};
  const json_t *cks = json_object_get(r->analysis, "checkpoints");
  section_begin(r, "sweep", "Sweep");
  table_begin(r, head, 2);
  kv(r, "name", sweep_name(r));
  sb_add(&b, "%lld", jint(r->sweep, "id", -1));
  kv(r, "id", jint(r->sweep, "id", -1) >= 0 ? b.s : NULL);
  state_row(r);
  sb_clear(&b), counts_text(r, &b);
  kv(r, "runs", b.s);
  kv(r, "created", ftime_utc(jnum(r->sweep, "created_at")).s);
  kv(r, "finished", ftime_utc(jnum(r->sweep, "finished_at")).s);
  summary_spec(r, &b);
  sb_clear(&b);
  if (r->analysis)
    sb_add(&b, "computed %s; %zu checkpoints of %s steps; %s scaling",
           ftime_utc(jnum(r->analysis, "computed_at")).s, json_array_size(cks),
           fnum(jnum(r->analysis, "steps")).s, r->scaling);
  else
    sb_add(&b, "not available yet");
  kv(r, "analysis", b.s);
  table_end(r);
  excluded_note(r);
  section_end(r);
}

/* ---- the answer ------------------------------------------------------ */

static const char k_answer_intro[] =
    "The α to use at each tested rank and the lr it goes with (chosen by "
    "loss, docs/analysis.md): the measured α* with its interval, or the law "
    "the data support where α* is not measured well. \"Would lose\": the extra "
    "loss each "
    "rank-tied rule's α is expected to leave against the answer, in percent "
    "of the answer's loss (– when it cannot be estimated, such as a rule's α "
    "outside the grid).";

/* A rule's name for people (the built-in ones), else its own. */
static const char *rule_title(const char *name) {
  if (strcmp(name, "alpha=r") == 0) return "α = r";
  if (strcmp(name, "alpha=2r") == 0) return "α = 2r";
  if (strcmp(name, "rslora16") == 0) return "rsLoRA α = 16";
  return name;
}

/* The analysis' field key (docs/analysis.md: top-level, for its last
 * checkpoint; else in the full-budget checkpoint). Borrowed. */
static const json_t *answer_field(const rep *r, const char *key) {
  const json_t *v = json_object_get(r->analysis, key);
  return v ? v : json_object_get(r->full, key);
}

/* The answers (an array, possibly empty) and the headline (or NULL). */
static const json_t *answers_of(const rep *r) {
  const json_t *a = answer_field(r, "answers");
  return json_is_array(a) ? a : NULL;
}

static const char *headline_of(const rep *r) {
  const char *h = json_string_value(answer_field(r, "headline"));
  return h && *h ? h : NULL;
}

/* The answer of the largest rank (the headline's), or NULL. */
static const json_t *headline_answer(const json_t *answers) {
  const json_t *best = NULL;
  double br = -INFINITY;
  for (size_t i = 0; i < json_array_size(answers); i++) {
    const json_t *o = json_array_get(answers, i);
    if (jnum(o, "rank") > br) best = o, br = jnum(o, "rank");
  }
  return best;
}

/* A source's name for people: "measured", "law_sqrt", "law_free". */
static const char *source_title(const char *src) {
  if (src == NULL) return NULL;
  if (strcmp(src, "measured") == 0) return "measured α*";
  if (strcmp(src, "law_sqrt") == 0) return "√r law";
  if (strcmp(src, "law_free") == 0) return "free fit c·r^p";
  return src;
}

/* Appends to b why answer a should not be read in large type: its α* is
 * ill-determined or at the grid's edge, or the fit it comes from is
 * flagged poor. */
static void answer_doubts(const rep *r, const json_t *a, sbuf *b) {
  const char *src = jstr(a, "source");
  const json_t *fit = NULL;
  if (jtrue(a, "ill_determined"))
    sb_add(b,
           "%sthe loss is nearly flat in α at this rank (α* is "
           "ill-determined: its interval spans more than 3 octaves)",
           b->n ? "; " : "");
  if (jtrue(a, "at_edge"))
    sb_add(b,
           "%sthe best α is at the grid's edge (the true α* may lie "
           "beyond it)",
           b->n ? "; " : "");
  if (src && strcmp(src, "law_sqrt") == 0)
    fit = find_fit(r->full, jnum(a, "lr"), "sqrt");
  else if (src && strcmp(src, "law_free") == 0)
    fit = find_fit(r->full, jnum(a, "lr"), "free");
  if (jtrue(fit, "poor"))
    sb_add(b, "%sthe %s it comes from is a poor fit", b->n ? "; " : "",
           source_title(src));
}

/* The headline: in large type, or as a caution with the reasons. */
static void answer_headline(rep *r, const char *text, const json_t *a) {
  sbuf why = {{0}, 0};
  answer_doubts(r, a, &why);
  if (why.n == 0) {
    put(r, r->md ? "**" : "<p class=\"headline\">");
    put_text(r, text);
    put(r, r->md ? "**\n\n" : "</p>\n");
    return;
  }
  put(r, r->md ? "> **Read with care:** "
               : "<p class=\"warn\"><strong>Read with care:</strong> ");
  put_text(r, text);
  put(r, ". Why: ");
  put_text(r, why.s);
  put(r, r->md ? ".\n\n" : ".</p>\n");
}

/* The distinct rule names of the answers, in order of first appearance
 * (at most MAX_RULES); returns the count. */
static int answer_rules(const json_t *answers, const char **names) {
  int n = 0;
  for (size_t i = 0; i < json_array_size(answers); i++) {
    const json_t *rules = json_object_get(json_array_get(answers, i), "rules");
    for (size_t k = 0; k < json_array_size(rules) && n < MAX_RULES; k++) {
      const char *s = jstr(json_array_get(rules, k), "name");
      int j = 0;
      while (s && j < n && strcmp(names[j], s) != 0)
        j++;
      if (s && j == n) names[n++] = s;
    }
  }
  return n;
}

/* Rule name's cell of answer a: "~4.1% (α 128)", "– (α 128)" or "–". */
static void answer_rule_cell(rep *r, const json_t *a, const char *name) {
  const json_t *rules = json_object_get(a, "rules"), *e = NULL;
  sbuf b = {{0}, 0};
  double pct, al;
  for (size_t k = 0; k < json_array_size(rules) && e == NULL; k++) {
    const char *s = jstr(json_array_get(rules, k), "name");
    if (s && strcmp(s, name) == 0) e = json_array_get(rules, k);
  }
  pct = jnum(e, "loss_pct"), al = jnum(e, "alpha");
  if (isfinite(pct))
    sb_add(&b, "~%.*f%%", fabs(pct) < 10 ? 1 : 0, pct);
  else
    sb_add(&b, "–");
  if (isfinite(al)) sb_add(&b, " (α %s)", fnum(al).s);
  cell(r, b.s, CELL_NUM);
}

/* One row of the answers' table. */
static void answer_row(rep *r, const json_t *a, const char **rules, int nr) {
  sbuf b = {{0}, 0};
  if (jtrue(a, "at_edge")) sb_add(&b, "at edge");
  if (jtrue(a, "ill_determined"))
    sb_add(&b, "%sill-determined", b.n ? ", " : "");
  row_begin(r);
  cell_num(r, jnum(a, "rank"));
  cell_num(r, jnum(a, "alpha"));
  cell(r, fint(jnum(a, "alpha_lo"), jnum(a, "alpha_hi")).s, CELL_NUM);
  cell_num(r, jnum(a, "lr"));
  cell_num(r, jnum(a, "loss"));
  cell(r, source_title(jstr(a, "source")), CELL_TEXT);
  cell(r, jstr(a, "why"), CELL_TEXT);
  cell(r, b.s, CELL_FLAG);
  for (int k = 0; k < nr; k++)
    answer_rule_cell(r, a, rules[k]);
  row_end(r);
}

/* The answers' table: a row per rank, a column per rule. */
static void answer_table(rep *r, const json_t *answers) {
  const char *rules[MAX_RULES],
      *head[8 + MAX_RULES] = {"rank", "α",      "interval", "lr",
                              "loss", "source", "why",      "flags"};
  char titles[MAX_RULES][48];
  int nr = answer_rules(answers, rules);
  for (int k = 0; k < nr; k++) {
    snprintf(titles[k], sizeof titles[k], "%s would lose",
             rule_title(rules[k]));
    head[8 + k] = titles[k];
  }
  para(r, k_answer_intro);
  table_begin(r, head, 8 + nr);
  for (size_t i = 0; i < json_array_size(answers); i++)
    answer_row(r, json_array_get(answers, i), rules, nr);
  table_end(r);
}

/* "The answer": the headline and the answer per rank, when the analysis
 * has them (nothing otherwise). */
static void write_answer(rep *r) {
  const json_t *answers = answers_of(r);
  const char *headline = headline_of(r);
  if (!r->has_answer) return;
  section_begin(r, "answer", "The answer");
  if (headline) answer_headline(r, headline, headline_answer(answers));
  if (json_array_size(answers) > 0) answer_table(r, answers);
  section_end(r);
}

/* ---- the joint optimum ----------------------------------------------- */

static const char k_joint_intro[] =
    "Per rank, the grid point (α, lr) with the lowest mean loss: the best lr "
    "and α* there with its interval (docs/analysis.md, \"The joint "
    "optimum\"). Slope: of log α* against log lr across the lrs, with its "
    "bootstrap interval; −1 means only α·lr matters, 0 that α* does not "
    "depend on lr. \"lr at edge\": the best lr is the smallest or largest "
    "tested, so the best may lie beyond the lr grid.";

/* One rank's row of the joint optimum's table. */
static void joint_row(rep *r, const json_t *o) {
  const json_t *t = json_object_get(o, "tradeoff");
  sbuf b = {{0}, 0};
  if (jtrue(o, "lr_at_edge")) sb_add(&b, "lr at edge");
  if (jtrue(o, "alpha_at_edge")) sb_add(&b, "%sα at edge", b.n ? ", " : "");
  if (jtrue(o, "ill_determined"))
    sb_add(&b, "%sill-determined", b.n ? ", " : "");
  row_begin(r);
  cell_num(r, jnum(o, "rank"));
  cell_num(r, jnum(o, "lr"));
  cell_num(r, jnum(o, "alpha"));
  cell(r, fint(jnum(o, "alpha_lo"), jnum(o, "alpha_hi")).s, CELL_NUM);
  cell_num(r, jnum(o, "loss"));
  cell_num(r, jnum(t, "slope"));
  cell(r, fint(jnum(t, "slope_lo"), jnum(t, "slope_hi")).s, CELL_NUM);
  cell(r, jstr(t, "text"), CELL_TEXT);
  cell(r, b.s, CELL_FLAG);
  row_end(r);
}

/* "The joint optimum (α, lr)" at the full budget, when the analysis has
 * it (nothing otherwise): the pooled trade-off, then a row per rank. */
static void write_joint(rep *r) {
  static const char *const head[] = {"rank",           "best lr",   "α*",
                                     "interval",       "loss",      "slope",
                                     "slope interval", "trade-off", "flags"};
  const json_t *jt = json_object_get(r->full, "joint");
  const json_t *ranks = json_object_get(jt, "ranks");
  sbuf b = {{0}, 0};
  if (json_array_size(ranks) == 0) return;
  section_begin(r, "joint", "The joint optimum (α, lr)");
  if (jstr(json_object_get(jt, "tradeoff"), "text")) {
    sb_add(&b, "All ranks: %s.", jstr(json_object_get(jt, "tradeoff"), "text"));
    para(r, b.s);
  }
  para(r, k_joint_intro);
  table_begin(r, head, 9);
  for (size_t i = 0; i < json_array_size(ranks); i++)
    joint_row(r, json_array_get(ranks, i));
  table_end(r);
  section_end(r);
}

/* ---- the law across lr and budget ----------------------------------- */

static const char k_surface_intro[] =
    "The law α* = c·r^p fitted in every (lr, budget) cell: p of the free "
    "fit with its bootstrap interval, whether that interval holds 0.5 (the "
    "√r law), and the √r law's coefficient c_sqrt (docs/analysis.md, \"The "
    "law across lr and budget\"). Below the table: how c_sqrt and p move "
    "with the learning budget lr·steps.";

/* One (lr, checkpoint) cell's row. */
static void surface_row(rep *r, const json_t *o) {
  const json_t *ok = json_object_get(o, "sqrt_compatible");
  row_begin(r);
  cell_num(r, jnum(o, "lr"));
  cell_int(r, o, "step");
  cell_num(r, jnum(o, "lr_steps"));
  cell_num(r, jnum(o, "p"));
  cell(r, fint(jnum(o, "p_lo"), jnum(o, "p_hi")).s, CELL_NUM);
  cell(r,
       json_is_true(ok)           ? "✓ holds 0.5"
       : json_is_false(ok)        ? "✗ excludes 0.5"
       : jtrue(o, "insufficient") ? "too few ranks"
                                  : "no interval",
       CELL_FLAG);
  cell_num(r, jnum(o, "c_sqrt"));
  cell(r, fint(jnum(o, "c_sqrt_lo"), jnum(o, "c_sqrt_hi")).s, CELL_NUM);
  cell_int(r, o, "n_used");
  row_end(r);
}

/* "The law across lr and budget", when the analysis has it (nothing
 * otherwise): the verdict, a row per cell, the two trends. */
static void write_surface(rep *r) {
  static const char *const head[] = {"lr",     "steps",           "lr·steps",
                                     "p",      "p interval",      "√r law",
                                     "c_sqrt", "c_sqrt interval", "ranks used"};
  const json_t *ls = json_object_get(r->analysis, "law_surface");
  const json_t *cells = json_object_get(ls, "cells");
  sbuf b = {{0}, 0};
  if (json_array_size(cells) == 0) return;
  section_begin(r, "law-surface", "The law across lr and budget");
  if (jstr(ls, "verdict")) { /* up to 2 KiB: put whole, not through sbuf */
    put(r, r->md ? "" : "<p>");
    put_text(r, "Verdict: ");
    put_text(r, jstr(ls, "verdict"));
    put(r, r->md ? ".\n\n" : ".</p>\n");
  }
  para(r, k_surface_intro);
  table_begin(r, head, 9);
  for (size_t i = 0; i < json_array_size(cells); i++)
    surface_row(r, json_array_get(cells, i));
  table_end(r);
  sb_add(&b, "√r coefficient: %s. p: %s.",
         jstr(json_object_get(ls, "c_sqrt_trend"), "text")
             ? jstr(json_object_get(ls, "c_sqrt_trend"), "text")
             : "-",
         jstr(json_object_get(ls, "p_trend"), "text")
             ? jstr(json_object_get(ls, "p_trend"), "text")
             : "-");
  para(r, b.s);
  section_end(r);
}

/* ---- the law -------------------------------------------------------- */

/* The lrs of the full budget's fits and α* points, ascending; *out is
 * malloc'd. */
static size_t full_lrs(rep *r, double **out) {
  const json_t *fits = json_object_get(r->full, "fits");
  const json_t *as = json_object_get(r->full, "alpha_star");
  size_t cap = json_array_size(fits) + json_array_size(as), n;
  *out = zalloc(r, cap, sizeof **out);
  if (*out == NULL) return 0;
  n = gather(fits, "lr", NULL, 0, *out, 0, cap);
  n = gather(as, "lr", NULL, 0, *out, n, cap);
  return uniq(*out, n);
}

/* A fit's residual scatter in octaves ("0.21 octaves"), with the free
 * fit's R² after it (free_fit); "not fitted (2 ranks usable, needs 3)"
 * when the analysis found too few ranks for it. The √r fit's R² is about
 * the mean and may be negative, so only its scatter is shown. */
static widestr r2_text(const json_t *fit, int free_fit) {
  widestr w = {""};
  long long used = jint(fit, "n_used", -1);
  if (jtrue(fit, "insufficient"))
    snprintf(w.s, sizeof w.s, "not fitted (%lld rank%s usable, needs %d)", used,
             used == 1 ? "" : "s", free_fit ? 3 : 2);
  else if (free_fit)
    snprintf(w.s, sizeof w.s, "%s octaves (R² %s)",
             fnum(jnum(fit, "scatter_log2")).s, fnum(jnum(fit, "r2")).s);
  else
    snprintf(w.s, sizeof w.s, "%s octaves", fnum(jnum(fit, "scatter_log2")).s);
  return w;
}

/* The free law as a formula and its figures: the formula in large type
 * unless the fit is poor (then in plain type, marked). */
static void law_free_text(rep *r, const json_t *fr) {
  sbuf b = {{0}, 0};
  numstr c = fnum(jnum(fr, "c")), p = fnum(jnum(fr, "p"));
  widestr ci = fint(jnum(fr, "c_lo"), jnum(fr, "c_hi"));
  widestr pi = fint(jnum(fr, "p_lo"), jnum(fr, "p_hi"));
  int poor = jtrue(fr, "poor");
  if (!json_is_object(fr)) {
    para(r, r->md ? "- Free law: no fit at this lr." : "Free law: no fit.");
    return;
  }
  if (jtrue(fr, "insufficient")) {
    sb_add(&b, "%sFree law: not fitted: %s.", r->md ? "- " : "",
           jstr(fr, "reason") ? jstr(fr, "reason") : "too few ranks");
    para(r, b.s);
    return;
  }
  sb_add(&b, "c = %s%s%s, p = %s%s%s, scatter %s; %s ranks used, %s excluded",
         c.s, *ci.s ? " " : "", ci.s, p.s, *pi.s ? " " : "", pi.s,
         r2_text(fr, 1).s, fnum(jnum(fr, "n_used")).s,
         fnum(jnum(fr, "n_excluded")).s);
  if (r->md && poor)
    emit(r, "- Free law (poor fit): α\\* = %s · r^%s; ", c.s, p.s);
  else if (r->md)
    emit(r, "- **Free law: α\\* = %s · r^%s**; ", c.s, p.s);
  else if (poor)
    emit(r, "<p>Free law (poor fit): α* = %s · r<sup>%s</sup>; ", c.s, p.s);
  else
    emit(r,
         "<p class=\"formula\">α* = <b>%s</b> · r<sup><b>%s</b></sup></p>\n<p>",
         c.s, p.s);
  put_text(r, b.s);
  put(r, r->md ? "\n" : "</p>\n");
}

/* The √r law as a formula and its figures. */
static void law_sqrt_text(rep *r, const json_t *sq) {
  sbuf b = {{0}, 0};
  numstr c = fnum(jnum(sq, "c"));
  widestr ci = fint(jnum(sq, "c_lo"), jnum(sq, "c_hi"));
  if (!json_is_object(sq)) {
    para(r, r->md ? "- √r law: no fit at this lr." : "√r law: no fit.");
    return;
  }
  if (jtrue(sq, "insufficient")) {
    sb_add(&b, "%s√r law: not fitted: %s.", r->md ? "- " : "",
           jstr(sq, "reason") ? jstr(sq, "reason") : "too few ranks");
    para(r, b.s);
    return;
  }
  sb_add(&b, "√r law%s: α* = %s · √r; c = %s%s%s, scatter %s; %s ranks used",
         jtrue(sq, "poor") ? " (poor fit)" : "", c.s, c.s, *ci.s ? " " : "",
         ci.s, r2_text(sq, 0).s, fnum(jnum(sq, "n_used")).s);
  put(r, r->md ? "- " : "<p>");
  put_text(r, b.s);
  put(r, r->md ? "\n" : "</p>\n");
}

/* How to read R² and the intervals, under every table or text of fits. */
static void fit_note(rep *r) {
  note(r, "How to read the fits. The scatter is the RMS distance of the "
          "ranks' α* from the law (weighted as in the fit), in octaves: 0.5 "
          "means α* lies a factor √2 off the line, typically. The free fit's "
          "R² is the share of the spread of log α* across the ranks used "
          "that its line explains; the √r fit has p fixed at 0.5, so its R² "
          "(in the analysis' JSON) is taken about the mean and is negative "
          "when the √r line does worse than one α for every rank, which is "
          "why only its scatter is shown. A law needs one rank more than its "
          "parameters (the free fit 3, the √r fit 2): with fewer it is not "
          "fitted, since a line through 2 points fits them exactly whatever "
          "the law. Intervals [lo, hi] come from refitting "
          "bootstrap resamples of the seeds; read them as roughly 90% "
          "intervals (docs/analysis.md). A fit flagged poor is never shown "
          "in large type.");
}

/* Appends why a fit is poor to b when its poor flag is set; min_used:
 * the ranks the fit needs (3 for the free fit, 2 for the √r fit, whose
 * p interval is not a reason). */
static void poor_reasons(sbuf *b, const json_t *fit, const char *what,
                         long long min_used) {
  double r2 = jnum(fit, "r2"), pw = jnum(fit, "p_hi") - jnum(fit, "p_lo");
  long long used = jint(fit, "n_used", -1);
  size_t start;
  if (!jtrue(fit, "poor")) return;
  sb_add(b, "%s%s: ", b->n ? " " : "", what);
  start = b->n;
  if (used >= 0 && used < min_used)
    sb_add(b, "only %lld rank%s used", used, used == 1 ? "" : "s");
  if (r2 < 0.9)
    sb_add(b, "%sR² %s below 0.9", b->n > start ? "; " : "", fnum(r2).s);
  if (min_used == 3 && pw > 0.5)
    sb_add(b, "%sp interval %s wide (over 0.5)", b->n > start ? "; " : "",
           fnum(pw).s);
  if (b->n == start) sb_add(b, "flagged poor by the analysis");
  sb_add(b, ".");
}

/* A warning when either fit at an lr is poor, with the reasons. */
static void poor_warning(rep *r, const json_t *fr, const json_t *sq) {
  sbuf b = {{0}, 0};
  poor_reasons(&b, fr, "free law", 3);
  poor_reasons(&b, sq, "√r law", 2);
  if (b.n == 0) return;
  put(r, r->md ? "- **Warning: poor fit.** "
               : "<p class=\"warn\"><strong>Warning: poor fit.</strong> ");
  put_text(r, b.s);
  put_text(r, " Treat the law at this lr with caution.");
  put(r, r->md ? "\n" : "</p>\n");
}

/* The law at one lr: the fits as text, a warning if poor, the plot. */
static void law_for_lr(rep *r, double lr) {
  const json_t *fr = find_fit(r->full, lr, "free");
  const json_t *sq = find_fit(r->full, lr, "sqrt");
  law L = law_read(fr, sq);
  char h[64];
  snprintf(h, sizeof h, "lr = %s", fnum(lr).s);
  subhead(r, h);
  law_free_text(r, fr);
  law_sqrt_text(r, sq);
  poor_warning(r, fr, sq);
  if (r->md)
    put(r, "\n");
  else
    plot_law(r, lr, &L);
}

/* "The law": per lr at the full budget, the fits and the plot. */
static void write_law(rep *r) {
  double *lrs = NULL;
  size_t n = 0;
  sbuf b = {{0}, 0};
  section_begin(r, "law", "The law");
  if (r->analysis == NULL)
    note(r, k_no_analysis);
  else if (r->full == NULL)
    note(r, "The analysis has no checkpoint yet (no run has finished).");
  else
    n = full_lrs(r, &lrs);
  if (r->full && n == 0) note(r, "No fit at the full budget yet.");
  if (n > 0) {
    sb_add(&b,
           "Weighted fits of log α* = log c + p·log r across ranks at step %s "
           "(%s%% of the budget), in the sweep's α (%s scaling); intervals "
           "from the bootstrap.",
           fnum(jnum(r->full, "step")).s,
           fnum(100 * jnum(r->full, "fraction")).s, r->scaling);
    para(r, b.s);
    fit_note(r);
  }
  for (size_t i = 0; i < n; i++)
    law_for_lr(r, lrs[i]);
  free(lrs);
  section_end(r);
}

/* ---- α*(r) and the budget ------------------------------------------- */

/* One row of the α* table. */
static void star_row(rep *r, const json_t *o) {
  sbuf b = {{0}, 0};
  if (jtrue(o, "at_edge")) sb_add(&b, "at edge");
  if (jtrue(o, "flat")) sb_add(&b, "%sflat", b.n ? ", " : "");
  if (jtrue(o, "ill_determined"))
    sb_add(&b, "%sill-determined", b.n ? ", " : "");
  row_begin(r);
  cell_num(r, jnum(o, "rank"));
  cell_num(r, jnum(o, "lr"));
  cell_num(r, jnum(o, "alpha_grid"));
  cell_num(r, jnum(o, "alpha"));
  cell(r, fint(jnum(o, "ci_lo"), jnum(o, "ci_hi")).s, CELL_NUM);
  cell_num(r, jnum(o, "loss"));
  cell_int(r, o, "seeds");
  cell(r, b.s, CELL_FLAG);
  row_end(r);
}

/* "α*(r)": every α* at the full budget. */
static void write_star_table(rep *r) {
  static const char *const head[] = {"rank",       "lr",       "grid α*",
                                     "refined α*", "interval", "loss",
                                     "seeds",      "flags"};
  const json_t *as = json_object_get(r->full, "alpha_star");
  section_begin(r, "alpha-star", "α*(r) at the full budget");
  if (json_array_size(as) == 0) {
    note(r, r->analysis ? "No α* yet." : k_no_analysis_short);
  } else {
    para(r, "The grid α with the lowest mean eval loss over seeds, refined "
            "by a parabola in log α, with its bootstrap interval. At edge: "
            "the best α is the grid's smallest or largest (widen the grid); "
            "flat: the mean loss stays within 1% (or one standard error) of "
            "the best over more than 2 octaves of α; ill-determined: the "
            "bootstrap and flat intervals together span more than 3 "
            "octaves.");
    table_begin(r, head, 8);
    for (size_t i = 0; i < json_array_size(as); i++)
      star_row(r, json_array_get(as, i));
    table_end(r);
  }
  section_end(r);
}

/* One row of the budget table: a checkpoint's fits at lr. */
static void budget_row(rep *r, const json_t *ck, double lr) {
  const json_t *fr = find_fit(ck, lr, "free"), *sq = find_fit(ck, lr, "sqrt");
  sbuf b = {{0}, 0};
  int poor = jtrue(fr, "poor") || jtrue(sq, "poor");
  row_begin(r);
  sb_add(&b, "%s%%", fnum(100 * jnum(ck, "fraction")).s);
  cell(r, b.s, CELL_NUM);
  cell_num(r, jnum(ck, "step"));
  cell_num(r, lr);
  cell_num(r, jnum(fr, "c"));
  cell(r, fint(jnum(fr, "c_lo"), jnum(fr, "c_hi")).s, CELL_NUM);
  cell_num(r, jnum(fr, "p"));
  cell(r, fint(jnum(fr, "p_lo"), jnum(fr, "p_hi")).s, CELL_NUM);
  cell(r, r2_text(fr, 1).s, CELL_NUM);
  cell_num(r, jnum(sq, "c"));
  cell(r, fint(jnum(sq, "c_lo"), jnum(sq, "c_hi")).s, CELL_NUM);
  cell(r, r2_text(sq, 0).s, CELL_NUM);
  sb_clear(&b);
  sb_add(&b, "%s / %s", fnum(jnum(fr, "n_used")).s,
         fnum(jnum(fr, "n_excluded")).s);
  cell(r, b.s, CELL_NUM);
  cell(r, poor ? "poor" : "ok", poor ? CELL_FLAG : CELL_TEXT);
  row_end(r);
}

/* "How the law moves with the budget": c and p per checkpoint and lr. */
static void write_budget(rep *r) {
  static const char *const head[] = {"budget",     "step",
                                     "lr",         "c",
                                     "c interval", "p",
                                     "p interval", "scatter",
                                     "√r c",       "√r c interval",
                                     "√r scatter", "ranks used / excluded",
                                     "fit"};
  const json_t *cks = json_object_get(r->analysis, "checkpoints");
  section_begin(r, "budget", "How the law moves with the budget");
  if (json_array_size(cks) == 0) {
    note(r, r->analysis ? "No checkpoint yet." : k_no_analysis_short);
    section_end(r);
    return;
  }
  para(r, "The free fit (c, p) and the √r fit's c at each checkpoint of the "
          "training budget (the last eval at or before that step).");
  table_begin(r, head, 13);
  for (size_t i = 0; i < json_array_size(cks); i++) {
    const json_t *ck = json_array_get(cks, i);
    double *lrs;
    size_t n = distinct(r, json_object_get(ck, "fits"), "lr", NULL, 0, &lrs);
    for (size_t k = 0; k < n; k++)
      budget_row(r, ck, lrs[k]);
    free(lrs);
  }
  table_end(r);
  fit_note(r);
  section_end(r);
}

/* ---- heuristics ----------------------------------------------------- */

/* The distinct rule names of reg in order of first appearance (at most
 * MAX_RULES); returns the count. */
static int rule_names(const json_t *reg, const char **names) {
  int n = 0;
  for (size_t i = 0; i < json_array_size(reg) && n < MAX_RULES; i++) {
    const char *s = jstr(json_array_get(reg, i), "rule");
    int k = 0;
    if (s == NULL) continue;
    while (k < n && strcmp(names[k], s) != 0)
      k++;
    if (k == n) names[n++] = s;
  }
  return n;
}

/* The regret entry of (lr, rank, rule), or NULL. */
static const json_t *find_regret(const json_t *reg, double lr, double rank,
                                 const char *rule) {
  for (size_t i = 0; i < json_array_size(reg); i++) {
    const json_t *o = json_array_get(reg, i);
    const char *s = jstr(o, "rule");
    if (s && strcmp(s, rule) == 0 && same(jnum(o, "lr"), lr) &&
        same(jnum(o, "rank"), rank))
      return o;
  }
  return NULL;
}

/* One rule's cell: regret, α and loss, or why there is none. */
static void regret_cell(rep *r, const json_t *e, int worst) {
  sbuf b = {{0}, 0};
  double g = jnum(e, "regret"), a = jnum(e, "alpha");
  if (isfinite(g))
    sb_add(&b, "%s (α %s, loss %s)", fpct(g).s, fnum(a).s,
           fnum(jnum(e, "loss")).s);
  else if (isfinite(a))
    sb_add(&b, "outside grid (α %s)", fnum(a).s);
  else
    sb_add(&b, "–");
  cell(r, b.s, worst ? CELL_WORST : CELL_NUM);
}

/* Counts regret g of a rule at (rank, lr) into its statistics. */
static void stat_add(rule_stat *s, double g, double rank, double lr) {
  if (!isfinite(g)) return;
  s->sum += g;
  if (s->n++ == 0 || g > s->worst)
    s->worst = g, s->worst_rank = rank, s->worst_lr = lr;
}

/* The row of (lr, rank): α*, best loss and each rule's cell, the worst
 * highlighted. */
static void regret_row(rep *r, const json_t *reg, double lr, double rank,
                       const char **rules, int nr, rule_stat *st) {
  const json_t *e[MAX_RULES];
  int worst = -1;
  double best = NAN;
  for (int k = 0; k < nr; k++) {
    double g;
    e[k] = find_regret(reg, lr, rank, rules[k]);
    g = jnum(e[k], "regret");
    if (!isfinite(best)) best = jnum(e[k], "best_loss");
    if (g > 1e-12 && (worst < 0 || g > jnum(e[worst], "regret"))) worst = k;
    stat_add(&st[k], g, rank, lr);
  }
  row_begin(r);
  cell_num(r, rank);
  cell_num(r, lr);
  cell_num(r, star_alpha(r, lr, rank));
  cell_num(r, best);
  for (int k = 0; k < nr; k++)
    regret_cell(r, e[k], k == worst);
  row_end(r);
}

/* Per rule over all rows: mean and worst regret; the worst rule overall
 * highlighted and named. */
static void regret_summary(rep *r, const char **rules, int nr,
                           const rule_stat *st) {
  static const char *const head[] = {"rule", "ranks compared", "mean regret",
                                     "worst regret", "worst at"};
  sbuf b = {{0}, 0};
  int w = -1;
  for (int k = 0; k < nr; k++)
    if (st[k].n && (w < 0 || st[k].sum / st[k].n > st[w].sum / st[w].n)) w = k;
  subhead(r, "By rule");
  table_begin(r, head, 5);
  for (int k = 0; k < nr; k++) {
    row_begin(r);
    cell(r, rule_title(rules[k]), CELL_TEXT);
    sb_clear(&b), sb_add(&b, "%ld", st[k].n);
    cell(r, b.s, CELL_NUM);
    cell(r, fpct(st[k].n ? st[k].sum / st[k].n : NAN).s,
         k == w ? CELL_WORST : CELL_NUM);
    cell(r, fpct(st[k].n ? st[k].worst : NAN).s, CELL_NUM);
    sb_clear(&b);
    if (st[k].n)
      sb_add(&b, "rank %s, lr %s", fnum(st[k].worst_rank).s,
             fnum(st[k].worst_lr).s);
    cell(r, st[k].n ? b.s : NULL, CELL_TEXT);
    row_end(r);
  }
  table_end(r);
  sb_clear(&b);
  if (w >= 0)
    sb_add(&b, "Worst rule overall: %s, %s mean regret.", rule_title(rules[w]),
           fpct(st[w].sum / st[w].n).s);
  if (w >= 0) para(r, b.s);
}

/* The regret tables of the full budget. */
static void regret_tables(rep *r, const json_t *reg) {
  const char *rules[MAX_RULES],
      *head[4 + MAX_RULES] = {"rank", "lr", "α*", "best loss"};
  rule_stat st[MAX_RULES];
  int nr = rule_names(reg, rules);
  double *lrs;
  size_t nl = distinct(r, reg, "lr", NULL, 0, &lrs);
  memset(st, 0, sizeof st);
  for (int k = 0; k < nr; k++)
    head[4 + k] = rule_title(rules[k]);
  para(r, "Mean loss at the α each rule gives (read off the loss curve in "
          "log α; none outside the grid) against the loss at α*: regret = "
          "loss / best loss − 1. The worst rule of each row is highlighted.");
  table_begin(r, head, 4 + nr);
  for (size_t i = 0; i < nl; i++) {
    double *rk;
    size_t n = distinct(r, reg, "rank", "lr", lrs[i], &rk);
    for (size_t j = 0; j < n; j++)
      regret_row(r, reg, lrs[i], rk[j], rules, nr, st);
    free(rk);
  }
  table_end(r);
  regret_summary(r, rules, nr, st);
  free(lrs);
}

/* "Heuristics": what the rank-tied rules lose at the full budget. */
static void write_heuristics(rep *r) {
  const json_t *reg = json_object_get(r->full, "regret");
  section_begin(r, "heuristics", "Heuristics");
  if (r->analysis == NULL)
    note(r, k_no_analysis_short);
  else if (json_array_size(reg) == 0)
    note(r, "No heuristic compared at the full budget yet.");
  else
    regret_tables(r, reg);
  section_end(r);
}

/* ---- loss against alpha --------------------------------------------- */

/* The loss of the runs at one lr on the (rank, α) grid: at k = i * na + j
 * for rank rk[i] and α al[j], the mean final eval loss of the done runs
 * over seeds (NaN where none is done), the smallest and largest of them
 * (the seeds' spread) and the number of diverged runs. */
typedef struct lgrid {
  double lr;
  double *rk, *al; /* ascending */
  size_t nr, na;
  double *m, *lo, *hi;
  unsigned char *dv;
} lgrid;

/* What is marked on a rank's loss plot: its α* with the interval, and
 * the α each rank-tied rule gives (NaN: not marked). */
typedef struct rank_marks {
  star st;
  int has_star;
  double rule[RANK_RULES];
} rank_marks;

static const char k_loss_key[] =
    "Each plot is one rank with its own loss axis (so that every rank's "
    "curve can be read, however small its losses). Line and dots: the mean "
    "final eval loss of the done runs over seeds, in the rank's colour on "
    "the dashboard; vertical bars: the range over seeds; crosses: a run "
    "that diverged (at the top when every seed there diverged). Vertical "
    "lines: α* at the full budget (grey band: its interval; grey line: "
    "ill-determined or at the grid's edge) and the α of each rule:";

/* Fills G's statistics from the done and diverged runs at G->lr.
 * Returns 0 or LA_ENOMEM. */
static int loss_grid(rep *r, lgrid *G) {
  size_t na = G->na, n = G->nr * G->na;
  int *cnt = zalloc(r, n, sizeof *cnt);
  if (cnt == NULL) return LA_ENOMEM;
  for (size_t k = 0; k < n; k++)
    G->lo[k] = INFINITY, G->hi[k] = -INFINITY;
  for (size_t k = 0; k < json_array_size(r->runs); k++) {
    const json_t *o = json_array_get(r->runs, k);
    const char *st = jstr(o, "state");
    long i = index_of(G->rk, G->nr, jnum(o, "rank"));
    long j = index_of(G->al, na, jnum(o, "alpha"));
    double loss = jnum(o, "final_eval_loss");
    size_t c;
    if (i < 0 || j < 0 || st == NULL || !same(jnum(o, "lr"), G->lr)) continue;
    c = (size_t)i * na + (size_t)j;
    if (strcmp(st, "diverged") == 0 && G->dv[c] < 255) {
      G->dv[c]++;
    } else if (strcmp(st, "done") == 0 && isfinite(loss)) {
      G->m[c] += loss, cnt[c]++;
      G->lo[c] = fmin(G->lo[c], loss), G->hi[c] = fmax(G->hi[c], loss);
    }
  }
  for (size_t k = 0; k < n; k++)
    if (cnt[k] == 0)
      G->m[k] = G->lo[k] = G->hi[k] = NAN;
    else
      G->m[k] /= cnt[k];
  free(cnt);
  return 0;
}

/* The mean losses at lr as a table: a row per α, a column per rank, and
 * a last row of α* at the full budget when there is an analysis. */
static void loss_table(rep *r, const lgrid *G) {
  put(r, "| α |");
  for (size_t i = 0; i < G->nr; i++)
    emit(r, " r = %s |", fnum(G->rk[i]).s);
  put(r, "\n| --- |");
  for (size_t i = 0; i < G->nr; i++)
    put(r, " --- |");
  put(r, "\n");
  for (size_t j = 0; j < G->na; j++) {
    emit(r, "| %s |", fnum(G->al[j]).s);
    for (size_t i = 0; i < G->nr; i++) {
      size_t k = i * G->na + j;
      if (G->dv[k] && !isfinite(G->m[k]))
        put(r, " diverged |");
      else if (G->dv[k])
        emit(r, " %s (%d diverged) |", fnum(G->m[k]).s, G->dv[k]);
      else
        emit(r, " %s |", fnum(G->m[k]).s);
    }
    put(r, "\n");
  }
  if (r->full) {
    put(r, "| α\\* (full budget) |");
    for (size_t i = 0; i < G->nr; i++) {
      star st;
      emit(r, " %s |",
           fnum(star_of(r, G->lr, G->rk[i], &st) ? st.alpha : NAN).s);
    }
    put(r, "\n");
  }
  put(r, "\n");
}

/* The marks of rank i of G: its α* and the rules' α (those within 16
 * times the grid's ends; a rule further out would squeeze the grid). */
static rank_marks rank_marks_of(const rep *r, const lgrid *G, size_t i) {
  rank_marks mk;
  double a0 = G->al[0] / 16, a1 = G->al[G->na - 1] * 16;
  memset(&mk, 0, sizeof mk);
  mk.has_star = star_of(r, G->lr, G->rk[i], &mk.st);
  for (int k = 0; k < RANK_RULES; k++) {
    double a = ref_alpha(r, k, G->rk[i]);
    mk.rule[k] = a >= a0 && a <= a1 ? a : NAN;
  }
  return mk;
}

/* The axes of rank i's plot: the grid's α, the marks, and the rank's own
 * losses (means and seed ranges). Returns 0 when it has no loss. */
static int rank_frame(const rep *r, const lgrid *G, size_t i,
                      const rank_marks *mk, frame *f) {
  double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
  const geom *g = r->geo;
  for (size_t j = 0; j < G->na; j++) {
    size_t k = i * G->na + j;
    widen(&xmn, &xmx, G->al[j]);
    widen(&ymn, &ymx, G->m[k]);
    widen(&ymn, &ymx, G->lo[k]);
    widen(&ymn, &ymx, G->hi[k]);
  }
  if (mk->has_star) widen(&xmn, &xmx, mk->st.alpha);
  for (int k = 0; k < RANK_RULES; k++)
    widen(&xmn, &xmx, mk->rule[k]);
  if (!(ymn <= ymx) || !(xmn <= xmx)) return 0;
  f->x = axis_make(xmn, xmx, g->pl, g->pr, 2);
  f->y = axis_make(ymn, ymx, g->pb, g->pt, 10);
  return 1;
}

/* A vertical line at α = a across the plot, with a tooltip. */
static void vline(rep *r, const frame *f, double a, const char *cls,
                  const char *color, const char *dash, const char *tip) {
  double px = amap(&f->x, a);
  emit(r,
       "<line class=\"%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
       "stroke=\"%s\" stroke-width=\"1.6\"",
       cls, px, r->geo->pt, px, r->geo->pb, color);
  put_dash(r, dash);
  put(r, "><title>");
  put_text(r, tip);
  put(r, "</title></line>\n");
}

/* α*'s interval as a grey band, α* and the rules' α as vertical lines. */
static void rank_mark_lines(rep *r, const frame *f, const rank_marks *mk) {
  sbuf b = {{0}, 0};
  const star *s = &mk->st;
  if (mk->has_star && s->lo > 0 && s->hi > 0 && isfinite(s->hi)) {
    double a = amap(&f->x, s->lo), z = amap(&f->x, s->hi);
    emit(r,
         "<rect class=\"star-band\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
         "height=\"%d\" fill=\"#000\" fill-opacity=\"0.08\"/>\n",
         a, r->geo->pt, fmax(z - a, 1), r->geo->pb - r->geo->pt);
  }
  if (mk->has_star) {
    sb_add(&b, "α* = %s %s%s%s", fnum(s->alpha).s, fint(s->lo, s->hi).s,
           s->edge ? " (at the grid's edge)" : "",
           s->ill ? " (ill-determined)" : "");
    vline(r, f, s->alpha, "mark-star",
          s->edge || s->ill ? k_col_excl : k_col_star, "", b.s);
  }
  for (int k = 0; k < RANK_RULES; k++) {
    if (!isfinite(mk->rule[k])) continue;
    sb_clear(&b);
    sb_add(&b, "%s: α = %s", k_refs[k].title, fnum(mk->rule[k]).s);
    vline(r, f, mk->rule[k], "mark-rule", k_refs[k].color, k_refs[k].dash, b.s);
  }
}

/* Rank i's seed ranges, mean line, dots and diverged crosses. */
static void rank_points(rep *r, const frame *f, const lgrid *G, size_t i,
                        const char *col) {
  const double *m = G->m + i * G->na, *lo = G->lo + i * G->na;
  const double *hi = G->hi + i * G->na;
  const unsigned char *dv = G->dv + i * G->na;
  for (size_t j = 0; j < G->na; j++)
    if (lo[j] > 0 && hi[j] > lo[j] && isfinite(hi[j]))
      emit(r,
           "<line class=\"spread\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
           "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\" "
           "stroke-opacity=\"0.45\"/>\n",
           amap(&f->x, G->al[j]), amap(&f->y, lo[j]), amap(&f->x, G->al[j]),
           amap(&f->y, hi[j]), col);
  svg_line(r, f, G->al, m, G->na, col, "", 1.8);
  for (size_t j = 0; j < G->na; j++) {
    int has = m[j] > 0 && isfinite(m[j]);
    double px = amap(&f->x, G->al[j]);
    if (has) svg_marker(r, px, amap(&f->y, m[j]), MK_DOT, col);
    if (dv[j])
      svg_marker(r, px, has ? amap(&f->y, m[j]) : r->geo->pt + 8, MK_CROSS,
                 col);
  }
}

/* The loss of rank i against α at G's lr: a small plot of its own. */
static void rank_plot(rep *r, const lgrid *G, size_t i) {
  rank_marks mk = rank_marks_of(r, G, i);
  colour col = palette_colour(i);
  char title[128];
  frame f;
  r->geo = &k_small;
  snprintf(title, sizeof title, "Loss against α, r = %s, lr %s",
           fnum(G->rk[i]).s, fnum(G->lr).s);
  if (!rank_frame(r, G, i, &mk, &f)) return;
  put(r, "<figure>\n");
  svg_begin(r, title);
  svg_axes(r, &f, "α", "final eval loss");
  clip_begin(r);
  rank_mark_lines(r, &f, &mk);
  rank_points(r, &f, G, i, col.s);
  put(r, "</g>\n");
  emit(r, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\" fill=\"%s\">r = %s",
       r->geo->pl, r->geo->pt - 10, col.s, fnum(G->rk[i]).s);
  if (mk.has_star)
    emit(r, "<tspan font-weight=\"normal\" fill=\"#444\"> · α* ≈ %s</tspan>",
         fnum(mk.st.alpha).s);
  put(r, "</text>\n");
  figure_end(r);
}

/* The key of the rank plots: the text, then a sample of each rule's
 * line. */
static void rank_key(rep *r) {
  put(r, "<p class=\"key\">");
  put_text(r, k_loss_key);
  emit(r, "<span class=\"sw\" style=\"border-color:%s\"></span>α*", k_col_star);
  for (int k = 0; k < RANK_RULES; k++) {
    emit(r,
         "<span class=\"sw\" style=\"border-color:%s;border-top-style:%s\">"
         "</span>",
         k_refs[k].color, strcmp(k_refs[k].dash, "2 3") ? "dashed" : "dotted");
    put_text(r, k_refs[k].title);
  }
  put(r, ".</p>\n");
}

/* The small plots of every rank at G's lr, with their key. */
static void loss_plots(rep *r, const lgrid *G) {
  char h[64];
  snprintf(h, sizeof h, "Final eval loss against α at lr %s", fnum(G->lr).s);
  subhead(r, h);
  put(r, "<div class=\"ranks\">\n");
  for (size_t i = 0; i < G->nr; i++)
    rank_plot(r, G, i);
  put(r, "</div>\n");
}

/* The loss against α at one lr, from the runs. */
static void loss_for_lr(rep *r, double lr) {
  lgrid G = {lr, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL};
  size_t n;
  G.nr = distinct(r, r->runs, "rank", "lr", lr, &G.rk);
  G.na = distinct(r, r->runs, "alpha", "lr", lr, &G.al);
  n = G.nr * G.na;
  if (G.nr > 0 && G.na > 0 && n <= MAX_CELLS) {
    G.m = zalloc(r, n, sizeof *G.m), G.dv = zalloc(r, n, sizeof *G.dv);
    G.lo = zalloc(r, n, sizeof *G.lo), G.hi = zalloc(r, n, sizeof *G.hi);
  }
  if (G.m && G.dv && G.lo && G.hi && loss_grid(r, &G) == 0) {
    if (r->md) {
      char h[64];
      snprintf(h, sizeof h, "lr = %s", fnum(lr).s);
      subhead(r, h);
      loss_table(r, &G);
    } else {
      loss_plots(r, &G);
    }
  }
  free(G.rk), free(G.al), free(G.m), free(G.dv), free(G.lo), free(G.hi);
}

/* "Loss against alpha": per lr, from the runs. */
static void write_loss(rep *r) {
  double *lrs;
  size_t n = distinct(r, r->runs, "lr", NULL, 0, &lrs);
  section_begin(r, "loss", "Loss against α");
  if (n == 0)
    note(r, "No runs.");
  else
    para(r, "Final eval loss of the done runs, mean over seeds; failed and "
            "unfinished runs are left out, diverged ones marked.");
  if (n > 0 && !r->md) rank_key(r);
  for (size_t i = 0; i < n; i++)
    loss_for_lr(r, lrs[i]);
  free(lrs);
  section_end(r);
}

/* ---- signal and drift ----------------------------------------------- */

/* The target-aware figures when the drift table has any, else the
 * target-free ones (tasks without a known target). */
static dmetric drift_metric(const json_t *d) {
  dmetric m = {"drift_ratio", "signal", "Drift ratio", "Signal"};
  dmetric tf = {"mech_ratio", "tf_signal", "Mechanism ratio (target-free)",
                "Target-free signal"};
  for (size_t i = 0; i < json_array_size(d); i++)
    if (isfinite(jnum(json_array_get(d, i), "drift_ratio"))) return m;
  return tf;
}

/* m[g * nx + i] = key of the slice's row at gv[g] and xv[i] (NaN where
 * there is none). */
static void fill_slice(const dslice *s, const char *key, double *m) {
  for (size_t i = 0; i < s->ng * s->nx; i++)
    m[i] = NAN;
  for (size_t k = 0; k < json_array_size(s->d); k++) {
    const json_t *o = json_array_get(s->d, k);
    long g = index_of(s->gv, s->ng, jnum(o, s->gkey));
    long i = index_of(s->xv, s->nx, jnum(o, s->xkey));
    if (g >= 0 && i >= 0 && same(jnum(o, s->fkey), s->fval))
      m[g * s->nx + i] = jnum(o, key);
  }
}

/* One plot of the slice: key against its x, a curve per group. */
static void slice_plot(rep *r, const dslice *s, const char *key,
                       const char *name, double *m) {
  char title[160];
  int vs_lr = strcmp(s->xkey, "lr") == 0;
  curves c = {0};
  fill_slice(s, key, m);
  snprintf(title, sizeof title, "%s against %s at %s %s", name,
           vs_lr ? "lr" : "α", vs_lr ? "rank" : "lr", fnum(s->fval).s);
  c.title = title, c.ylabel = name;
  c.xlabel = vs_lr ? "learning rate" : "α", c.group = vs_lr ? "α = " : "r = ";
  c.x = s->xv, c.g = s->gv, c.y = m, c.nx = s->nx, c.ng = s->ng, c.half = 1;
  c.by_alpha = vs_lr;
  c.xbase = !vs_lr || s->xv[s->nx - 1] / s->xv[0] < 10 ? 2 : 10;
  plot_curves(r, &c,
              vs_lr ? "At the last logged step, mean over seeds and layers; "
                      "a curve per α."
                    : "At the last logged step, mean over seeds and layers; "
                      "a curve per rank.");
}

/* The ratio and signal plots of the drift rows with fkey = fval, a curve
 * per gkey value against xkey. */
static void slice_pair(rep *r, const json_t *d, const dmetric *dm,
                       const char *const keys[3], double fval) {
  dslice s = {d, keys[0], keys[1], keys[2], fval, NULL, NULL, 0, 0};
  double *m = NULL;
  s.ng = distinct(r, d, s.gkey, s.fkey, fval, &s.gv);
  s.nx = distinct(r, d, s.xkey, s.fkey, fval, &s.xv);
  if (s.ng > 0 && s.nx > 0 && s.ng * s.nx <= MAX_CELLS)
    m = zalloc(r, s.ng * s.nx, sizeof *m);
  if (m) {
    put(r, "<div class=\"plots\">\n");
    slice_plot(r, &s, dm->ratio, dm->ratio_name, m);
    slice_plot(r, &s, dm->signal, dm->signal_name, m);
    put(r, "</div>\n");
  }
  free(s.gv), free(s.xv), free(m);
}

/* The drift plots: against α per lr, and against lr per rank when there
 * is more than one lr. */
static void drift_plots(rep *r, const json_t *d) {
  static const char *const by_lr[3] = {"lr", "rank", "alpha"};
  static const char *const by_rank[3] = {"rank", "alpha", "lr"};
  dmetric dm = drift_metric(d);
  double *lrs, *rks;
  size_t nl = distinct(r, d, "lr", NULL, 0, &lrs);
  para(r, "At the last logged step of each done run, mean over seeds and "
          "layers (docs/metrics.md). The claim under test: α raises the "
          "signal without raising the drift ratio, lr raises both.");
  for (size_t i = 0; i < nl; i++)
    slice_pair(r, d, &dm, by_lr, lrs[i]);
  if (nl > 1) {
    size_t nr = distinct(r, d, "rank", NULL, 0, &rks);
    for (size_t i = 0; i < nr; i++)
      slice_pair(r, d, &dm, by_rank, rks[i]);
    free(rks);
  }
  free(lrs);
}

/* The drift table (Markdown): every row of the analysis' drift. */
static void drift_table(rep *r, const json_t *d) {
  static const char *const head[] = {
      "rank",        "lr",     "α",          "seeds",     "loss",
      "drift ratio", "signal", "mech ratio", "tf signal", "a drift"};
  static const char *const keys[] = {
      "rank",        "lr",     "alpha",      "seeds",     "loss",
      "drift_ratio", "signal", "mech_ratio", "tf_signal", "a_drift"};
  para(r, "At the last logged step of each done run, mean over seeds and "
          "layers (docs/metrics.md).");
  table_begin(r, head, 10);
  for (size_t i = 0; i < json_array_size(d); i++) {
    row_begin(r);
    for (int k = 0; k < 10; k++)
      cell_num(r, jnum(json_array_get(d, i), keys[k]));
    row_end(r);
  }
  table_end(r);
}

/* "Signal and drift": from the analysis' drift table. */
static void write_drift(rep *r) {
  const json_t *d = json_object_get(r->analysis, "drift");
  section_begin(r, "drift", "Signal and drift");
  if (r->analysis == NULL)
    note(r, k_no_analysis_short);
  else if (json_array_size(d) == 0)
    note(r, "No drift figures: no done run sent spectra records (the worker "
            "sends them when metrics.spectra_every > 0; a trainer of its own "
            "may, docs/protocol.md).");
  else if (r->md)
    drift_table(r, d);
  else
    drift_plots(r, d);
  section_end(r);
}

/* ---- the three claims ---------------------------------------------- */

static const char k_claims_intro[] =
    "What this sweep says about the paper's three claims (docs/analysis.md, "
    "\"The three claims\"): intervals are bootstrap intervals over seeds, "
    "figures across ranks geometric means of the ranks' figures.";

/* Claim 1's plot: LoRA / full sharpness against α at each rank's best lr,
 * a curve per rank. */
static void claim1_plot(rep *r, const json_t *ranks) {
  size_t nr = json_array_size(ranks), cap = 0, nx = 0;
  double *xs, *g, *y = NULL;
  for (size_t i = 0; i < nr; i++)
    cap += json_array_size(
        json_object_get(json_array_get(ranks, i), "along_alpha"));
  xs = zalloc(r, cap + 1, sizeof *xs), g = zalloc(r, nr + 1, sizeof *g);
  for (size_t i = 0; xs && i < nr; i++)
    nx = gather(json_object_get(json_array_get(ranks, i), "along_alpha"),
                "alpha", NULL, 0, xs, nx, cap);
  nx = uniq(xs, nx);
  if (xs && g && nx > 0 && nr * nx <= MAX_CELLS)
    y = zalloc(r, nr * nx, sizeof *y);
  for (size_t i = 0; y && i < nr; i++) {
    const json_t *o = json_array_get(ranks, i), *al;
    al = json_object_get(o, "along_alpha");
    g[i] = jnum(o, "rank");
    for (size_t k = 0; k < nx; k++)
      y[i * nx + k] = NAN;
    for (size_t k = 0; k < json_array_size(al); k++) {
      long x = index_of(xs, nx, jnum(json_array_get(al, k), "alpha"));
      if (x >= 0) y[i * nx + (size_t)x] = jnum(json_array_get(al, k), "ratio");
    }
  }
  if (y) {
    curves c = {"LoRA / full sharpness against α",
                "α",
                "LoRA / full",
                "r = ",
                xs,
                g,
                y,
                nx,
                nr,
                2,
                1,
                0};
    plot_curves(r, &c,
                "Geometric mean over seeds of each run's last converged "
                "estimates, at each rank's best lr; below 1: LoRA's "
                "landscape is flatter.");
  }
  free(xs), free(g), free(y);
}

/* Claim 1's table: a row per rank at α*. */
static void claim1_table(rep *r, const json_t *ranks) {
  static const char *const head[] = {"rank",     "lr",   "α*",
                                     "LoRA",     "full", "LoRA / full",
                                     "interval", "runs", "missing"};
  table_begin(r, head, 9);
  for (size_t i = 0; i < json_array_size(ranks); i++) {
    const json_t *o = json_array_get(ranks, i);
    row_begin(r);
    cell_num(r, jnum(o, "rank"));
    cell_num(r, jnum(o, "lr"));
    cell_num(r, jnum(o, "alpha_grid"));
    cell_num(r, jnum(o, "lora"));
    cell_num(r, jnum(o, "full"));
    cell_num(r, jnum(o, "ratio"));
    cell(r, fint(jnum(o, "ratio_lo"), jnum(o, "ratio_hi")).s, CELL_NUM);
    cell_int(r, o, "n");
    cell(r, jstr(o, "missing") ? jstr(o, "missing") : "", CELL_TEXT);
    row_end(r);
  }
  table_end(r);
}

/* Claim 2's plot: the metric (drift ratio, else the mechanism ratio)
 * against the loss change on both paths of the largest rank that has
 * them. */
static void claim2_plot(rep *r, const json_t *ranks, const char *key) {
  const json_t *o = NULL;
  double xs[2 * MAX_PATH], g[2] = {1, 2}, y[4 * MAX_PATH];
  size_t nx = 0;
  for (size_t i = json_array_size(ranks); i-- > 0 && o == NULL;)
    if (isfinite(jnum(json_object_get(json_array_get(ranks, i), key), "ratio")))
      o = json_array_get(ranks, i);
  if (o == NULL) return;
  const json_t *p[2] = {json_object_get(o, "along_alpha"),
                        json_object_get(o, "along_lr")};
  for (int j = 0; j < 2; j++)
    nx = gather(p[j], "loss_change", NULL, 0, xs, nx, 2 * MAX_PATH);
  nx = uniq(xs, nx);
  for (size_t k = 0; k < 2 * nx; k++)
    y[k] = NAN;
  for (int j = 0; j < 2; j++)
    for (size_t k = 0; k < json_array_size(p[j]); k++) {
      const json_t *e = json_array_get(p[j], k);
      long x = index_of(xs, nx, jnum(e, "loss_change"));
      if (x >= 0 && jtrue(e, "down"))
        y[(size_t)j * nx + (size_t)x] = jnum(e, key);
    }
  char title[96];
  snprintf(title, sizeof title, "%s against the loss change at rank %s",
           strcmp(key, "drift_ratio") == 0 ? "Drift ratio" : "Mechanism ratio",
           fnum(jnum(o, "rank")).s);
  curves c = {
      title, "loss change from the base", key, "path ", xs, g, y, nx, 2, 10, 1,
      0};
  plot_curves(r, &c,
              "Path 1 raises α at the base lr, path 2 raises lr at the base "
              "α; down to each path's lowest loss. Claim 2: path 1 lies "
              "below path 2.");
}

/* Claim 2's table: a row per rank and metric. */
static void claim2_table(rep *r, const json_t *ranks) {
  static const char *const head[] = {
      "rank",     "metric",        "loss change",    "α path / lr path",
      "interval", "α path / base", "lr path / base", "missing"};
  static const char *const keys[] = {"drift_ratio", "mech_ratio"};
  table_begin(r, head, 8);
  for (size_t i = 0; i < json_array_size(ranks); i++)
    for (int m = 0; m < 2; m++) {
      const json_t *o = json_array_get(ranks, i);
      const json_t *x = json_object_get(o, keys[m]);
      row_begin(r);
      cell_num(r, jnum(o, "rank"));
      cell(r, m ? "mechanism ratio" : "drift ratio", CELL_TEXT);
      cell_num(r, jnum(x, "loss_change"));
      cell_num(r, jnum(x, "ratio"));
      cell(r, fint(jnum(x, "ratio_lo"), jnum(x, "ratio_hi")).s, CELL_NUM);
      cell_num(r, jnum(x, "alpha_fold"));
      cell_num(r, jnum(x, "lr_fold"));
      cell(r, jstr(x, "missing") ? jstr(x, "missing") : "", CELL_TEXT);
      row_end(r);
    }
  table_end(r);
}

/* One claim's verdict in a paragraph. */
static void claim_para(rep *r, const char *title, const json_t *o) {
  sbuf b = {{0}, 0};
  sb_add(&b, "%s — %s: %s.", title,
         jstr(o, "verdict") ? jstr(o, "verdict") : "missing",
         jstr(o, "text") ? jstr(o, "text") : "not computed");
  para(r, b.s);
}

/* "The three claims", when the analysis has them (nothing otherwise). */
static void write_claims(rep *r) {
  const json_t *cl = json_object_get(r->analysis, "claims");
  const json_t *sh = json_object_get(cl, "sharpness");
  const json_t *dr = json_object_get(cl, "drift");
  if (!json_is_object(cl)) return;
  section_begin(r, "claims", "The three claims");
  para(r, k_claims_intro);
  subhead(r, "Claim 1: LoRA smooths the loss landscape");
  claim_para(r, "Claim 1", sh);
  if (json_array_size(json_object_get(sh, "ranks"))) {
    if (!r->md) claim1_plot(r, json_object_get(sh, "ranks"));
    claim1_table(r, json_object_get(sh, "ranks"));
  }
  subhead(r, "Claim 2: raising α amplifies the signal without the drift "
             "that raising lr brings");
  claim_para(r, "Claim 2", dr);
  if (json_array_size(json_object_get(dr, "ranks"))) {
    if (!r->md)
      claim2_plot(r, json_object_get(dr, "ranks"),
                  isfinite(jnum(json_object_get(dr, "drift_ratio"), "ratio"))
                      ? "drift_ratio"
                      : "mech_ratio");
    claim2_table(r, json_object_get(dr, "ranks"));
  }
  subhead(r, "Claim 3: the law per lr and budget");
  claim_para(r, "Claim 3", json_object_get(cl, "law"));
  para(r, "Its table is in the section \"The law across lr and budget\" "
          "above.");
  section_end(r);
}

/* ---- failed runs ---------------------------------------------------- */

/* The bytes of error s to show: up to ERR_LINES lines and ERR_BYTES
 * bytes, ending on a character boundary; *cut says more follows. */
static size_t err_extent(const char *s, int *cut) {
  size_t i = 0;
  int lines = 0;
  for (; s[i] != '\0' && i < ERR_BYTES; i++)
    if (s[i] == '\n' && ++lines == ERR_LINES) break;
  while (i > 0 && s[i] != '\0' && ((unsigned char)s[i] & 0xC0) == 0x80)
    i--;
  *cut = s[i] != '\0' && !(s[i] == '\n' && s[i + 1] == '\0');
  return i;
}

/* A failed run's error cell: its first lines, escaped. */
static void err_cell(rep *r, const char *s) {
  int cut = 0;
  size_t n;
  if (s == NULL || *s == '\0') {
    cell(r, NULL, CELL_TEXT);
    return;
  }
  n = err_extent(s, &cut);
  put(r, r->md ? " " : "<td><pre class=\"err\">");
  put_esc(r, s, n, !r->md);
  if (cut) put(r, r->md ? " …" : "\n…");
  put(r, r->md ? " |" : "</pre></td>");
}

/* One row of a run table. */
static void run_row(rep *r, const json_t *o, int with_err) {
  row_begin(r);
  cell_int(r, o, "id");
  cell_num(r, jnum(o, "rank"));
  cell_num(r, jnum(o, "alpha"));
  cell_num(r, jnum(o, "lr"));
  cell_int(r, o, "seed_index");
  cell_int(r, o, "attempts");
  cell_int(r, o, "steps_done");
  if (with_err)
    err_cell(r, jstr(o, "error"));
  else
    cell_num(r, jnum(o, "final_train_loss"));
  row_end(r);
}

/* A table of the runs in state, with their error or final train loss;
 * returns how many there are. */
static size_t run_table(rep *r, const char *state, int with_err) {
  static const char *const head[] = {"run",        "rank",       "α",
                                     "lr",         "seed index", "attempts",
                                     "steps done", "error"};
  const char *h[8];
  size_t n = 0;
  memcpy(h, head, sizeof h);
  if (!with_err) h[7] = "last train loss";
  for (size_t i = 0; i < json_array_size(r->runs); i++) {
    const json_t *o = json_array_get(r->runs, i);
    const char *s = jstr(o, "state");
    if (s == NULL || strcmp(s, state) != 0) continue;
    if (n == 0) table_begin(r, h, 8);
    if (n++ < MAX_RUN_ROWS) run_row(r, o, with_err);
  }
  if (n > 0) table_end(r);
  if (n > MAX_RUN_ROWS) {
    sbuf b = {{0}, 0};
    sb_add(&b, "… and %zu more.", n - MAX_RUN_ROWS);
    note(r, b.s);
  }
  return n;
}

/* "Failed runs" with their errors, then the diverged runs. */
static void write_failed(rep *r) {
  section_begin(r, "failed", "Failed runs");
  if (run_table(r, "failed", 1) == 0) note(r, "No run failed.");
  if (count_state(r->runs, "diverged") > 0) {
    subhead(r, "Diverged runs");
    run_table(r, "diverged", 0);
  }
  section_end(r);
}

/* ---- the search along alpha ---------------------------------------- */

static const char k_search_intro[] =
    "The sweep searched along α (docs/sweeps.md, \"search\"): in each "
    "cell (rank, lr), after every seed of every α tried had ended, the "
    "daemon added one α (extending past an edge, or closing the bracket "
    "around the best α by parabolic, probe and golden-section steps) until "
    "the bracket was within the tolerance. A cell's best α is the one with "
    "the lowest mean final eval loss among those it ran; the bracket is its "
    "two neighbours.";

/* One cell's row. */
static void search_row(rep *r, const json_t *o) {
  row_begin(r);
  cell_int(r, o, "rank");
  cell_num(r, jnum(o, "lr"));
  cell(r, jint(o, "done", 0) ? "done" : "searching", CELL_FLAG);
  cell(r, jstr(o, "last_kind") ? jstr(o, "last_kind") : "–", CELL_TEXT);
  cell_num(r, jnum(o, "best_alpha"));
  cell(r, fint(jnum(o, "lo"), jnum(o, "hi")).s, CELL_NUM);
  cell_int(r, o, "alphas");
  cell_int(r, o, "run_steps");
  row_end(r);
}

static const char k_law_intro[] =
    "The law searched its smallest ranks first, fitted α* = c·r^p to what "
    "they found, and started each larger rank from the prediction and an "
    "interval around it (widen + 2 × the fit's scatter octaves on each "
    "side), searching on from there. Each row sets that prediction beside "
    "the α* the rank's own search found: inside the interval, or outside "
    "it by how many octaves.";

/* One larger rank's row: its prediction beside what it found. */
static void law_row(rep *r, const json_t *e, const json_t *o) {
  const json_t *in = json_object_get(o, "inside");
  row_begin(r);
  cell_int(r, o, "rank");
  cell_num(r, jnum(e, "lr"));
  cell_num(r, jnum(o, "predicted"));
  cell(r, fint(jnum(o, "lo"), jnum(o, "hi")).s, CELL_NUM);
  if (json_is_true(json_object_get(o, "done")))
    cell_num(r, jnum(o, "found"));
  else
    cell(r, "searching", CELL_TEXT);
  cell(r, json_is_boolean(in) ? (json_is_true(in) ? "yes" : "no") : "–",
       json_is_false(in) ? CELL_FLAG : CELL_TEXT);
  cell_num(r, jnum(o, "miss_octaves"));
  row_end(r);
}

/* "The law's prediction against what was found", for a law search (the
 * search state's "law"): per lr its words and a row per larger rank. */
static void write_search_law(rep *r, const json_t *entries) {
  static const char *const head[] = {
      "rank",     "lr",     "predicted α",        "interval",
      "α* found", "inside", "missed by (octaves)"};
  const json_t *e;
  size_t i;
  if (json_array_size(entries) == 0) return;
  subhead(r, "The law's prediction against what was found");
  para(r, k_law_intro);
  json_array_foreach(entries, i, e) {
    const json_t *rows = json_object_get(e, "predictions");
    para(r, jstr(e, "text"));
    if (json_array_size(rows) == 0) continue;
    table_begin(r, head, 7);
    for (size_t k = 0; k < json_array_size(rows); k++)
      law_row(r, e, json_array_get(rows, k));
    table_end(r);
  }
}

/* ---- a halving search ---------------------------------------------- */

static const char k_halving_intro[] =
    "The sweep searched by successive halving (docs/sweeps.md, "
    "\"halving\"): each rank's cells (α, lr) trained to its first rung, and "
    "each rung promoted the best 1/eta of the cells that reached it (by the "
    "mean eval loss of their seeds there) to the next rung or to the end; "
    "the others stopped there. α* is, per (rank, lr), the best cell at the "
    "deepest step any of that lr's cells reached: the end, for an lr with a "
    "cell promoted to it.";

static const char k_halving_plan[] =
    "Each rank's rungs: at step s, n → k means that at most n cells reach "
    "the rung and it promotes k of them.";

/* The rank's plan (GET /search's halving.plan) in one line: its cells,
 * each rung's step, reach and promoted, and how many of its cells reached
 * the end (cells: halving.cells). */
static void halving_plan_line(rep *r, const json_t *p, const json_t *cells) {
  sbuf b = {{0}, 0};
  const json_t *g, *c;
  long long rank = jint(p, "rank", -1), at_end = 0;
  size_t i;
  json_array_foreach(cells, i, c) {
    const char *st = jstr(c, "state");
    at_end += jint(c, "rank", -2) == rank && st && strcmp(st, "done") == 0;
  }
  sb_add(&b, "Rank %lld: %lld cells", rank, jint(p, "cells", 0));
  json_array_foreach(json_object_get(p, "rungs"), i, g) {
    sb_add(&b, "; step %lld: %lld → %lld", jint(g, "step", 0),
           jint(g, "reach", 0), jint(g, "promote", 0));
  }
  sb_add(&b, "; the end at step %lld: reached by %lld cell%s.",
         jint(p, "steps", 0), at_end, at_end == 1 ? "" : "s");
  para(r, b.s);
}

/* One (rank, lr)'s row of what was found (halving.found). */
static void halving_found_row(rep *r, const json_t *f) {
  sbuf b = {{0}, 0};
  long long n = jint(f, "cells_at_end", 0);
  if (jtrue(f, "at_end"))
    sb_add(&b, "yes (%lld cell%s)", n, n == 1 ? "" : "s");
  else
    sb_add(&b, "no");
  row_begin(r);
  cell_int(r, f, "rank");
  cell_num(r, jnum(f, "lr"));
  cell_num(r, jnum(f, "alpha_star"));
  cell_num(r, jnum(f, "loss"));
  cell_int(r, f, "step");
  cell(r, b.s, jtrue(f, "at_end") ? CELL_TEXT : CELL_FLAG);
  row_end(r);
}

/* The halving summary line: settings, what was spent against the run-steps
 * of the full grid (each cell's seeds × its rank's steps), the cells at
 * the end and the decisions. */
static void halving_summary(rep *r, const json_t *ss, const json_t *h) {
  const json_t *se = json_object_get(ss, "search"),
               *sp = json_object_get(ss, "spent"), *x;
  const json_t *cells = json_object_get(h, "cells");
  sbuf b = {{0}, 0};
  double grid = 0, spent = jnum(sp, "run_steps");
  long long at_end = 0;
  size_t i, k;
  sb_add(&b, "Strategy halving, eta %s, rungs at", fnum(jnum(se, "eta")).s);
  json_array_foreach(json_object_get(se, "rungs"), i, x) {
    sb_add(&b, "%s %s", i ? "," : "", fnum(json_number_value(x)).s);
  }
  json_array_foreach(cells, i, x) {
    const json_t *p;
    json_array_foreach(json_object_get(h, "plan"), k, p) {
      if (jint(p, "rank", -1) == jint(x, "rank", -2))
        grid += (double)jint(x, "seeds", 0) * (double)jint(p, "steps", 0);
    }
    at_end += jstr(x, "state") && strcmp(jstr(x, "state"), "done") == 0;
  }
  sb_add(&b, " of the steps; spent %lld runs, %s run-steps",
         jint(sp, "runs", 0), fnum(spent).s);
  if (grid > 0 && isfinite(spent))
    sb_add(&b, " (%s%% of the %s the full grid trains)",
           fnum(100 * spent / grid).s, fnum(grid).s);
  sb_add(&b,
         ", %s CPU-seconds; %lld of %zu cells reached the end; %zu "
         "decisions.",
         fnum(jnum(sp, "cpu_s")).s, at_end, json_array_size(cells),
         json_array_size(json_object_get(h, "decisions")));
  para(r, b.s);
}

/* "Search along α" for a halving search (the search state's "halving"):
 * the summary, what was found per (rank, lr) and each rank's plan. */
static void write_search_halving(rep *r, const json_t *ss, const json_t *h) {
  static const char *const head[] = {"rank", "lr",      "α*",
                                     "loss", "at step", "at the end"};
  const json_t *found = json_object_get(h, "found"), *x;
  size_t i;
  section_begin(r, "search", "Search along α");
  halving_summary(r, ss, h);
  para(r, k_halving_intro);
  if (json_array_size(found) == 0) {
    note(r, "No cell has reached its first rung yet.");
  } else {
    table_begin(r, head, 6);
    json_array_foreach(found, i, x) halving_found_row(r, x);
    table_end(r);
  }
  subhead(r, "The rungs");
  note(r, k_halving_plan);
  json_array_foreach(json_object_get(h, "plan"), i, x) {
    halving_plan_line(r, x, json_object_get(h, "cells"));
  }
  section_end(r);
}

/* "Search along α", for a sweep whose search has cells or is a halving
 * search (the sweep's "search_state": GET /v1/sweeps/{id}/search);
 * nothing otherwise. */
static void write_search(rep *r) {
  static const char *const head[] = {"rank",    "lr",       "state",
                                     "last",    "best α",   "bracket",
                                     "α tried", "run-steps"};
  const json_t *ss = json_object_get(r->sweep, "search_state");
  const json_t *cells = json_object_get(ss, "cells");
  const json_t *se = json_object_get(ss, "search"), *sp;
  sbuf b = {{0}, 0};
  if (json_is_object(json_object_get(ss, "halving"))) {
    write_search_halving(r, ss, json_object_get(ss, "halving"));
    return;
  }
  if (json_array_size(cells) == 0) return;
  sp = json_object_get(ss, "spent");
  section_begin(r, "search", "Search along α");
  sb_add(&b,
         "Strategy %s, tolerance %s octaves, at most %lld α per cell; "
         "spent %lld runs, %lld run-steps, %s CPU-seconds; %lld "
         "decisions.",
         jstr(se, "strategy") ? jstr(se, "strategy") : "?",
         fnum(jnum(se, "tolerance")).s, jint(se, "max_points", -1),
         jint(sp, "runs", 0), jint(sp, "run_steps", 0),
         fnum(jnum(sp, "cpu_s")).s,
         (long long)json_array_size(json_object_get(ss, "decisions")));
  para(r, b.s);
  para(r, k_search_intro);
  table_begin(r, head, 8);
  for (size_t i = 0; i < json_array_size(cells); i++)
    search_row(r, json_array_get(cells, i));
  table_end(r);
  write_search_law(r, json_object_get(ss, "law"));
  section_end(r);
}

/* The end of the document. */
static void write_tail(rep *r) {
  if (r->md) return;
  put(r, "<footer>Written by loralpha from the sweep, its runs and its "
         "analysis. Self-contained: no scripts, nothing loaded from "
         "elsewhere.</footer>\n</body>\n</html>\n");
}

/* The report's context: inputs checked for type, the full-budget
 * checkpoint and the sweep's scaling. */
static void rep_init(rep *r, const json_t *sweep, const json_t *analysis,
                     const json_t *runs, la_report_format fmt, FILE *out) {
  const char *sc;
  memset(r, 0, sizeof *r);
  r->out = out, r->md = fmt == LA_REPORT_MARKDOWN, r->geo = &k_wide;
  r->sweep = json_is_object(sweep) ? sweep : NULL;
  r->spec = json_object_get(r->sweep, "spec");
  r->analysis = json_is_object(analysis) ? analysis : NULL;
  r->runs = json_is_array(runs) ? runs : json_object_get(runs, "runs");
  r->full = full_checkpoint(r->analysis);
  sc = jstr(r->analysis, "scaling");
  if (sc == NULL) sc = jstr(r->spec, "scaling");
  r->scaling = sc && strcmp(sc, "rslora") == 0 ? "rslora" : "peft";
  r->scale_power = r->scaling[0] == 'r' ? 0.5 : 1.0;
  r->a_lo = INFINITY, r->a_hi = -INFINITY;
  for (size_t i = 0; i < json_array_size(r->runs); i++)
    widen(&r->a_lo, &r->a_hi, jnum(json_array_get(r->runs, i), "alpha"));
  r->has_answer = headline_of(r) != NULL || json_array_size(answers_of(r)) > 0;
}

/* The report, section by section (see report.h). */
int la_report_write(const json_t *sweep, const json_t *analysis,
                    const json_t *runs, la_report_format fmt, FILE *out,
                    la_err *err) {
  rep r;
  if (out == NULL || (fmt != LA_REPORT_HTML && fmt != LA_REPORT_MARKDOWN))
    return la_errf(err, LA_EINVAL, "report: no output stream or bad format");
  rep_init(&r, sweep, analysis, runs, fmt, out);
  write_head(&r);
  write_answer(&r);
  write_joint(&r);
  write_surface(&r);
  write_summary(&r);
  write_law(&r);
  write_star_table(&r);
  write_budget(&r);
  write_heuristics(&r);
  write_loss(&r);
  write_drift(&r);
  write_claims(&r);
  write_search(&r);
  write_failed(&r);
  write_tail(&r);
  if (r.rc) return la_errf(err, r.rc, "report: out of memory (incomplete)");
  if (fflush(out) != 0 || ferror(out))
    return la_errf(err, LA_EIO, "report: writing failed");
  return 0;
}

int la_report_format_named(const char *name, la_report_format *fmt) {
  if (name == NULL || fmt == NULL) return LA_EINVAL;
  if (strcasecmp(name, "html") == 0) {
    *fmt = LA_REPORT_HTML;
    return 0;
  }
  if (strcasecmp(name, "md") == 0 || strcasecmp(name, "markdown") == 0) {
    *fmt = LA_REPORT_MARKDOWN;
    return 0;
  }
  return LA_EINVAL;
}

la_report_format la_report_format_of_path(const char *path) {
  const char *dot = path ? strrchr(path, '.') : NULL;
  la_report_format fmt = LA_REPORT_HTML;
  if (dot == NULL || strchr(dot, '/') != NULL) return LA_REPORT_HTML;
  if (la_report_format_named(dot + 1, &fmt) != 0) return LA_REPORT_HTML;
  return fmt;
}
