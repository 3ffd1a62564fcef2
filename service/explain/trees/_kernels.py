# mypy: disable-error-code="no-untyped-def"
# (numba infers the kernels' argument types from the arrays at the first call)
"""Compiled loops (numba): tree evaluation, path patterns and the path-table gather.

Numba compiles each function on its first call (``cache=True`` keeps the machine
code on disk for the next process), so importing this module costs nothing.
Every kernel takes plain arrays; ``predict.py`` and ``interventional.py`` own the
meaning. Rows run in parallel (``prange``); each row writes only its own output.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "chain_kernel",
    "distinct_kernel",
    "histogram_kernel",
    "leaf_players_kernel",
    "patterns_kernel",
    "predict_kernel",
    "shapley_kernel",
    "slot_bits_kernel",
    "walk_kernel",
]

_LEQ, _LT, _GTE, _GT, _NEQ = 0, 1, 2, 3, 5
_BLOCK = 64  # rows per block in shapley_kernel


@nb.njit(cache=True, inline="always")
def _goes_true(v, node, mode, threshold, nan_true, set_ptr, set_values):
    if v != v:  # NaN: the node's flag, except NEQ where NaN != t is true
        return nan_true[node] or mode[node] == _NEQ
    m = mode[node]
    t = threshold[node]
    if m == _LEQ:
        return v <= t
    if m == _LT:
        return v < t
    if m == _GTE:
        return v >= t
    if m == _GT:
        return v > t
    if m == _NEQ:
        return v != t
    # MEMBER (EQ is a one-value set); an explicit loop, as numba compiles no generators.
    for j in range(set_ptr[node], set_ptr[node + 1]):  # noqa: SIM110
        if set_values[j] == v:
            return True
    return False


@nb.njit(cache=True, inline="always")
def _leaf_of(z, node, feature, threshold, mode, nan_true, true_child, false_child, leaf, sp, sv):
    """The leaf (index into leaf_values) that row z reaches from ``node``."""
    while leaf[node] < 0:
        if _goes_true(z[feature[node]], node, mode, threshold, nan_true, sp, sv):
            node = true_child[node]
        else:
            node = false_child[node]
    return leaf[node]


@nb.njit(cache=True, parallel=True)
def predict_kernel(
    X,
    feature,
    threshold,
    mode,
    nan_true,
    true_child,
    false_child,
    leaf,
    set_ptr,
    set_values,
    roots,
    leaf_values,
    base,
):
    """Sum of leaf values plus base: X (n, F) -> (n, n_scores)."""
    n = X.shape[0]
    n_scores = leaf_values.shape[1]
    out = np.empty((n, n_scores))
    for i in nb.prange(n):
        for o in range(n_scores):
            out[i, o] = base[o]
        for t in range(roots.shape[0]):
            lf = _leaf_of(
                X[i],
                roots[t],
                feature,
                threshold,
                mode,
                nan_true,
                true_child,
                false_child,
                leaf,
                set_ptr,
                set_values,
            )
            for o in range(n_scores):
                out[i, o] += leaf_values[lf, o]
    return out


_WALK_BLOCK = 64  # rows per block in walk_kernel: their columns stay in L1 across a tree


@nb.njit(cache=True, inline="always")
def _step(x, node, feature, threshold, nan_true, children, mode, nan):
    """The child a row goes to: a leaf is its own child."""
    v = x[feature[node]]
    t = threshold[node]
    if mode == _LEQ:
        go = v <= t
    elif mode == _LT:
        go = v < t
    elif mode == _GTE:
        go = v >= t
    else:
        go = v > t
    if nan and v != v:
        go = nan_true[node]
    return children[2 * node + (1 if go else 0)]


@nb.njit(cache=True, inline="always")
def _walk_block(
    X, out, r0, r1, feature, threshold, nan_true, children, mode, nan, roots, depth, leaf, values
):
    for t in range(roots.shape[0]):
        root = roots[t]
        i = r0
        while i < r1:
            # rows past the block's end repeat its last row, and are not written
            x0, x1 = X[i], X[min(i + 1, r1 - 1)]
            x2, x3 = X[min(i + 2, r1 - 1)], X[min(i + 3, r1 - 1)]
            n0 = n1 = n2 = n3 = root
            for _ in range(depth[t]):
                n0 = _step(x0, n0, feature, threshold, nan_true, children, mode, nan)
                n1 = _step(x1, n1, feature, threshold, nan_true, children, mode, nan)
                n2 = _step(x2, n2, feature, threshold, nan_true, children, mode, nan)
                n3 = _step(x3, n3, feature, threshold, nan_true, children, mode, nan)
            for o in range(values.shape[1]):
                out[i, o] += values[leaf[n0], o]
                if i + 1 < r1:
                    out[i + 1, o] += values[leaf[n1], o]
                if i + 2 < r1:
                    out[i + 2, o] += values[leaf[n2], o]
                if i + 3 < r1:
                    out[i + 3, o] += values[leaf[n3], o]
            i += 4


@nb.njit(cache=True, nogil=True, parallel=True)
def walk_kernel(
    X, feature, threshold, nan_true, children, mode, nan, roots, depth, leaf, leaf_values, base
):
    """``predict_kernel``'s sums (same leaves, same order: bit for bit) without branches.

    For ensembles whose splits all compare with one numeric ``mode``: a leaf is its own
    child (``children``: (2 * n_nodes,), false then true child), so every row takes
    exactly ``depth[t]`` steps in tree t. Within a block of rows, tree by tree, four rows
    walk at once: four independent chains of loads the CPU overlaps, where a walk per row
    stalls on every mispredicted split. ``nan``: some node sends NaN to its true child.
    """
    n = X.shape[0]
    n_scores = leaf_values.shape[1]
    out = np.empty((n, n_scores))
    n_blocks = (n + _WALK_BLOCK - 1) // _WALK_BLOCK
    for b in nb.prange(n_blocks):
        r0 = b * _WALK_BLOCK
        r1 = min(n, r0 + _WALK_BLOCK)
        for i in range(r0, r1):
            for o in range(n_scores):
                out[i, o] = base[o]
        # scikit-learn's case with constants, so that the compiler drops the dispatch
        if mode == _LEQ and not nan:
            _walk_block(
                X, out, r0, r1, feature, threshold, nan_true, children, _LEQ, False, roots,
                depth, leaf, leaf_values,
            )  # fmt: skip
        else:
            _walk_block(
                X, out, r0, r1, feature, threshold, nan_true, children, mode, nan, roots,
                depth, leaf, leaf_values,
            )  # fmt: skip
    return out


@nb.njit(cache=True, inline="always")
def _conditions(x, cond, feature, threshold, mode, nan_true, leaf, set_ptr, set_values):
    for node in range(feature.shape[0]):
        if leaf[node] < 0:
            cond[node] = _goes_true(
                x[feature[node]], node, mode, threshold, nan_true, set_ptr, set_values
            )


@nb.njit(cache=True, inline="always")
def _pattern(p, cond, k, cons_ptr, cons_node, cons_true, cons_slot):
    bits = (np.int64(1) << k[p]) - 1
    for c in range(cons_ptr[p], cons_ptr[p + 1]):
        if cond[cons_node[c]] != (cons_true[c] == 1):
            bits &= ~(np.int64(1) << cons_slot[c])
    return bits


@nb.njit(cache=True, parallel=True)
def patterns_kernel(
    X,
    feature,
    threshold,
    mode,
    nan_true,
    leaf,
    set_ptr,
    set_values,
    k,
    cons_ptr,
    cons_node,
    cons_true,
    cons_slot,
):
    """Each row's pattern on each path: X (n, F) -> (n, P) int64 bit masks."""
    n = X.shape[0]
    n_paths = k.shape[0]
    out = np.empty((n, n_paths), np.int64)
    for i in nb.prange(n):
        cond = np.empty(feature.shape[0], np.bool_)
        _conditions(X[i], cond, feature, threshold, mode, nan_true, leaf, set_ptr, set_values)
        for p in range(n_paths):
            out[i, p] = _pattern(p, cond, k, cons_ptr, cons_node, cons_true, cons_slot)
    return out


@nb.njit(cache=True, parallel=True)
def histogram_kernel(patterns, dense_off, counts):
    """counts[dense_off[p] + pattern] += 1 for every row, for paths with a dense table."""
    n, n_paths = patterns.shape
    for p in nb.prange(n_paths):  # paths in parallel: each owns its slice of counts
        off = dense_off[p]
        if off >= 0:
            for i in range(n):
                counts[off + patterns[i, p]] += 1.0


@nb.njit(cache=True, parallel=True)
def distinct_kernel(patterns):
    """Per column (path), the distinct patterns and their counts: (n, P) -> uniq (P, n),
    count (P, n) and length (P,); entries past ``length[p]`` are unused."""
    n, n_paths = patterns.shape
    uniq = np.empty((n_paths, n), np.int64)
    count = np.empty((n_paths, n), np.int64)
    length = np.zeros(n_paths, np.int64)
    for p in nb.prange(n_paths):
        col = np.sort(patterns[:, p])
        u = 0
        for i in range(n):
            if u > 0 and col[i] == uniq[p, u - 1]:
                count[p, u - 1] += 1
            else:
                uniq[p, u] = col[i]
                count[p, u] = 1
                u += 1
        length[p] = u
    return uniq, count, length


@nb.njit(cache=True, parallel=True)
def slot_bits_kernel(k, sparse_ptr, sparse_pattern, bits_ptr, n_bits):
    """For each table-less path and slot, the set of its distinct background patterns that
    satisfy the slot, as bit sets of 64-pattern words: word w of slot j of path p is
    ``bits[bits_ptr[p] + j * n_words_p + w]``."""
    bits = np.zeros(n_bits, np.int64)
    for p in nb.prange(k.shape[0]):
        u0 = sparse_ptr[p]
        u = sparse_ptr[p + 1] - u0
        if bits_ptr[p + 1] == bits_ptr[p]:
            continue
        n_words = (u + 63) >> 6
        for q in range(u):
            rp = sparse_pattern[u0 + q]
            for j in range(k[p]):
                if (rp >> j) & 1:
                    bits[bits_ptr[p] + j * n_words + (q >> 6)] |= np.int64(1) << (q & 63)
    return bits


@nb.njit(cache=True, inline="always")
def _popcount(v):
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@nb.njit(cache=True, parallel=True)
def shapley_kernel(
    X,
    feature,
    threshold,
    mode,
    nan_true,
    leaf,
    set_ptr,
    set_values,
    leaf_values,
    path_leaf,
    k,
    cons_ptr,
    cons_node,
    cons_true,
    cons_slot,
    slot_ptr,
    slot_player,
    prefix,
    max_splits,
    table_off,
    tables,
    sparse_ptr,
    sparse_pattern,
    sparse_frac,
    bits_ptr,
    slot_bits,
    coef_in,
    coef_out,
    n_players,
):
    """Interventional Shapley values: X (n, F) -> (n, n_players, n_scores).

    A path with a dense table reads its k weights at ``table_off[p] + pattern * k``.
    A path without one (many slots) visits only the background's distinct patterns
    that reach its leaf together with x (every slot x fails, they satisfy: an AND of
    the slots' bit sets, 64 patterns a word), weighting each by its frequency with the
    closed form of ``interventional.py``. On deep paths most patterns cannot reach
    the leaf, so this skips most of the loop.
    """
    n = X.shape[0]
    n_scores = leaf_values.shape[1]
    out = np.zeros((n, n_players, n_scores))
    # Rows go in blocks, paths outermost within a block: each path's table (at most
    # 2^k * k doubles) is then read from cache for every row of the block instead of
    # once per row from memory, which is what bounds this loop.
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in nb.prange(n_blocks):
        r0 = b * _BLOCK
        rows = min(n, r0 + _BLOCK) - r0
        cond = np.empty((rows, feature.shape[0]), np.bool_)
        for i in range(rows):
            _conditions(
                X[r0 + i], cond[i], feature, threshold, mode, nan_true, leaf, set_ptr, set_values
            )
        # failed[i, d]: the slots row i fails within the first d splits of the current
        # path; consecutive paths share a prefix, so each path only reads its new splits.
        failed = np.zeros((rows, max_splits + 1), np.int64)
        for p in range(path_leaf.shape[0]):
            kp = k[p]
            value = leaf_values[path_leaf[p]]
            s0 = slot_ptr[p]
            full = (np.int64(1) << kp) - 1
            c0 = cons_ptr[p]
            d0 = prefix[p]
            for i in range(rows):
                phi = out[r0 + i]
                f = failed[i, d0]
                for c in range(c0 + d0, cons_ptr[p + 1]):
                    if cond[i, cons_node[c]] != (cons_true[c] == 1):
                        f |= np.int64(1) << cons_slot[c]
                    failed[i, c - c0 + 1] = f
                xp = full & ~f
                if table_off[p] >= 0:
                    row = table_off[p] + xp * kp
                    for j in range(kp):
                        w = tables[row + j]
                        if w != 0.0:
                            pl = slot_player[s0 + j]
                            for o in range(n_scores):
                                phi[pl, o] += w * value[o]
                    continue
                u0 = sparse_ptr[p]
                u = sparse_ptr[p + 1] - u0
                n_words = (u + 63) >> 6
                fails = ~xp & full
                # every visited pattern satisfies all the slots x fails, so its "only r"
                # slots are exactly ``fails``: their shares add up into one weight
                c = _popcount(fails)
                w_fails = 0.0
                for word in range(n_words):
                    left = u - word * 64
                    cand = np.int64(-1) if left >= 64 else (np.int64(1) << left) - 1
                    for j in range(kp):
                        if (fails >> j) & 1:
                            cand &= slot_bits[bits_ptr[p] + j * n_words + word]
                    while cand != 0:
                        low = cand & -cand
                        cand ^= low
                        q = u0 + word * 64 + _popcount(low - 1)
                        only_x = xp & ~sparse_pattern[q]
                        a = _popcount(only_x)
                        if a + c == 0:
                            continue
                        w_fails += sparse_frac[q] * coef_out[a, c]
                        w_in = sparse_frac[q] * coef_in[a, c]
                        while only_x != 0:
                            bit = only_x & -only_x
                            only_x ^= bit
                            pl = slot_player[s0 + _popcount(bit - 1)]
                            for o in range(n_scores):
                                phi[pl, o] += w_in * value[o]
                if w_fails != 0.0:
                    for j in range(kp):
                        if (fails >> j) & 1:
                            pl = slot_player[s0 + j]
                            for o in range(n_scores):
                                phi[pl, o] -= w_fails * value[o]
    return out


@nb.njit(cache=True)
def leaf_players_kernel(roots, feature, true_child, false_child, leaf, owner, n_leaves):
    """(n_leaves,) int64 bit mask of the players split on along each leaf's root path
    (owner: (F,) player of each column, players < 63); a step that adds a player
    outside the mask of a tree's current leaf cannot move that tree."""
    mask = np.zeros(n_leaves, np.int64)
    stack = np.empty(feature.shape[0] + 1, np.int64)
    bits = np.empty(feature.shape[0] + 1, np.int64)
    for t in range(roots.shape[0]):
        stack[0] = roots[t]
        bits[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            b = bits[top]
            if leaf[node] >= 0:
                mask[leaf[node]] |= b
            else:
                b |= np.int64(1) << owner[feature[node]]
                stack[top] = true_child[node]
                bits[top] = b
                stack[top + 1] = false_child[node]
                bits[top + 1] = b
                top += 2
    return mask


@nb.njit(cache=True, parallel=True)
def chain_kernel(
    X,
    B,
    perms,
    refs,
    col_ptr,
    col_idx,
    leaf_players,
    feature,
    threshold,
    mode,
    nan_true,
    true_child,
    false_child,
    leaf,
    set_ptr,
    set_values,
    roots,
    leaf_values,
    base,
):
    """Tree scores along permutation chains: X (n, F) rows, B (n_refs, F) references,
    perms (n, c, M) player orders, refs (n, c) reference of each chain ->
    (n, c, M + 1, n_scores), coalition t holding the first t players of the chain.

    A step re-walks only the trees whose current leaf's root path splits on the added
    player (``leaf_players``: bit masks per leaf), and none when the row and the
    reference agree on the player's columns.
    """
    n, c, m = perms.shape
    n_scores = leaf_values.shape[1]
    n_trees = roots.shape[0]
    n_refs = B.shape[0]
    out = np.empty((n, c, m + 1, n_scores))
    # every chain from a reference starts at its leaves: walk each reference once
    ref_leaf = np.empty((n_refs, n_trees), np.int64)
    ref_score = np.empty((n_refs, n_scores))
    for r in nb.prange(n_refs):
        for o in range(n_scores):
            ref_score[r, o] = base[o]
        for t in range(n_trees):
            lf = _leaf_of(
                B[r],
                roots[t],
                feature,
                threshold,
                mode,
                nan_true,
                true_child,
                false_child,
                leaf,
                set_ptr,
                set_values,
            )
            ref_leaf[r, t] = lf
            for o in range(n_scores):
                ref_score[r, o] += leaf_values[lf, o]
    for ic in nb.prange(n * c):
        i = ic // c
        ch = ic - i * c
        z = B[refs[i, ch]].copy()
        cur = ref_leaf[refs[i, ch]].copy()
        s = ref_score[refs[i, ch]].copy()
        for o in range(n_scores):
            out[i, ch, 0, o] = s[o]
        for step in range(m):
            j = perms[i, ch, step]
            changed = False
            for q in range(col_ptr[j], col_ptr[j + 1]):
                col = col_idx[q]
                v = X[i, col]
                if not (v == z[col] or (v != v and z[col] != z[col])):
                    changed = True
                z[col] = v
            if changed:
                bit = np.int64(1) << j if j < 63 else np.int64(-1)
                for t in range(n_trees):
                    if leaf_players[cur[t]] & bit == 0:
                        continue
                    lf = _leaf_of(
                        z,
                        roots[t],
                        feature,
                        threshold,
                        mode,
                        nan_true,
                        true_child,
                        false_child,
                        leaf,
                        set_ptr,
                        set_values,
                    )
                    if lf != cur[t]:
                        for o in range(n_scores):
                            s[o] += leaf_values[lf, o] - leaf_values[cur[t], o]
                        cur[t] = lf
            for o in range(n_scores):
                out[i, ch, step + 1, o] = s[o]
    return out
