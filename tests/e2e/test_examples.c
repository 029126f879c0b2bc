/*
 * test_examples.c: every example under examples/ stays valid as the code
 * changes (examples/, examples/npy/, examples/gpt/). Sweep specs (files
 * with a "grid") must pass la_spec_parse as `loralpha submit` sends them
 * (relative npy and gpt paths made absolute);
 * daemon configs (serve*.json) la_serve_config_read_file; run configs
 * la_config_parse. Usage: test_examples EXAMPLES_DIR
 */
#include "check.h"
#include "loralpha/config.h"
#include "loralpha/rights.h"
#include "loralpha/spec.h"
#include "serve_config.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Validates one JSON example; prints why when it fails. */
static void check_file(const char *path) {
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  la_err err = {{0}};
  int rc;
  if (root == NULL) {
    fprintf(stderr, "%s: line %d: %s\n", path, je.line, je.text);
    CHECK(root != NULL);
    return;
  }
  if (strncmp(strrchr(path, '/') ? strrchr(path, '/') + 1 : path, "serve", 5) ==
      0) {
    la_serve_config c;
    rc = la_serve_config_read_file(path, &c, &err);
    la_serve_config_free(&c);
  } else if (json_object_get(root, "grid") != NULL) {
    la_spec *spec = NULL;
    rc = la_rights_absolute_paths(root, "/work/dir") < 0;
    if (rc == 0) rc = la_spec_parse(root, NULL, &spec, &err);
    la_spec_free(spec);
  } else {
    la_config cfg;
    rc = la_config_parse(root, &cfg, &err);
  }
  if (rc) fprintf(stderr, "%s: %s\n", path, err.msg);
  CHECK_EQ_INT(rc, 0);
  json_decref(root);
}

/* Every *.json directly in dir. */
static int check_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[4096];
  int n = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    check_file(path);
    n++;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  char sub[4096];
  int n;
  if (argc != 2) {
    fprintf(stderr, "usage: test_examples EXAMPLES_DIR\n");
    return 2;
  }
  n = check_dir(argv[1]);
  snprintf(sub, sizeof sub, "%s/npy", argv[1]);
  n += check_dir(sub);
  snprintf(sub, sizeof sub, "%s/gpt", argv[1]);
  CHECK(check_dir(sub) >= 3); /* run and two pretraining configs */
  CHECK(n >= 6);
  return check_summary();
}
