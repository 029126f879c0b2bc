/* summary.c: the curve summary of a run's records (see summary.h). */
#include "summary.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

/* Number field of a record, or NaN when missing or null. */
static double num(const json_t *rec, const char *key) {
  const json_t *v = json_object_get(rec, key);
  return json_is_number(v) ? json_number_value(v) : (double)NAN;
}

static void print_start(const json_t *rec, FILE *out) {
  const json_t *cfg = json_object_get(rec, "config");
  const json_t *layers = json_object_get(rec, "layers");
  fprintf(out,
          "task %s, %zu layer(s), rank %lld, alpha %g (s = %g), lr %g, %lld "
          "steps of batch %lld\n",
          json_string_value(json_object_get(cfg, "task")),
          json_array_size(layers),
          json_integer_value(json_object_get(cfg, "rank")), num(cfg, "alpha"),
          num(rec, "scale"), num(cfg, "lr"),
          json_integer_value(json_object_get(cfg, "steps")),
          json_integer_value(json_object_get(cfg, "batch")));
  fprintf(out, "%8s  %12s  %12s\n", "step", "train loss", "eval loss");
}

static void print_spectra(const json_t *rec, FILE *out) {
  fprintf(out,
          "layer %lld at step %lld: sigma_max(dW) %.4g, |dW|_F %.4g, stable "
          "rank %.3g",
          json_integer_value(json_object_get(rec, "layer")),
          json_integer_value(json_object_get(rec, "step")),
          num(rec, "sigma_max"), num(rec, "fro"), num(rec, "stable_rank"));
  if (json_object_get(rec, "drift_ratio"))
    fprintf(out, ", drift ratio %.4g, cos to target %.4f",
            num(rec, "drift_ratio"), num(rec, "cos_target"));
  fprintf(out, ", mech ratio %.4g\n", num(rec, "mech_ratio"));
}

static void print_done(const json_t *rec, FILE *out) {
  fprintf(out,
          "%s after %lld steps in %.2f s: final eval loss %.6g, best %.6g at "
          "step %lld\n",
          json_string_value(json_object_get(rec, "status")),
          json_integer_value(json_object_get(rec, "steps")), num(rec, "wall_s"),
          num(rec, "final_eval_loss"), num(rec, "best_eval_loss"),
          json_integer_value(json_object_get(rec, "best_step")));
  if (json_object_get(rec, "reason"))
    fprintf(out, "reason: %s\n",
            json_string_value(json_object_get(rec, "reason")));
}

/* The estimates, each marked when it did not converge. */
static void print_sharpness(const json_t *rec, FILE *out) {
  fprintf(
      out, "sharpness at step %lld: lora %.4g%s, full %.4g%s, ratio %.4g\n",
      json_integer_value(json_object_get(rec, "step")), num(rec, "lora"),
      json_is_false(json_object_get(rec, "lora_converged")) ? " (not converged)"
                                                            : "",
      num(rec, "full"),
      json_is_false(json_object_get(rec, "full_converged")) ? " (not converged)"
                                                            : "",
      num(rec, "ratio"));
}

/* Prints one record; spectra are held back until a later step replaces them. */
static void print_record(const json_t *rec, FILE *out, double *last_train) {
  const char *type = json_string_value(json_object_get(rec, "type"));
  if (type == NULL) return;
  if (strcmp(type, "start") == 0)
    print_start(rec, out);
  else if (strcmp(type, "train") == 0)
    *last_train = num(rec, "loss");
  else if (strcmp(type, "eval") == 0 && isnan(*last_train))
    fprintf(out, "%8lld  %12s  %12.6g\n",
            json_integer_value(json_object_get(rec, "step")), "-",
            num(rec, "loss"));
  else if (strcmp(type, "eval") == 0)
    fprintf(out, "%8lld  %12.6g  %12.6g\n",
            json_integer_value(json_object_get(rec, "step")), *last_train,
            num(rec, "loss"));
  else if (strcmp(type, "sharpness") == 0)
    print_sharpness(rec, out);
  else if (strcmp(type, "done") == 0)
    print_done(rec, out);
}

int la_summary_print(FILE *in, FILE *out) {
  char line[1 << 16];
  double last_train = NAN;
  json_t *spectra = json_array();
  int rc = 0;
  while (fgets(line, sizeof line, in) != NULL) {
    json_t *rec = json_loads(line, 0, NULL);
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!json_is_object(rec))
      rc = LA_EINVAL;
    else if (type && strcmp(type, "spectra") == 0)
      json_array_append(spectra, rec);
    else if (type && strcmp(type, "done") == 0) {
      size_t i, n = json_array_size(spectra), L = 0;
      json_t *s;
      json_array_foreach(spectra, i, s) L =
          (size_t)json_integer_value(json_object_get(s, "layer")) + 1 > L
              ? (size_t)json_integer_value(json_object_get(s, "layer")) + 1
              : L;
      for (i = n >= L ? n - L : 0; i < n; i++)
        print_spectra(json_array_get(spectra, i), out);
      print_record(rec, out, &last_train);
    } else
      print_record(rec, out, &last_train);
    json_decref(rec);
  }
  json_decref(spectra);
  return rc;
}
