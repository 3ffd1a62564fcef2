# mypy: disable-error-code="no-untyped-def"
# (numba infers the kernels' argument types from the arrays at the first call)
"""Compiled loops (numba) for KernelSHAP: coalition draws, coalition rows, expectations.

shap's ``KernelExplainer`` runs these loops in Python, one coalition at a time, holding
the GIL for about as long as the model runs. Here each one is a ``nogil`` kernel, so
concurrent explanations overlap; ``kernel_shap.py`` owns their meaning and order.

- ``draw_kernel`` is shap's sampling loop: for each drawn subset size, a permutation of
  the players whose first ``size`` entries join the coalition; a coalition seen before
  adds 1 to its weight, a new one (and its complement, for paired sizes) is a new row.
  ``RandomState.permutation(M)`` is numpy's legacy Fisher-Yates shuffle: for
  ``i = M-1 .. 1`` a draw in ``[0, i]`` by masked rejection on 32-bit outputs of the
  same MT19937 stream. The kernel reads those outputs from ``raw`` (``random_raw`` of a
  copy of the generator), so its permutations are numpy's, bit for bit. When ``raw``
  runs out it stops before the permutation that needed more and returns 1; the caller
  appends outputs and calls again (``state`` carries the position).
- ``synth_kernel`` writes the coalition rows (shap's ``synth_data``): background rows
  with each joined player's columns taken from ``x``.
- ``expect_kernel`` is shap's ``_exp_val``: the weighted mean over the background of
  each coalition's outputs, summed in the same order.

Numba compiles on first call (``cache=True`` keeps it on disk), never at import.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["draw_kernel", "expect_kernel", "synth_kernel"]

_EMPTY = -1


@nb.njit(cache=True, nogil=True)
def _hash(row):
    h = np.uint64(14695981039346656037)
    for j in range(row.shape[0]):
        bit = np.uint64(1) if row[j] == 1.0 else np.uint64(0)
        h = (h ^ bit) * np.uint64(1099511628211)
    return h


@nb.njit(cache=True, nogil=True)
def _same(a, b):
    # an explicit loop, as numba compiles no generators
    for j in range(a.shape[0]):  # noqa: SIM110
        if a[j] != b[j]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def draw_kernel(ind_set, raw, state, masks, weights, table, num_full, num_paired):
    """Draw coalitions until ``state[1]`` (samples left) is 0 or ``ind_set`` is spent.

    ind_set: (n_draws,) subset-size indices from ``choice``; raw: (n_raw,) MT19937
    outputs; state: [draw position, samples left, rows added, raw position] (updated);
    masks: (n_rows, M) float, weights: (n_rows,) float, rows from ``state[2]`` on are
    written; table: (2**k,) int64 filled with -1, the seen coalitions (row indices).
    Returns 0 when done, 1 when ``raw`` ran out (the caller appends and calls again).
    """
    M = masks.shape[1]
    n_raw = raw.shape[0]
    slots = table.shape[0] - 1
    perm = np.empty(M, dtype=np.int64)
    candidate = np.zeros(M, dtype=masks.dtype)
    pos, left, added, r = state[0], state[1], state[2], state[3]
    while left > 0 and pos < ind_set.shape[0]:
        # the permutation first: when raw runs out, this draw has changed nothing
        for i in range(M):
            perm[i] = i
        at = r
        for i in range(M - 1, 0, -1):
            bound = np.uint64(i)
            bits = bound
            bits |= bits >> np.uint64(1)
            bits |= bits >> np.uint64(2)
            bits |= bits >> np.uint64(4)
            bits |= bits >> np.uint64(8)
            bits |= bits >> np.uint64(16)
            bits |= bits >> np.uint64(32)
            while True:
                if at >= n_raw:
                    state[0], state[1], state[2], state[3] = pos, left, added, r
                    return 1
                value = np.uint64(raw[at]) & bits
                at += 1
                if value <= bound:
                    break
            j = np.int64(value)
            perm[i], perm[j] = perm[j], perm[i]
        r = at
        size = ind_set[pos] + num_full + 1
        pos += 1
        candidate[:] = 0.0
        for i in range(size):
            candidate[perm[i]] = 1.0
        slot = np.int64(_hash(candidate) & np.uint64(slots))
        seen = _EMPTY
        while table[slot] != _EMPTY:
            if _same(masks[table[slot]], candidate):
                seen = table[slot]
                break
            slot = (slot + 1) & slots
        if seen == _EMPTY:
            table[slot] = added
            masks[added] = candidate
            weights[added] = 1.0
            added += 1
            left -= 1
        else:
            weights[seen] += 1.0
        if left > 0 and size <= num_paired:
            if seen == _EMPTY:
                for i in range(M):
                    masks[added, i] = np.abs(candidate[i] - 1.0)
                weights[added] = 1.0
                added += 1
                left -= 1
            else:
                weights[seen + 1] += 1.0
    state[0], state[1], state[2], state[3] = pos, left, added, r
    return 0


@nb.njit(cache=True, nogil=True)
def synth_kernel(background, x, player_of_column, masks, n_rows, out):
    """Coalition rows: out[k * N + b] is background row b with the columns of every
    player in coalition k taken from x. background: (N, P); x: (P,); player_of_column:
    (P,) the column's (varying) player, -1 for none; masks: (>= n_rows, M); out:
    (n_rows * N, P)."""
    N, P = background.shape
    for k in range(n_rows):
        for b in range(N):
            row = k * N + b
            for c in range(P):
                p = player_of_column[c]
                if p >= 0 and masks[k, p] == 1.0:
                    out[row, c] = x[c]
                else:
                    out[row, c] = background[b, c]


@nb.njit(cache=True, nogil=True)
def expect_kernel(y, weights, n_rows, ey):
    """ey[k] = sum over background rows b (in order) of y[k * N + b] * weights[b], for
    k < n_rows. y: (n_rows * N, D); weights: (N,); ey: (>= n_rows, D)."""
    N = weights.shape[0]
    D = y.shape[1]
    for k in range(n_rows):
        for d in range(D):
            total = 0.0
            for b in range(N):
                total += y[k * N + b, d] * weights[b]
            ey[k, d] = total
