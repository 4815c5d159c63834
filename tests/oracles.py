"""Slow NumPy/pure-Python twins of the kernels, used as test oracles."""

import math

import numpy as np

from lightfm._kernels.candidates import RING_SIZE

MASK = (1 << 64) - 1


class XorShift:
    """The kernels' xorshift64* generator in pure Python."""

    def __init__(self, state):
        self.state = int(state)

    def next_u64(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & MASK
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & MASK

    def below(self, n):
        return ((self.next_u64() >> 32) * n) >> 32

    def shuffle(self, order, lo, hi):
        for i in range(hi - 1, lo, -1):
            j = lo + self.below(i - lo + 1)
            order[i], order[j] = order[j], order[i]


class CandidateRing:
    """The kernels' negative candidates: draws from ``rng`` delayed by ``size`` draws.

    Filled once the epoch's order is shuffled; taking a candidate draws its replacement
    from the same generator (so other draws, e.g. k-OS's positives, interleave with them).
    """

    def __init__(self, draw, size=RING_SIZE):
        self.draw = draw
        self.pending = [draw() for _ in range(size)]

    def take(self):
        self.pending.append(self.draw())
        return self.pending.pop(0)


def _adagrad(param, acc, grad, lr):
    acc += grad * grad
    param -= lr / np.sqrt(acc) * grad


def _step_rows(updates, lr):
    """Adagrad steps, in float64, on (param row, accumulator row, gradient) triples."""
    for param, acc, g in updates:
        a, p = acc.astype(np.float64), param.astype(np.float64)
        _adagrad(p, a, g, lr)
        param[:], acc[:] = p, a


def _pairwise_update(params, u, pos, neg, loss, lr):
    """Push item ``pos`` up and ``neg`` down for user ``u``; the user's bias gets no gradient."""
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    urep, irep, jrep = (x.astype(np.float64) for x in (U[u], V[pos], V[neg]))
    _step_rows(
        ((U[u], Ug[u], loss * (jrep - irep)), (V[pos], Vg[pos], -loss * urep), (V[neg], Vg[neg], loss * urep)), lr
    )
    for index, g in ((pos, -loss), (neg, loss)):
        a = np.array([Vbg[index]], dtype=np.float64)
        p = np.array([Vb[index]], dtype=np.float64)
        _adagrad(p, a, np.array([g]), lr)
        Vb[index], Vbg[index] = p[0], a[0]


def logistic_epoch(params, rows, cols, labels, order, state, lr):
    """One single-threaded logistic epoch with identity features and adagrad (no regularisation)."""
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    rng = XorShift(state)
    rng.shuffle(order, 0, len(order))
    for i in order:
        u, it = rows[i], cols[i]
        urep, irep = U[u].astype(np.float64), V[it].astype(np.float64)
        s = urep @ irep + Ub[u] + Vb[it]
        y = 1.0 if labels[i] > 0 else 0.0
        loss = 1.0 / (1.0 + math.exp(-s)) - y
        _step_rows(((U[u], Ug[u], loss * irep), (V[it], Vg[it], loss * urep)), lr)
        for bias, acc, index in ((Ub, Ubg, u), (Vb, Vbg, it)):
            a = np.array([acc[index]], dtype=np.float64)
            p = np.array([bias[index]], dtype=np.float64)
            _adagrad(p, a, np.array([loss]), lr)
            bias[index], acc[index] = p[0], a[0]
    return rng.state


def _warp_negative(params, candidates, u, pos, pos_score, positives, n_items, max_sampled, lr):
    """Uniform draws until a non-positive violates the margin; step on it with the rank weight."""
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    urep = U[u].astype(np.float64)
    for draw in range(1, max_sampled + 1):
        neg = candidates.take()
        neg_score = urep @ V[neg] + Ub[u] + Vb[neg]
        if neg_score > pos_score - 1.0:
            if neg in positives[u]:
                continue
            loss = min(math.log(max(1.0, math.floor((n_items - 1) / draw))), 10.0)
            _pairwise_update(params, u, pos, neg, loss, lr)
            return


def warp_epoch(params, rows, cols, order, positives, n_items, max_sampled, state, lr):
    """One single-threaded WARP epoch with identity features and adagrad (no regularisation)."""
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    rng = XorShift(state)
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: rng.below(n_items))
    for i in order:
        u, pos = rows[i], cols[i]
        pos_score = U[u].astype(np.float64) @ V[pos] + Ub[u] + Vb[pos]
        _warp_negative(params, candidates, u, pos, pos_score, positives, n_items, max_sampled, lr)
    return rng.state


def warp_kos_epoch(params, rows, order, positives, n_items, max_sampled, k, n, state, lr):
    """One single-threaded k-OS WARP epoch (identity features, adagrad, no regularisation).

    Per example: draw min(n, #positives) of the user's positives (sorted, with
    replacement), take the k-th highest scored (ties: earlier draw first) and
    run WARP on it.
    """
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    rng = XorShift(state)
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: rng.below(n_items))
    for i in order:
        u = rows[i]
        user_positives = sorted(positives[u])
        if not user_positives:
            continue
        urep = U[u].astype(np.float64)
        drawn = [user_positives[rng.below(len(user_positives))] for _ in range(min(max(n, 1), len(user_positives)))]
        scores = [urep @ V[item] + Ub[u] + Vb[item] for item in drawn]
        ranked = sorted(range(len(drawn)), key=lambda s: (-scores[s], s))
        chosen = ranked[min(max(k, 1), len(drawn)) - 1]
        _warp_negative(params, candidates, u, drawn[chosen], scores[chosen], positives, n_items, max_sampled, lr)
    return rng.state


def brute_force_ranks(scores, test, train):
    """Dense ranks: for each test (u, i), count non-train items j != i with score >= score[u, i]."""
    test = test.tocsr()
    train = train.tocsr() if train is not None else None
    ranks = np.zeros(test.nnz)
    for u in range(test.shape[0]):
        excluded = set(train.indices[train.indptr[u] : train.indptr[u + 1]]) if train is not None else set()
        for p in range(test.indptr[u], test.indptr[u + 1]):
            i = test.indices[p]
            ranks[p] = sum(
                1 for j in range(test.shape[1]) if j != i and j not in excluded and scores[u, j] >= scores[u, i]
            )
    return ranks


def _alias_draw(rng, prob, alias):
    i = rng.below(len(prob))
    u = np.float32(rng.next_u64() >> 40) * np.float32(1.0 / (1 << 24))
    return i if u < prob[i] else int(alias[i])


def bpr_epoch(params, rows, cols, order, positives, n_items, prob, alias, state, lr):
    """One single-threaded BPR epoch with identity features and adagrad (no regularisation)."""
    U, Ug, Ub, Ubg, V, Vg, Vb, Vbg = params
    rng = XorShift(state)
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: _alias_draw(rng, prob, alias))
    for i in order:
        u, pos = rows[i], cols[i]
        if len(positives[u]) >= n_items:
            continue
        neg = -1
        for _ in range(100):
            candidate = candidates.take()
            if candidate not in positives[u]:
                neg = candidate
                break
        if neg < 0:
            continue
        urep, irep, jrep = (x.astype(np.float64) for x in (U[u], V[pos], V[neg]))
        diff = (urep @ irep + Vb[pos]) - (urep @ jrep + Vb[neg])
        _pairwise_update(params, u, pos, neg, 1.0 / (1.0 + math.exp(diff)), lr)
    return rng.state


def brute_force_top_n(scores, n, exclude=None, candidates=None):
    """Best ``n`` items per row of ``scores``: (items, scores) sorted by descending score then item index.

    ``exclude`` is a list of sets of items per row; ``candidates`` the allowed
    items (all if None). Short rows are padded with -1 / -inf.
    """
    n_rows, n_items = scores.shape
    allowed = set(range(n_items)) if candidates is None else set(int(c) for c in candidates)
    items = np.full((n_rows, n), -1, dtype=np.int64)
    values = np.full((n_rows, n), -np.inf, dtype=np.float64)
    for row in range(n_rows):
        pool = sorted(allowed - (exclude[row] if exclude is not None else set()))
        ranked = sorted(pool, key=lambda item: (-scores[row, item], item))[:n]
        items[row, : len(ranked)] = ranked
        values[row, : len(ranked)] = scores[row, ranked]
    return items, values
