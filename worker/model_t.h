/*
 * model_t.h: the model's declarations for one precision. Included twice by
 * model.h with LA_REAL / LA_SUF set (float / _f and double / _d); not an
 * interface on its own.
 */

typedef struct LA_SUF(la_net) {
  int L; /* layers */
  int dims[LA_MAX_LAYERS +
           1]; /* d_in of layer l = dims[l], d_out = dims[l+1] */
  int r;       /* adapter rank (0 in full mode) */
  int n_max;   /* most rows per call */
  int full;    /* 1: plain weights W[l], no adapters */
  la_act act;
  la_loss loss;
  LA_REAL s; /* LoRA scaling */
  /* parameters (borrowed) */
  const LA_REAL *W0[LA_MAX_LAYERS]; /* (d_out, d_in); in full mode: W_l */
  const LA_REAL *A[LA_MAX_LAYERS];  /* (r, d_in) */
  const LA_REAL *B[LA_MAX_LAYERS];  /* (d_out, r) */
  /* gradients (borrowed), written (not accumulated) by backward */
  LA_REAL *gA[LA_MAX_LAYERS]; /* (r, d_in) */
  LA_REAL *gB[LA_MAX_LAYERS]; /* (d_out, r) */
  LA_REAL *gW[LA_MAX_LAYERS]; /* (d_out, d_in), full mode */
  /* workspace (owned) */
  LA_REAL *mem;
  LA_REAL *z[LA_MAX_LAYERS];     /* (n, d_out) pre-activations */
  LA_REAL *h[LA_MAX_LAYERS + 1]; /* (n, d_l); h[0] is the borrowed input */
  LA_REAL *u[LA_MAX_LAYERS];     /* (n, r) = h A^T */
  LA_REAL *
      cdf[LA_MAX_LAYERS]; /* (n, d_out) gelu only: Phi(z), reused by backward */
  LA_REAL *gz, *gh;       /* (n, max d) */
  LA_REAL *gu;            /* (n, r) */
  int n_last;             /* rows of the last forward */
} LA_SUF(la_net);

/* Allocates the workspace of a net of L layers with widths dims (L+1), rank r
 * (ignored when full), at most n_max rows per call. Parameter and gradient
 * pointers are left NULL for the caller to set. Returns 0 or LA_ENOMEM. */
int LA_SUF(la_net_init)(LA_SUF(la_net) * net, int L, const int *dims, int r,
                        int n_max, la_act act, la_loss loss, double s,
                        int full);

/* Releases the workspace. Safe on a zeroed net. */
void LA_SUF(la_net_free)(LA_SUF(la_net) * net);

/* Releases net's workspace and makes it work in from's, a net of the same
 * layers, rank, activation and n_max: for nets that never compute at the
 * same time and keep nothing in it between calls (pack.h), so that one
 * workspace stays in cache. from's workspace must outlive net's use. */
void LA_SUF(la_net_share_workspace)(LA_SUF(la_net) * net,
                                    const LA_SUF(la_net) * from);

/* Forward pass on X (n, dims[0]), n <= n_max. Returns the output (n, dims[L]),
 * a buffer of the net's valid until the next call. */
const LA_REAL *LA_SUF(la_net_forward)(LA_SUF(la_net) * net, const LA_REAL *X,
                                      int n);

/* la_net_forward with the first layer's frozen product X W0_0^T given as
 * z0 (n, dims[1]), computed once by the caller for runs that share X and
 * W0_0 (pack.h); the output is bit for bit la_net_forward's when z0 is
 * what its GEMM gives. */
const LA_REAL *LA_SUF(la_net_forward_shared)(LA_SUF(la_net) * net,
                                             const LA_REAL *X,
                                             const LA_REAL *z0, int n);

/* Loss of the last forward's output against Y ((n, dims[L]) for mse, (n) class
 * indices for ce), accumulated in double. With want_grad, also stores dL/dz of
 * the output layer for backward. */
double LA_SUF(la_net_loss)(LA_SUF(la_net) * net, const LA_REAL *Y,
                           int want_grad);

/* Backward pass after forward + loss(want_grad): writes gA, gB (or gW). */
void LA_SUF(la_net_backward)(LA_SUF(la_net) * net);

/* forward + loss + backward. Returns the loss. */
double LA_SUF(la_net_loss_grad)(LA_SUF(la_net) * net, const LA_REAL *X,
                                const LA_REAL *Y, int n);

/* The activation between layers on n elements, as forward and backward
 * apply it (for a driver that runs the layers itself, pack.h): h = act(z),
 * gelu keeping Phi(z) in cdf; and g *= act'(z) given h and cdf. */
void LA_SUF(la_act_forward)(la_act act, const LA_REAL *z, LA_REAL *h,
                            LA_REAL *cdf, size_t n);
void LA_SUF(la_act_backward)(la_act act, const LA_REAL *z, const LA_REAL *h,
                             const LA_REAL *cdf, LA_REAL *g, size_t n);
