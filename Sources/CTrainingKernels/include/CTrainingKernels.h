#ifndef QUARRY_TRAINING_KERNELS_H
#define QUARRY_TRAINING_KERNELS_H

/// Element-wise float kernels of the trainer that are bound by exp(): written in C so the
/// compiler vectorises them for the CPU found at run time (target_clones), which Swift code
/// built for baseline x86-64 cannot do. Each works on one contiguous range; the caller splits
/// the work over threads.

/// The instruction set the kernels below run with here (the order the loader tries them in).
const char *quarry_kernels_variant(void);

/// out = GELU(in) with the tanh approximation, n values.
void quarry_gelu_forward(float *out, const float *in, long n);

/// dinp += GELU'(inp) * dout, n values.
void quarry_gelu_backward(float *dinp, const float *inp, const float *dout, long n);

/// Per row of `vocab` logits: probs = softmax(logits) (in place when probs == logits) and
/// losses[row] = -log(probs[target]); a row whose target is -1 gets zero probabilities and loss 0.
void quarry_softmax_cross_entropy(float *probs, float *losses, const float *logits, const int *targets,
                                  long rows, long vocab);

/// The causal softmax of an n×n matrix of attention scores, in place: row t scaled by `scale`,
/// softmax over columns 0...t, zero after.
void quarry_causal_softmax(float *w, long n, float scale);

/// exp() of n values (a test hook for the vectorised exponential's accuracy).
void quarry_exp(float *out, const float *in, long n);

#endif
