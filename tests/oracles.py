"""Slow NumPy/pure-Python twins of the kernels, used as test oracles."""

import math

import numpy as np

from lightfm.backends._common import RING_SIZE

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


# The original's MAX_REG_SCALE: a scale past it is folded into the parameters.
FOLD_ABOVE = 1e6
# Where the kernels' float32 accumulators saturate.
ACC_MAX = float(np.finfo(np.float32).max)


class Trainer:
    """Single-threaded SGD in float64: the training kernels' twin.

    ``arrays`` maps the twelve names of :data:`lightfm._state.PARAMETER_NAMES`
    to a model's arrays (copied); ``config`` holds ``learning_schedule``,
    ``learning_rate``, ``rho``, ``epsilon``, ``user_alpha``, ``item_alpha``;
    ``user_features`` / ``item_features`` are CSR matrices or None (identity).
    A row's representation is the weighted sum of its features' embeddings and
    biases, times the side's scale; a step on it steps every feature by the
    gradient times its weight, then multiplies each stepped parameter by
    ``1 + alpha_s * its local learning rate``, and each side's scale by
    ``1 + alpha_s * r``, ``r`` the mean local learning rate over the parameters
    the step updated. :meth:`fold` divides the parameters by the scales and
    resets them: at the end of every epoch, and after a step that took a
    scale past ``FOLD_ABOVE`` (the original LightFM's lazy L2, step for step).
    """

    def __init__(self, arrays, config, user_features=None, item_features=None):
        self.arrays = {name: np.asarray(array, dtype=np.float64).copy() for name, array in arrays.items()}
        self.config = config
        self.features = {"user": user_features, "item": item_features}
        self.alphas = {"user": config.user_alpha, "item": config.item_alpha}
        self.scales = {"user": 1.0, "item": 1.0}

    def _entries(self, side, row):
        features = self.features[side]
        if features is None:
            return [(row, 1.0)]
        start, stop = features.indptr[row], features.indptr[row + 1]
        return list(zip(features.indices[start:stop], features.data[start:stop].astype(np.float64), strict=True))

    def represent(self, side, row):
        """(embedding, bias) of a user or item: the weighted sum over its features."""
        emb, bias = self.arrays[f"{side}_embeddings"], self.arrays[f"{side}_biases"]
        vector, offset = np.zeros(emb.shape[1]), 0.0
        for feature, weight in self._entries(side, row):
            vector += weight * emb[feature]
            offset += weight * bias[feature]
        return vector * self.scales[side], offset * self.scales[side]

    def score(self, u, i):
        (uvec, ubias), (ivec, ibias) = self.represent("user", u), self.represent("item", i)
        return uvec @ ivec + ubias + ibias

    def _schedule(self, value, acc, mom, grad, alpha):
        """One step of the schedule on arrays ``value``, ``acc``, ``mom`` (in place); returns the rates."""
        rate = self._step(value, acc, mom, grad)
        value *= 1.0 + alpha * rate
        return rate

    def _step(self, value, acc, mom, grad):
        config = self.config
        if config.learning_schedule == "adagrad":
            # The rate comes from the accumulator before the gradient is added, as in the original.
            rate = config.learning_rate / np.sqrt(acc)
            acc += grad * grad
            np.minimum(acc, ACC_MAX, out=acc)
            value -= rate * grad
            return rate
        rho, eps = config.rho, config.epsilon
        acc *= rho
        acc += (1 - rho) * grad * grad
        np.minimum(acc, ACC_MAX, out=acc)
        rate = np.sqrt(mom + eps) / np.sqrt(acc + eps)
        step = rate * grad
        mom *= rho
        mom += (1 - rho) * step * step
        np.minimum(mom, ACC_MAX, out=mom)
        value -= step
        return rate

    def step(self, updates):
        """Steps on ``(side, row, representation gradient, bias gradient)`` tuples, in order, then the decay."""
        rate_sum, count = 0.0, 0
        for side, row, grad, bias_grad in updates:
            a = self.arrays
            for feature, weight in self._entries(side, row):
                rates = self._schedule(
                    a[f"{side}_embeddings"][feature],
                    a[f"{side}_embedding_gradients"][feature],
                    a[f"{side}_embedding_momentum"][feature],
                    weight * grad,
                    self.alphas[side],
                )
                bias = a[f"{side}_biases"][feature : feature + 1]
                bias_rate = self._schedule(
                    bias,
                    a[f"{side}_bias_gradients"][feature : feature + 1],
                    a[f"{side}_bias_momentum"][feature : feature + 1],
                    np.array([weight * bias_grad]),
                    self.alphas[side],
                )
                rate_sum += rates.sum() + bias_rate[0]
                count += rates.size + 1
        if count:
            for side, alpha in self.alphas.items():
                self.scales[side] *= 1.0 + alpha * rate_sum / count
        if max(self.scales.values()) > FOLD_ABOVE:
            self.fold()

    def fold(self):
        """Divide every parameter by its side's scale, and reset the scales to 1."""
        for side, scale in self.scales.items():
            self.arrays[f"{side}_embeddings"] /= scale
            self.arrays[f"{side}_biases"] /= scale
            self.scales[side] = 1.0

    def pairwise(self, u, pos, neg, loss):
        """Push item ``pos`` up and ``neg`` down for user ``u``; the user's bias gets gradient ``loss``."""
        urep, irep, jrep = self.represent("user", u)[0], self.represent("item", pos)[0], self.represent("item", neg)[0]
        self.step(
            (
                ("user", u, loss * (jrep - irep), loss),
                ("item", pos, -loss * urep, -loss),
                ("item", neg, loss * urep, loss),
            )
        )

    def logistic(self, u, i, y, weight=1.0):
        urep, irep = self.represent("user", u)[0], self.represent("item", i)[0]
        loss = weight * (_sigmoid(self.score(u, i)) - y)
        self.step((("user", u, loss * irep, loss), ("item", i, loss * urep, loss)))

    def result(self):
        """The arrays, as float32."""
        return {name: array.astype(np.float32) for name, array in self.arrays.items()}


def _sigmoid(x):
    """1 / (1 + exp(-x)), without overflowing for scores a strongly regularised model inflates."""
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def own_items(rows, cols, n_users):
    """Every user's stored items, whatever their values: never drawn as that user's negatives."""
    own = [set() for _ in range(n_users)]
    for r, c in zip(rows, cols, strict=True):
        own[r].add(int(c))
    return own


def logistic_epoch(trainer, rows, cols, labels, state, weights=None):
    """One single-threaded logistic epoch over every entry (> 0 positive, <= 0 negative)."""
    rng = XorShift(state)
    order = list(range(len(rows)))
    rng.shuffle(order, 0, len(order))
    for i in order:
        trainer.logistic(rows[i], cols[i], 1.0 if labels[i] > 0 else 0.0, 1.0 if weights is None else weights[i])
    trainer.fold()
    return rng.state


def _warp_negative(trainer, candidates, u, pos, pos_score, own, n_items, max_sampled, weight=1.0, clip=10.0):
    """Uniform draws until an item not the user's own violates the margin; step on it with the
    rank weight times ``weight``, clipped at ``clip``."""
    for draw in range(1, max_sampled + 1):
        neg = candidates.take()
        if trainer.score(u, neg) > pos_score - 1.0:
            if neg in own[u]:
                continue
            loss = min(weight * math.log(max(1.0, math.floor((n_items - 1) / draw))), clip)
            trainer.pairwise(u, pos, neg, loss)
            return


def warp_epoch(trainer, rows, cols, labels, own, n_items, max_sampled, state, weights=None):
    """One single-threaded WARP epoch over the positive entries."""
    rng = XorShift(state)
    order = [i for i in range(len(rows)) if labels[i] > 0]
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: rng.below(n_items))
    for i in order:
        u, pos = rows[i], cols[i]
        weight = 1.0 if weights is None else float(weights[i])
        _warp_negative(trainer, candidates, u, pos, trainer.score(u, pos), own, n_items, max_sampled, weight)
    trainer.fold()
    return rng.state


def warp_kos_epoch(trainer, rows, own, n_items, max_sampled, k, n, state):
    """One single-threaded k-OS WARP epoch: one visit to its user per stored entry.

    Per visit: draw min(n, #own items) of the user's own items (sorted, with
    replacement), take the k-th highest scored (ties: earlier draw first) and
    run WARP on it.
    """
    rng = XorShift(state)
    order = list(range(len(rows)))
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: rng.below(n_items))
    for i in order:
        u = rows[i]
        items = sorted(own[u])
        drawn = [items[rng.below(len(items))] for _ in range(min(max(n, 1), len(items)))]
        scores = [trainer.score(u, item) for item in drawn]
        ranked = sorted(range(len(drawn)), key=lambda s: (-scores[s], s))
        chosen = ranked[min(max(k, 1), len(drawn)) - 1]
        _warp_negative(trainer, candidates, u, drawn[chosen], scores[chosen], own, n_items, max_sampled, clip=math.inf)
    trainer.fold()
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


def bpr_epoch(trainer, rows, cols, labels, own, n_items, prob, alias, state, weights=None):
    """One single-threaded BPR epoch over the positive entries; negatives from the alias table."""
    rng = XorShift(state)
    order = [i for i in range(len(rows)) if labels[i] > 0]
    rng.shuffle(order, 0, len(order))
    candidates = CandidateRing(lambda: _alias_draw(rng, prob, alias))
    for i in order:
        u, pos = rows[i], cols[i]
        if len(own[u]) >= n_items:
            continue
        neg = -1
        for _ in range(100):
            candidate = candidates.take()
            if candidate not in own[u]:
                neg = candidate
                break
        if neg < 0:
            continue
        diff = trainer.score(u, pos) - trainer.score(u, neg)
        weight = 1.0 if weights is None else float(weights[i])
        trainer.pairwise(u, pos, neg, weight * _sigmoid(-diff))
    trainer.fold()
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


# Users drawn, per max_sampled, to push an item row out of their top (the kernel's PUSH_DRAWS).
FOLD_IN_PUSH_DRAWS = 10


def fold_in_seed(indices):
    """The fold-in kernel's per-row seed, from the row's (sorted) indices."""
    h = 0x9E3779B97F4A7C15 ^ len(indices)
    for index in indices:
        h = ((h ^ int(index)) * 0xBF58476D1CE4E5B9) & MASK
        h ^= h >> 31
    return h or 0x9E3779B97F4A7C15


def fold_in(rows, config, epochs):
    """Fold-in in float64, row by row: the twin of ``lightfm.backends.cpu.kernels.foldin``.

    ``rows`` is a :class:`lightfm.backends.FoldInRows` and ``epochs`` each row's passes; returns
    ``(embeddings, biases)`` of the offsets.
    """
    d = rows.base.shape[1] - 1
    n_rows = rows.indptr.size - 1
    targets = rows.targets.astype(np.float64)
    target_bias = rows.target_bias.astype(np.float64)
    catalogue = rows.catalogue.astype(np.float64)
    catalogue_bias = rows.catalogue_bias.astype(np.float64)
    base = rows.base.astype(np.float64)
    adadelta = config.learning_schedule == "adadelta"
    alpha = config.item_alpha if rows.item_rows else config.user_alpha
    n_cat = catalogue.shape[0]
    n_ranked = n_cat + 1 if rows.item_rows else n_cat
    embs, biases = np.zeros((n_rows, d)), np.zeros(n_rows)
    for r in range(n_rows):
        start, stop = rows.indptr[r], rows.indptr[r + 1]
        own = rows.indices[start:stop]
        rng = XorShift(fold_in_seed(own))
        value = np.zeros(d + 1)  # the offset: embedding, then bias
        acc = np.full(d + 1, 0.0 if adadelta else 1.0)
        mom = np.zeros(d + 1)
        examples = [p for p in range(start, stop) if config.loss in ("logistic", "warp-kos") or rows.labels[p] > 0]

        def step(grad, value=value, acc=acc, mom=mom, weight=float(rows.own[r])):
            grad = weight * grad  # the offset is a feature of this weight
            if adadelta:
                rho, eps = config.rho, config.epsilon
                acc[:] = np.minimum(rho * acc + (1 - rho) * grad * grad, ACC_MAX)
                rate = np.sqrt(mom + eps) / np.sqrt(acc + eps)
                change = rate * grad
                mom[:] = np.minimum(rho * mom + (1 - rho) * change * change, ACC_MAX)
            else:
                rate = config.learning_rate / np.sqrt(acc)
                acc[:] = np.minimum(acc + grad * grad, ACC_MAX)
                change = rate * grad
            value[:] -= change
            if alpha > 0:
                value[:] /= 1.0 + alpha * rate.mean()

        for _ in range(int(epochs[r])):
            rng.shuffle(examples, 0, len(examples))
            for p in examples:
                rep = base[r] + rows.own[r] * value
                t = int(rows.indices[p])
                if config.loss == "logistic":
                    s = rep[:d] @ targets[t] + rep[d] + target_bias[t]
                    loss = rows.weights[p] * (_sigmoid(s) - (1.0 if rows.labels[p] > 0 else 0.0))
                    step(loss * np.append(targets[t], 1.0))
                    continue
                if rows.item_rows:
                    # As a negative first: out of the top of a user not its own.
                    n_users = targets.shape[0]
                    for draw in range(1, config.max_sampled * FOLD_IN_PUSH_DRAWS + 1):
                        other = rng.below(n_users)
                        if other in own:
                            continue
                        mine = rep[:d] @ targets[other] + rep[d] + target_bias[other]
                        if mine > rows.thresholds[other] - 1.0:
                            if config.loss == "bpr":
                                push = _sigmoid(mine - rows.thresholds[other])
                            else:
                                push = min(math.log(max(1.0, math.floor((n_users - 1) / draw))), 10.0)
                            step(push * np.append(targets[other], 1.0))
                            break
                    rep = base[r] + rows.own[r] * value
                weight, clip = float(rows.weights[p]), 10.0
                if config.loss == "warp-kos":
                    weight, clip = 1.0, math.inf
                    if not rows.item_rows:
                        count = min(max(config.n, 1), len(own))
                        picks = [int(own[rng.below(len(own))]) for _ in range(count)]
                        scores = [rep[:d] @ targets[i] + target_bias[i] for i in picks]
                        order = sorted(range(count), key=lambda s: (-scores[s], s))
                        t = picks[order[min(max(config.k, 1), count) - 1]]
                user = targets[t] if rows.item_rows else rep[:d]
                user_bias = target_bias[t] if rows.item_rows else rep[d]
                pos = rep[:d] @ targets[t] + rep[d] + target_bias[t]
                neg, loss = -1, 0.0
                if config.loss == "bpr":
                    for _draw in range(100):
                        candidate = rng.below(n_cat)
                        if rows.item_rows or candidate not in own:
                            neg = candidate
                            break
                    if neg < 0:
                        continue
                    neg_score = user @ catalogue[neg] + user_bias + catalogue_bias[neg]
                    loss = weight / (1.0 + math.exp(pos - neg_score))
                else:
                    for draw in range(1, config.max_sampled + 1):
                        candidate = rng.below(n_cat)
                        neg_score = user @ catalogue[candidate] + user_bias + catalogue_bias[candidate]
                        if neg_score > pos - 1.0:
                            if not rows.item_rows and candidate in own:
                                continue
                            neg = candidate
                            loss = min(weight * math.log(max(1.0, math.floor((n_ranked - 1) / draw))), clip)
                            break
                    if neg < 0:
                        continue
                if rows.item_rows:
                    step(-loss * np.append(targets[t], 1.0))
                else:
                    step(loss * np.append(catalogue[neg] - targets[t], 1.0))
        embs[r], biases[r] = value[:d], value[d]
    return embs, biases
