/*
 * gpt_t.h: the GPT model's declarations for one precision. Included twice
 * by gpt.h with LA_REAL / LA_SUF set (float / _f and double / _d); not an
 * interface on its own.
 */

/* Pointers into one flat parameter (or gradient) slab, GPT-2's tensors in
 * la_gpt_tensors order. Conv1D weights are (in, out). */
typedef struct LA_SUF(la_gpt_w) {
  LA_REAL *wte;      /* (V, C) token embedding, also the LM head */
  LA_REAL *wpe;      /* (maxT, C) position embedding */
  LA_REAL *ln1w;     /* (L, C) */
  LA_REAL *ln1b;     /* (L, C) */
  LA_REAL *qkvw;     /* (L, C, 3C) attn.c_attn */
  LA_REAL *qkvb;     /* (L, 3C) */
  LA_REAL *attprojw; /* (L, C, C) attn.c_proj */
  LA_REAL *attprojb; /* (L, C) */
  LA_REAL *ln2w;     /* (L, C) */
  LA_REAL *ln2b;     /* (L, C) */
  LA_REAL *fcw;      /* (L, C, 4C) mlp.c_fc */
  LA_REAL *fcb;      /* (L, 4C) */
  LA_REAL *fcprojw;  /* (L, 4C, C) mlp.c_proj */
  LA_REAL *fcprojb;  /* (L, C) */
  LA_REAL *lnfw;     /* (C) */
  LA_REAL *lnfb;     /* (C) */
} LA_SUF(la_gpt_w);

/* Activations of one layer for N = B*T rows. */
typedef struct LA_SUF(la_gpt_layer) {
  LA_REAL *ln1, *ln1_mean, *ln1_rstd; /* (N, C), (N), (N) */
  LA_REAL *qkv;                       /* (N, 3C) */
  LA_REAL *att;                       /* (B, NH, T, T) softmax */
  LA_REAL *atty;                      /* (N, C) heads, concatenated */
  LA_REAL *res2;                      /* (N, C) x + attention */
  LA_REAL *ln2, *ln2_mean, *ln2_rstd; /* (N, C), (N), (N) */
  LA_REAL *fch, *fch_gelu;            /* (N, 4C) */
  LA_REAL *res3;                      /* (N, C) the layer's output */
  LA_REAL *u[LA_GPT_N_MODULES];       /* (N, r) x A^T per adapter */
} LA_SUF(la_gpt_layer);

typedef struct LA_SUF(la_gpt) {
  la_gpt_shape sh;
  int B, T;            /* rows and context the workspace holds */
  int r;               /* adapter rank (0: none) */
  unsigned targets;    /* adapted modules, LA_GPT_* bits */
  int full;            /* 1: gradients of every base weight */
  int tb;              /* attention's row blocks (init: LA_GPT_ATT_ROWS) */
  LA_REAL s;           /* LoRA scaling */
  LA_SUF(la_gpt_w) w;  /* base weights (borrowed slab) */
  LA_SUF(la_gpt_w) gw; /* their gradients (borrowed slab; full mode) */
  LA_REAL *gslab;      /* gw's slab, zeroed by backward */
  /* adapters (borrowed): A (r, in), B (out, r) of module m of layer l */
  const LA_REAL *A[LA_GPT_MAX_LAYERS][LA_GPT_N_MODULES];
  const LA_REAL *Bm[LA_GPT_MAX_LAYERS][LA_GPT_N_MODULES];
  LA_REAL *gA[LA_GPT_MAX_LAYERS][LA_GPT_N_MODULES]; /* written by backward */
  LA_REAL *gB[LA_GPT_MAX_LAYERS][LA_GPT_N_MODULES];
  /* workspace (owned) */
  LA_REAL *mem;
  LA_REAL *enc; /* (N, C) embeddings */
  LA_SUF(la_gpt_layer) ly[LA_GPT_MAX_LAYERS];
  LA_REAL *lnf, *lnf_mean, *lnf_rstd; /* (N, C), (N), (N) */
  LA_REAL *probs;                     /* (N, V); dlogits after backward */
  LA_REAL *dres;                      /* (N, C) the residual's gradient */
  LA_REAL *dx, *dbig, *dqkv;          /* (N, C), (N, 4C), (N, 3C) */
  LA_REAL *du;                        /* (N, r) */
  LA_REAL *datt;                      /* (T, T) */
  const int *tok, *tgt;               /* the last forward's (nb, T) */
  int nb;                             /* rows of the last forward */
} LA_SUF(la_gpt);

/* Allocates the workspace of a model of shape sh for nb <= B windows of T
 * tokens (T <= sh->maxT), adapters of rank r on the modules in targets
 * (none when r is 0), LoRA scaling s; full: backward also writes the
 * gradients of every base weight. Weight, gradient and adapter pointers
 * are set by the caller (la_gpt_bind_*). Returns 0 or LA_ENOMEM. */
int LA_SUF(la_gpt_init)(LA_SUF(la_gpt) * g, const la_gpt_shape *sh, int B,
                        int T, int r, unsigned targets, double s, int full);

/* Elements of the workspace la_gpt_init allocated. */
size_t LA_SUF(la_gpt_work_count)(const LA_SUF(la_gpt) * g);

/* The weight (in, out) and bias of module m (0..3) of block l. */
void LA_SUF(la_gpt_module_weight)(LA_SUF(la_gpt) * g, int l, int m, LA_REAL **W,
                                  LA_REAL **b);

/* Releases the workspace. Safe on a zeroed model. */
void LA_SUF(la_gpt_free)(LA_SUF(la_gpt) * g);

/* Points w's tensors into slab (la_gpt_param_count(sh) elements). */
void LA_SUF(la_gpt_bind)(const la_gpt_shape *sh, LA_REAL *slab,
                         LA_SUF(la_gpt_w) * w);

/* Points the adapters into theta and their gradients into grad (both
 * la_gpt_adapter_count elements): every A in (layer, module) order, then
 * every B in the same order. */
void LA_SUF(la_gpt_bind_adapters)(LA_SUF(la_gpt) * g, LA_REAL *theta,
                                  LA_REAL *grad);

/* Forward on nb <= B windows: tok (nb, T) token ids, tgt (nb, T) the next
 * tokens (both borrowed until backward). Returns the mean next-token
 * cross-entropy over the nb*T positions, accumulated in double. */
double LA_SUF(la_gpt_forward)(LA_SUF(la_gpt) * g, const int *tok,
                              const int *tgt, int nb);

/* Backward after forward: writes gA, gB of every adapter, and in full mode
 * the gradients of every base weight (gslab zeroed first). */
void LA_SUF(la_gpt_backward)(LA_SUF(la_gpt) * g);
