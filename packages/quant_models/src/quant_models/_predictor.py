"""The :class:`quant_core.Predictor` over a trained model set.

:class:`ModelSetPredictor` turns the bars seen so far into calibrated probabilities per coin
and horizon. It is causal by construction: it ignores every bar closing after ``as_of_ns``
and uses the feature row of the bar closing exactly at ``as_of_ns``. A coin is predicted by
its specialist when the set has one, else by the global model; a coin with no more bars up to
``as_of_ns`` than the feature warm-up, or no bar at ``as_of_ns``, is left out.

**Each call costs O(warm-up), not O(history).** Every feature is a trailing window (nothing
is expanding or cumulative — see :func:`feature_lookback`), so the feature row at grid bar
``t`` reads grid bars ``t - lookback .. t`` only. :meth:`ModelSetPredictor.predict` finds that
tail of each coin's history by binary search (the :class:`quant_core.Predictor` protocol hands
history oldest first) and computes features on it alone; the coin counts for the warm-up rule
come from the same search, so the answer is the one a full-history computation gives (up to
float rounding in the running sums, far below any model's resolution — a test checks it on
many bars). Each coin's tail is converted to floats once per bar object (a new bar costs one
conversion; a replaced one is converted afresh).

**Members are evaluated once per bar, together** (decision 0123): every LightGBM member is
compiled to arrays when the predictor is built and all member requests of a bar — every
horizon, head and coin — go through one numpy traversal and one vectorised calibration, with
the bytes one ``Booster.predict`` and one ``Calibrator.apply`` per request would give; members
that do not compile exactly (other families, categorical splits) are asked through the library.

A stacked set (``quant.modelset/2``, decision 0118) predicts each coin per horizon by its
head: the ``full`` meta-learner over the global members and the coin's specialists when it
has every specialist, else the ``globals`` one, each gated by the regime posterior at
``as_of_ns`` (the truncated filter of :mod:`quant_models._ensemble`, over the last
``lookback + window`` grid bars of the coins handed in: the cross-asset context is the
coins in ``history``). The lookback then covers the regime's bars too, still O(1) in
history. A sequence member (decision 0115) reads the coin's causal window at ``as_of_ns``
(:func:`quant_models.sequence.build_windows`' window, built from the last
``SequenceConfig.lookback`` bars of the tail alone), so the lookback grows to the longest
resolution's span; a coin without a full window (too little history, or a gap inside it) is
left out, as training leaves such rows out of every head that stacks the member.

Return buckets come from the horizon's tables: ``P(bucket) = p_up · P(bucket | up)`` for
buckets above 0 and ``(1 - p_up) · P(bucket | down)`` below, so they agree with ``p_up``.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from quant_core import Bar, Clock, Instrument, Timeframe
from quant_core.events import HorizonForecast, Prediction
from quant_models import reasons
from quant_models._ensemble import (
    FULL,
    GLOBALS,
    RegimeRows,
    SequenceMember,
    StackHead,
    truncated_posterior,
)
from quant_models._errors import ArtifactError, ConfigError, DataError
from quant_models._member_eval import MemberBatch, MemberEvaluator
from quant_models._panel import FIELDS, Panel
from quant_models._persistence import HorizonTable, ModelEntry, ModelSet
from quant_models.features import FeatureConfig, compute_features
from quant_models.sequence._windows import last_windows

__all__ = ["ModelSetPredictor", "feature_lookback"]

Request = tuple[ModelEntry, list[int]]
PlanKey = tuple[tuple[str, ...], tuple[int, ...]]
_StackPlan = tuple[MemberBatch, list[tuple[StackHead, list[int], list[tuple[str, int] | range]]]]


def feature_lookback(config: FeatureConfig) -> int:
    """How many grid bars before ``t`` the features at ``t`` read (they read ``t - L .. t``).

    Derived per family from :func:`quant_models.features.compute_features`: ``ret_w`` and the
    cross-asset ``*_ret_w`` read ``close[t - w]``; ``vol_w`` is the std of the 1-bar returns
    ``t - w + 1 .. t``, each reading the close before it, so also ``close[t - w]``; the range,
    volume and trend statistics average bars ``t - w + 1 .. t``; ``range_1`` and the calendar
    read bar ``t`` alone. No feature is expanding or cumulative, so this is exact, and it never
    exceeds :attr:`FeatureConfig.warmup`.

    Examples:
        >>> cfg = FeatureConfig(return_windows=(1, 4), vol_windows=(6,), range_windows=(3,),
        ...                     volume_windows=(3,), trend_windows=(8,), cross_windows=(1,))
        >>> feature_lookback(cfg), cfg.warmup
        (7, 8)
    """
    return max(
        (
            0,
            *config.return_windows,
            *config.vol_windows,
            *(w - 1 for w in config.range_windows),
            *(w - 1 for w in config.volume_windows),
            *(w - 1 for w in config.trend_windows),
            *config.cross_windows,
        )
    )


def _bucket_probs(table: HorizonTable, p_up: float) -> tuple[float, ...]:
    probs = [
        p_up * u + (1.0 - p_up) * d for u, d in zip(table.up_table, table.down_table, strict=True)
    ]
    total = sum(probs)
    return tuple(p / total for p in probs)


def _tail(panel: Panel, first: int) -> Panel:
    """``panel`` from grid bar ``first`` on."""
    keep = slice(first, panel.n_times)
    arrays = (panel.field(name)[:, keep] for name in FIELDS)
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns[keep], *arrays)


def _off_grid(opens: npt.NDArray[np.int64], starts: Sequence[int], first: int, step: int) -> bool:
    """Whether open times are off the grid from ``first`` or not increasing within a coin.

    ``opens`` holds the coins' open times one coin after another, each starting at ``starts``.
    """
    steps = np.diff(opens, prepend=opens[0] - 1)
    steps[list(starts)] = 1  # a coin's first bar follows nothing
    return bool(np.any((opens - first) % step) or np.any(steps <= 0))


def _open_time(bar: Bar) -> int:
    return bar.open_time_ns


class ModelSetPredictor:
    """A :class:`quant_core.Predictor` backed by a :class:`ModelSet`.

    Examples:
        >>> import numpy as np
        >>> from quant_core import Bar, Instrument, Timeframe
        >>> from quant_models._calibration import Calibrator
        >>> from quant_models.features import FeatureSchema
        >>> from quant_models.families._trees import get_family
        >>> from quant_models._persistence import HorizonTable, ModelEntry
        >>> cfg = FeatureConfig(return_windows=(1,), vol_windows=(2,), range_windows=(2,),
        ...                     volume_windows=(2,), trend_windows=(2,), cross_windows=(1,),
        ...                     calendar=False)
        >>> model = get_family("lightgbm").build({"n_estimators": 2, "min_data_in_leaf": 2},
        ...                                      seed=1)
        >>> x = np.arange(200.0).reshape(20, len(cfg.names))
        >>> model.fit(x, (x[:, 0] > 100).astype(float))
        >>> entry = ModelEntry(1, "lightgbm", "global", None, {}, Calibrator("identity"), model)
        >>> ms = ModelSet(FeatureSchema.of(cfg, "1h"), cfg, "USD", ("BTC",), "sha256:d",
        ...               (HorizonTable(1, (0.0,), (0.0, 1.0), (1.0, 0.0)),), (entry,))
        >>> predictor = ModelSetPredictor(ms)
        >>> predictor.lookback_bars
        2
        >>> btc, h = Instrument("BTC", "USD"), Timeframe.H1.ns
        >>> bars = [Bar(btc, "1h", i * h, 10 + i, 11 + i, 9 + i, 10 + i, 1) for i in range(9)]
        >>> [p.instrument.base for p in predictor.predict(9 * h, {btc: bars})]
        ['BTC']
    """

    def __init__(
        self, model_set: ModelSet, *, clock: Clock | None = None, lookback: int | None = None
    ) -> None:
        """Wrap ``model_set``.

        Args:
            model_set: the trained set.
            clock: stamps ``ts_init`` on predictions; without one (replays) ``ts_init`` is
                ``as_of_ns``.
            lookback: grid bars of history before ``as_of_ns`` to compute features on;
                defaults to :func:`feature_lookback` of the set's feature config (the least
                that gives the full-history answer). A larger value only costs time.

        Raises:
            ArtifactError: ``ARTIFACT_MISSING`` when a horizon has no model.
            ConfigError: ``lookback`` is shorter than the features need.
        """
        self.model_set = model_set
        self._clock = clock
        self._timeframe = Timeframe(model_set.schema.timeframe)
        by_horizon: dict[int, dict[str | None, ModelEntry]] = {}
        self._members: dict[tuple[int, str, str | None], ModelEntry] = {}
        self._heads: dict[tuple[int, str], StackHead] = {}
        self._sequences: dict[str, SequenceMember] = {}
        for entry in model_set.entries:
            by_horizon.setdefault(entry.horizon_bars, {})[entry.symbol] = entry
            self._members[(entry.horizon_bars, entry.name, entry.symbol)] = entry
            if isinstance(entry.model, SequenceMember):
                self._sequences[entry.name] = entry.model
        for head in model_set.heads:
            self._heads[(head.horizon_bars, head.group)] = head
        missing = [h.bars for h in model_set.horizons if h.bars not in by_horizon]
        if model_set.stacked:
            missing = [h.bars for h in model_set.horizons if (h.bars, GLOBALS) not in self._heads]
        if missing:
            raise ArtifactError(
                f"horizons {missing} have no model", reason_code=reasons.ARTIFACT_MISSING
            )
        needed = feature_lookback(model_set.feature_config)
        self._feature_bars = needed if lookback is None else lookback
        self._regime = model_set.regime
        if self._regime is not None:
            needed = max(needed, self._regime.bars_needed)
            self._regime_rows = RegimeRows(self._regime.model.window)
        for member in self._sequences.values():
            needed = max(needed, member.model.config.lookback - 1)
        if lookback is not None and lookback < needed:
            raise ConfigError(f"lookback {lookback} is shorter than the features need ({needed})")
        self._lookback = needed if lookback is None else lookback
        self._entries = by_horizon
        self._tables = tuple(sorted(model_set.horizons, key=lambda h: h.bars))
        self._model_id = model_set.model_id
        self._cache: dict[Instrument, tuple[list[Bar], list[int], np.ndarray]] = {}
        self._single_plans: dict[PlanKey, tuple[MemberBatch, list[Request]]] = {}
        self._stack_plans: dict[PlanKey, _StackPlan] = {}
        self._evaluator = MemberEvaluator(model_set.entries, n_features=len(model_set.schema.names))

    @property
    def model_id(self) -> str:
        """Content hash of the model set."""
        return self._model_id

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """Horizons in nanoseconds, ascending."""
        return tuple(h.bars * self._timeframe.ns for h in self._tables)

    @property
    def lookback_bars(self) -> int:
        """Grid bars before ``as_of_ns`` that each call computes features on."""
        return self._lookback

    def _reused(self, instrument: Instrument, bars: Sequence[Bar]) -> tuple[int, int]:
        """How many leading ``bars`` the cache holds, and where they start in its entry.

        The cache holds, per instrument, the last tail's bar objects with their open times and
        values. The part of this tail made of the very same objects (``is``, in order: the
        previous tail moved on by the new bars) is read from it; every other bar — a new one,
        or one replaced by another object (a correction) — is converted afresh, so the cache
        never changes an answer.
        """
        cached = self._cache.get(instrument)
        if cached is None:
            return 0, 0
        old, old_opens, _ = cached
        at = bisect.bisect_left(old_opens, bars[0].open_time_ns)
        count = min(len(old) - at, len(bars))
        return (count if all(map(operator.is_, old[at : at + count], bars[:count])) else 0), at

    def _panel(self, tails: list[tuple[Instrument, Sequence[Bar]]], last_open: int) -> Panel:
        """The panel of the history tails, ending at the grid bar opening at ``last_open``.

        Built straight from the bars (the hot path of a backtest): the same grid and values
        as :meth:`Panel.from_bars`, with its checks — one quote, open times on the grid and
        strictly increasing per coin (no duplicates, oldest first) — and the model's timeframe.
        Only bars the cache does not hold are converted (all coins' in one array), and every
        coin's values land in the panel in one assignment.
        """
        step = self._timeframe.ns
        tails = sorted(tails, key=lambda item: item[0].base)
        quotes = {instrument.quote for instrument, _ in tails}
        if len(quotes) != 1:
            raise DataError(
                f"one quote expected, got {sorted(q.value for q in quotes)}",
                reason_code=reasons.FEATURE_INPUT_INVALID,
            )
        first = min(bars[0].open_time_ns for _, bars in tails)
        reused = [self._reused(instrument, bars) for instrument, bars in tails]
        fresh = [
            bar for (_, bars), (count, _) in zip(tails, reused, strict=True) for bar in bars[count:]
        ]
        converted = (
            np.array(
                [
                    [float(b.open), float(b.high), float(b.low), float(b.close), float(b.volume)]
                    for b in fresh
                ],
                dtype=np.float64,
            )
            .reshape(len(fresh), len(FIELDS))
            .T
        )
        opens: list[int] = []
        starts: list[int] = []
        pieces: list[np.ndarray] = []
        done = 0
        for (instrument, bars), (count, at) in zip(tails, reused, strict=True):
            starts.append(len(opens))
            if count:
                _, old_opens, old_values = self._cache[instrument]
                opens += old_opens[at : at + count]
                pieces.append(old_values[:, at : at + count])
            opens += [bar.open_time_ns for bar in bars[count:]]
            pieces.append(converted[:, done : done + len(bars) - count])
            done += len(bars) - count
        grid_opens = np.array(opens, dtype=np.int64)
        if any(b.timeframe is not self._timeframe for b in fresh) or _off_grid(
            grid_opens, starts, first, step
        ):
            raise self._refusal(tails, first)
        values = np.concatenate(pieces, axis=1)
        for (instrument, bars), start in zip(tails, starts, strict=True):
            end = start + len(bars)
            self._cache[instrument] = (list(bars), opens[start:end], values[:, start:end])
        coin = np.repeat(np.arange(len(tails)), [len(bars) for _, bars in tails])
        block = np.full((len(FIELDS), len(tails), (last_open - first) // step + 1), np.nan)
        block[:, coin, (grid_opens - first) // step] = values
        grid = np.arange(first, last_open + step, step, dtype=np.int64)
        return Panel(
            tuple(instrument.base for instrument, _ in tails),
            next(iter(quotes)).value,
            self._timeframe,
            grid,
            *block,
        )

    def _refusal(self, tails: list[tuple[Instrument, Sequence[Bar]]], first: int) -> Exception:
        """The error of the first coin (in row order) with bars of another timeframe or off-grid.

        Only called when some coin has one: the search always finds it.
        """
        return next(
            ArtifactError(
                f"the model set is for {self._timeframe.value} bars; {instrument} has others",
                reason_code=reasons.SCHEMA_MISMATCH,
            )
            if any(b.timeframe is not self._timeframe for b in bars)
            else DataError(
                f"{instrument} history is not one bar per grid slot, oldest first",
                reason_code=reasons.FEATURE_INPUT_INVALID,
            )
            for instrument, bars in tails
            if any(b.timeframe is not self._timeframe for b in bars)
            or _off_grid(
                np.fromiter((b.open_time_ns for b in bars), np.int64, len(bars)),
                [0],
                first,
                self._timeframe.ns,
            )
        )

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """Predict every coin with enough history at ``as_of_ns`` (see the module docstring).

        ``history`` holds each instrument's bars oldest first (as the protocol says); bars
        closing after ``as_of_ns`` are ignored.
        """
        step = self._timeframe.ns
        last_open = as_of_ns - step
        first_open = last_open - self._lookback * step
        warmup = self.model_set.feature_config.warmup
        tails: list[tuple[Instrument, Sequence[Bar]]] = []
        eligible: dict[str, Instrument] = {}
        for instrument, seq in history.items():
            end = bisect.bisect_right(seq, last_open, key=_open_time)
            start = bisect.bisect_left(seq, first_open, 0, end, key=_open_time)
            if start < end:
                tails.append((instrument, seq[start:end]))
            if end > warmup and seq[end - 1].open_time_ns == last_open:
                eligible[instrument.base] = instrument
        if not eligible:
            return ()
        panel = self._panel(tails, last_open)
        # the features read the last ``feature lookback`` bars only (the regime may need more)
        first = panel.n_times - self._feature_bars - 1
        features = compute_features(
            panel if first <= 0 else _tail(panel, first), self.model_set.feature_config
        )
        if features.schema.schema_hash != self.model_set.schema.schema_hash:
            raise ArtifactError(
                "the model set's feature schema differs from the computed one",
                reason_code=reasons.SCHEMA_MISMATCH,
            )
        x = features.values[:, -1, :]  # the last grid bar closes at as_of_ns
        rows = [panel.symbols.index(s) for s in sorted(eligible)]
        if self._regime is not None:
            sequence, rows = self._sequence_p(panel, rows)
            p_up = self._stacked(panel, x, rows, sequence)
        else:
            p_up = self._single(panel, x, rows)
        ts_init = as_of_ns if self._clock is None else self._clock.now_ns()
        return self._predictions(eligible, p_up, as_of_ns, ts_init)

    def _sequence_p(
        self, panel: Panel, rows: list[int]
    ) -> tuple[dict[str, dict[int, np.ndarray]], list[int]]:
        """Each sequence member's ``p_up`` per horizon by coin row; the rows with every window.

        A coin without a full window for every member is left out of the returned rows.
        """
        out: dict[str, dict[int, np.ndarray]] = {}
        for name, member in sorted(self._sequences.items()):
            config = member.model.config
            out[name] = {}
            if panel.n_times < config.lookback or not rows:
                rows = []
                continue
            tail = slice(panel.n_times - config.lookback, panel.n_times)
            windows = last_windows(
                panel.close[rows, tail],
                panel.high[rows, tail],
                panel.low[rows, tail],
                panel.volume[rows, tail],
                config,
            )
            full = np.ones(len(rows), dtype=bool)
            for w in windows:
                full &= np.isfinite(w).all(axis=(1, 2))
            rows = [r for r, keep in zip(rows, full.tolist(), strict=True) if keep]
            if rows:
                p = member.model.predict(tuple(w[full] for w in windows)).p_up
                out[name] = dict(zip(rows, p, strict=True))
        return out, rows

    def _single(self, panel: Panel, x: np.ndarray, rows: list[int]) -> dict[str, list[float]]:
        """Each coin's probability per horizon from its specialist, else the global model.

        Coins sharing a model are one request; every request of the bar is evaluated at once
        (the requests depend on the coins only, so they are prepared once per set of coins).
        """
        key = (panel.symbols, tuple(rows))
        if key not in self._single_plans:
            requests: list[tuple[ModelEntry, list[int]]] = []
            for table in self._tables:
                chosen = self._entries[table.bars]
                batches: dict[int, tuple[ModelEntry, list[int]]] = {}
                for row in rows:
                    entry = chosen.get(panel.symbols[row]) or chosen.get(None)
                    if entry is not None:
                        batches.setdefault(id(entry), (entry, []))[1].append(row)
                requests += batches.values()
            self._single_plans = {key: (self._evaluator.batch(requests), requests)}
        batch, requests = self._single_plans[key]
        values, offsets = batch.run(x), batch.offsets
        p_up: dict[str, list[float]] = {}
        for k, (_, members) in enumerate(requests):
            probs = values[offsets[k] : offsets[k + 1]].tolist()
            for row, p in zip(members, probs, strict=True):
                p_up.setdefault(panel.symbols[row], []).append(p)
        return p_up

    def _stack_plan(self, symbols: tuple[str, ...], rows: list[int]) -> _StackPlan:
        """The member requests and each head's columns for coins ``rows`` of ``symbols``.

        Per horizon the coins with every specialist of the ``full`` head go to it, the others
        to ``globals``; a column is a sequence member's ``(name, horizon index)`` or the range
        of requests holding it (the global member on the head's rows, or each specialist on
        its coin's row).
        """
        requests: list[tuple[ModelEntry, list[int]]] = []
        heads: list[tuple[StackHead, list[int], list[tuple[str, int] | range]]] = []
        for table in self._tables:
            h = table.bars
            full = self._heads.get((h, FULL))
            groups: dict[str, list[int]] = {}
            for row in rows:
                has_all = full is not None and all(
                    (h, m, symbols[row]) in self._members
                    for m in full.members
                    if "/specialist" in m
                )
                groups.setdefault(FULL if has_all else GLOBALS, []).append(row)
            for group, members in sorted(groups.items()):
                head = self._heads[(h, group)]
                columns: list[tuple[str, int] | range] = []
                for name in head.members:
                    if name in self._sequences:
                        columns.append((name, self._sequences[name].model.horizons.index(h)))
                    elif name.endswith("/global"):
                        columns.append(range(len(requests), len(requests) + 1))
                        requests.append((self._members[(h, name, None)], members))
                    else:
                        columns.append(range(len(requests), len(requests) + len(members)))
                        requests += [(self._members[(h, name, symbols[r])], [r]) for r in members]
                heads.append((head, members, columns))
        return self._evaluator.batch(requests), heads

    def _stacked(
        self,
        panel: Panel,
        x: np.ndarray,
        rows: list[int],
        sequence: Mapping[str, Mapping[int, np.ndarray]],
    ) -> dict[str, list[float]]:
        """Each coin's stacked probability per horizon.

        ``x`` holds the bar's feature rows, ``sequence`` the sequence members' ``p_up`` by row.
        The tree members of every horizon and head are one batch of requests (the global
        model on the head's rows, each specialist on its coin's row), evaluated at once; the
        heads then read their columns in the same order as one call per member would. The
        plan depends on the coins only, so it is prepared once per set of coins.
        """
        assert self._regime is not None
        lookback = self._regime.lookback
        regime_rows = self._regime_rows.last(panel.close, min(lookback + 1, panel.n_times))
        posterior = truncated_posterior(self._regime.model, regime_rows, lookback, last_only=True)[
            0
        ]
        key = (panel.symbols, tuple(rows))
        if key not in self._stack_plans:
            self._stack_plans = {key: self._stack_plan(panel.symbols, rows)}
        batch, heads = self._stack_plans[key]
        values, offsets = batch.run(x), batch.offsets
        p_up: dict[str, list[float]] = {}
        for head, members, columns in heads:
            stacked = np.column_stack(
                [
                    np.array([sequence[c[0]][r][c[1]] for r in members])
                    if isinstance(c, tuple)
                    else values[offsets[c.start] : offsets[c.stop]]
                    for c in columns
                ]
            )
            probs = head.predict(stacked, posterior)
            for row, p in zip(members, probs.tolist(), strict=True):
                p_up.setdefault(panel.symbols[row], []).append(p)
        return p_up

    def _predictions(
        self,
        eligible: Mapping[str, Instrument],
        p_up: Mapping[str, list[float]],
        as_of_ns: int,
        ts_init: int,
    ) -> tuple[Prediction, ...]:
        step = self._timeframe.ns
        out = []
        for symbol in sorted(eligible):
            ps = p_up.get(symbol, [])
            if len(ps) != len(self._tables):  # a horizon has no model for this coin
                continue
            forecasts = tuple(
                HorizonForecast(
                    horizon_ns=table.bars * step,
                    p_up=p,
                    bucket_edges=table.bucket_edges,
                    bucket_probs=_bucket_probs(table, p),
                )
                for table, p in zip(self._tables, ps, strict=True)
            )
            out.append(
                Prediction(
                    eligible[symbol],
                    ts_event=as_of_ns,
                    ts_init=ts_init,
                    forecasts=forecasts,
                    model_id=self._model_id,
                )
            )
        return tuple(sorted(out, key=lambda p: (p.instrument.base, p.instrument.quote.value)))
