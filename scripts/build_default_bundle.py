r"""Build (or check) the shipped default model bundle in ``bundles/default/``.

The whole, reproducible recipe, every step through the real ``quant`` commands:

1. ``quant data import`` every Binance USDT hourly freqtrade file under
   ``$QUANT_SHARED_DATA/real/binance_spot_freqtrade__*/`` into a fresh embedded store in the
   work directory (never in the repository);
2. ``quant data materialize`` the coins that have bars, quote ``USDT``, timeframe ``1h``;
3. ``quant train --dataset ... --config bundles/default-train.toml`` (the gate decision must
   be *promote*; a rejection stops here and changes nothing);
4. collect the bundle artifacts: the run's files except ``oof.csv`` (hundreds of MB of
   out-of-fold rows; its hash stays in ``run.json``), plus ``coverage.json`` (which Universe V1
   coins the models saw, which have no hourly data, and every input file's SHA-256);
5. ``quant bundle build`` and sign with the release key, then ``quant bundle build --validate``
   against ``bundles/keys/``; copy ``manifest.json``, ``manifest.sig`` and ``bundle.tar.zst``
   into ``bundles/default/``.

``--combine stack`` builds a *candidate* instead (decision 0119): the stacked ensemble of
LightGBM, XGBoost and random forest, global and per-coin specialists, for 1h/4h/24h (the
shipped config with those fields replaced), signed with ``--key`` (a throwaway key; its public
half in ``--trusted-keys``) into ``WORK/release`` only: ``bundles/default/`` is never touched.
``--coins`` and ``--start`` cut the data for a run that fits the machine; ``--card`` writes the
model card (:func:`quant_models.evaluation.model_card`: per horizon and family, BSS with a 95%
block-bootstrap CI, AUC, ECE, simulation after Kraken fees, and the stack's own nested
evidence) as Markdown, also for a run the gates reject; those pieces live in
``scripts/ensemble_candidate.py``.

``--check`` re-runs steps 1-4 and compares every artifact's SHA-384 with the committed
``bundles/default/manifest.json``; it needs no key and writes nothing in the repository.
``--keygen`` creates the release key first: the private key goes to ``--key`` (mode 0600,
outside the repository), the public key to ``bundles/keys/default-release.pub``.

Usage::

    QUANT_SHARED_DATA=/work/shared/data uv run python scripts/build_default_bundle.py \\
        --work /tmp/quant-default-bundle [--key ~/.config/quant/release-key] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ensemble_candidate import train_config, write_card

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "bundles" / "default-train.toml"
RELEASE_DIR = ROOT / "bundles" / "default"
KEYS_DIR = ROOT / "bundles" / "keys"
PUBLIC_KEY_NAME = "default-release"
DEFAULT_KEY = Path.home() / ".config" / "quant" / "release-key"
RELEASE_FILES = ("manifest.json", "manifest.sig", "bundle.tar.zst")
BUNDLE_VERSION = "1.0.0"
QUOTE = "USDT"
TIMEFRAME = "1h"
#: The dataset window: before the first and after the last hourly bar in the shared files.
START, END = "2020-05-01T00:00:00Z", "2026-03-01T00:00:00Z"
SOURCE_GLOB = "real/binance_spot_freqtrade__*/*_USDT-1h.feather"
#: Hourly files that exist in the shared data in another quote; they cannot join a USDT
#: dataset (one quote per dataset) and are listed in coverage.json as such.
OTHER_QUOTE_GLOBS = (
    "real/coinapi_kraken_1h__*/*_1HRS.csv.gz",
    "real/kraken_ohlcvt__*/*_60.csv.gz",
    "real/kraken_cryptodatadownload__*/*_1h.csv.gz",
)
MAX_BUNDLE_BYTES = 20 * 1024 * 1024
EXCLUDED_ARTIFACTS = frozenset({"oof.csv"})


def _log(message: str) -> None:
    print(f"[build_default_bundle] {message}", file=sys.stderr, flush=True)


def quant(*args: str, env: dict[str, str] | None = None, ok_codes: tuple[int, ...] = (0,)) -> Any:
    """Run ``quant ARGS --json`` in a subprocess and return its JSON document."""
    command = [sys.executable, "-m", "quant_apps", *args, "--json"]
    shown = [a if len(a) < 60 or "/" not in a else "…/" + Path(a).name for a in args]
    _log("quant " + " ".join(shown))
    started = time.monotonic()  # noqa: TID251 - a script times its steps
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    _log(f"  exit {done.returncode} after {time.monotonic() - started:.1f} s")  # noqa: TID251
    if done.returncode not in ok_codes:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"quant {args[0]} {args[1]} failed with exit {done.returncode}")
    return json.loads(done.stdout)


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def shared_root() -> Path:
    """The shared data root from ``QUANT_SHARED_DATA``."""
    value = os.environ.get("QUANT_SHARED_DATA")  # noqa: TID251 - a script reads its env
    if not value or not (Path(value) / "real").is_dir():
        raise SystemExit("set QUANT_SHARED_DATA to the shared data directory (with real/)")
    return Path(value)


def universe_symbols() -> tuple[str, ...]:
    """Universe V1's coins, in rank order."""
    from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

    return tuple(UNIVERSE_V1_TOP30_NON_STABLE.symbols)


def other_quote_hourly(shared: Path) -> list[dict[str, Any]]:
    """Hourly files in USD/CAD (Kraken, CoinAPI): read with the importer, not stored."""
    from quant_core import SimClock, ns_to_iso
    from quant_data import import_file

    found = []
    for pattern in OTHER_QUOTE_GLOBS:
        for path in sorted(shared.glob(pattern)):
            result = import_file(path, clock=SimClock(0))
            times = [b.open_time_ns for b in result.bars]
            found.append(
                {
                    "file": path.relative_to(shared).as_posix(),
                    "symbol": result.symbol,
                    "quote": result.quote,
                    "timeframe": result.timeframe,
                    "rows": len(times),
                    "first": ns_to_iso(min(times))[:10] if times else None,
                    "last": ns_to_iso(max(times))[:10] if times else None,
                }
            )
    return found


def import_and_materialize(
    shared: Path, work: Path, only: tuple[str, ...] = (), start: str = START
) -> tuple[Path, dict[str, Any]]:
    """Steps 1-2: a fresh store, every USDT hourly file imported, one dataset materialized.

    ``only`` keeps those coins (all with bars when empty); ``start`` moves the window's start.
    """
    db = work / "store.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    files = sorted(shared.glob(SOURCE_GLOB))
    if not files:
        raise SystemExit(f"no files match {SOURCE_GLOB} under {shared}")
    imported = quant("data", "import", *map(str, files), "--database-url", url)
    per_file = []
    with_bars: set[str] = set()
    for entry in imported["files"]:
        path = Path(entry["path"])
        symbol = entry["series"].split("/")[0]
        if entry["bars_new"] > 0:
            with_bars.add(symbol)
        per_file.append(
            {
                "file": path.relative_to(shared).as_posix(),
                "sha256": sha256_file(path),
                "series": entry["series"],
                "rows": entry["rows"],
                "bars_new": entry["bars_new"],
                "quarantined": entry["quarantined"],
                "notes": entry["notes"],
            }
        )
    universe = universe_symbols()
    coins = [s for s in universe if s in with_bars and (not only or s in only)]
    dataset_dir = work / "dataset"
    shutil.rmtree(dataset_dir, ignore_errors=True)
    materialized = quant(
        "data", "materialize",
        "--symbols", ",".join(coins),
        "--quote", QUOTE,
        "--timeframe", TIMEFRAME,
        "--start", start,
        "--end", END,
        "--out", str(dataset_dir),
        "--database-url", url,
    )  # fmt: skip
    other_quote = other_quote_hourly(shared)
    not_trained: dict[str, str] = {}
    for symbol in universe:
        if symbol in with_bars:
            continue
        elsewhere = [f for f in other_quote if f["symbol"] == symbol and f["rows"]]
        not_trained[symbol] = (
            "hourly bars only in other quotes: "
            + "; ".join(f"{f['quote']} {f['first']}..{f['last']} ({f['file']})" for f in elsewhere)
            if elsewhere
            else "no hourly data in the shared files"
        )
    coverage = {
        "format": "quant.default-bundle.coverage/1",
        "universe": "UNIVERSE_V1_TOP30_NON_STABLE",
        "quote": QUOTE,
        "timeframe": TIMEFRAME,
        "window": {"start": start, "end": END},
        "dataset_hash": materialized["dataset_hash"],
        "coins_trained": coins,
        "coins_not_trained": not_trained,
        "rows_per_coin": {s: materialized["summary"]["symbols"][s]["rows"] for s in coins},
        "source_files": per_file,
        "hourly_files_in_other_quotes_not_used": other_quote,
    }
    return dataset_dir, coverage


def train(
    dataset_dir: Path, work: Path, config: Path = CONFIG, on_reject: Any = None
) -> tuple[Path, dict[str, Any]]:
    """Step 3: ``quant train``; stops unless the gates promote (``on_reject(run_dir)`` first)."""
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    doc = quant(
        "train", "--dataset", str(dataset_dir), "--config", str(config), "--out", str(run_dir),
        ok_codes=(0, 3),
    )  # fmt: skip
    if not doc["promote"]:
        if on_reject is not None:
            on_reject(run_dir)
        raise SystemExit(f"the gates rejected the run: {doc['reasons']} {doc['details']}")
    return run_dir, doc


def collect_artifacts(run_dir: Path, coverage: dict[str, Any], work: Path) -> Path:
    """Step 4: the bundle's artifact directory (the run minus ``oof.csv``, plus coverage)."""
    from quant_core import canonical_json

    artifacts = work / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if path.is_file() and rel.as_posix() not in EXCLUDED_ARTIFACTS:
            (artifacts / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, artifacts / rel)
    (artifacts / "coverage.json").write_bytes(canonical_json(coverage) + b"\n")
    return artifacts


def artifact_hashes(artifacts: Path) -> dict[str, str]:
    """SHA-384 of every artifact, keyed as the manifest keys them (``artifacts/<path>``)."""
    return {
        "artifacts/" + p.relative_to(artifacts).as_posix(): hashlib.sha384(
            p.read_bytes()
        ).hexdigest()
        for p in sorted(artifacts.rglob("*"))
        if p.is_file()
    }


def bundle_metadata(run_dir: Path, coverage: dict[str, Any]) -> dict[str, Any]:
    """The manifest's lineage, family versions and inference contract."""
    from importlib import metadata

    run = json.loads((run_dir / "run.json").read_bytes())
    model_meta = json.loads((run_dir / "metadata.json").read_bytes())
    families = sorted({m["family"] for m in model_meta["models"]})
    horizons = sorted({int(m["horizon_bars"]) for m in model_meta["models"]})
    return {
        "model_family_versions": {f: metadata.version(f) for f in families},
        "training_lineage_metadata": {
            "run_id": run["run_id"],
            "model_id": run["model_id"],
            "dataset_hash": run["dataset_hash"],
            "config_hash": run["config_hash"],
            "feature_schema_hash": run["feature_schema_hash"],
            "seed": run["seed"],
            "training_quote": QUOTE,
            "coins_trained": coverage["coins_trained"],
            "coins_not_trained": sorted(coverage["coins_not_trained"]),
            "served": run["metrics"]["served"],
            "recipe": "scripts/build_default_bundle.py",
            "config": "bundles/default-train.toml",
        },
        "inference_contract": {
            "predictor": "quant_models.predictor.ModelSetPredictor",
            "timeframe": TIMEFRAME,
            "horizons_bars": horizons,
            "output": "p_up and return-bucket probabilities per horizon",
            "symbols": "keyed by base asset; quote-agnostic return features",
            "training_quote": QUOTE,
        },
    }


def ensure_key(key: Path, keygen: bool, work: Path) -> None:
    """With ``--keygen``, create the release key; otherwise require it to exist."""
    if key.exists():
        if keygen:
            raise SystemExit(f"{key} exists; refusing to replace a release key (see rotation)")
        return
    if not keygen:
        raise SystemExit(f"no release key at {key}; run with --keygen once (see bundles/keys)")
    tmp = Path(tempfile.mkdtemp(prefix="keygen-", dir=work))
    written = quant("bundle", "keygen", "--out", str(tmp), "--name", PUBLIC_KEY_NAME)
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.move(written["private"], key)
    key.chmod(0o600)
    public = KEYS_DIR / f"{PUBLIC_KEY_NAME}.pub"
    if public.exists():
        raise SystemExit(f"{public} exists; rotate keys with a rotation statement instead")
    shutil.move(written["public"], public)
    shutil.rmtree(tmp, ignore_errors=True)
    _log(f"new release key {written['key_id']}: private {key} (0600), public {public}")


def build(
    artifacts: Path,
    run_dir: Path,
    coverage: dict[str, Any],
    work: Path,
    key: Path,
    keys_dir: Path = KEYS_DIR,
) -> Path:
    """Step 5: build, sign and validate the release (against ``keys_dir``); returns its dir."""
    meta = work / "bundle-metadata.json"
    meta.write_text(json.dumps(bundle_metadata(run_dir, coverage), sort_keys=True))
    run = json.loads((run_dir / "run.json").read_bytes())
    release = work / "release"
    shutil.rmtree(release, ignore_errors=True)
    quant(
        "bundle", "build", str(artifacts),
        "--version", BUNDLE_VERSION,
        "--sign-key", str(key),
        "--out", str(release),
        "--metadata", str(meta),
        "--feature-schema-hash", run["feature_schema_hash"],
        "--trusted-keys", str(keys_dir),
    )  # fmt: skip
    quant("bundle", "build", "--validate", "--out", str(release), "--trusted-keys", str(keys_dir))
    size = sum((release / name).stat().st_size for name in RELEASE_FILES)
    if size > MAX_BUNDLE_BYTES:
        raise SystemExit(f"the release is {size} bytes, over the {MAX_BUNDLE_BYTES} byte budget")
    return release


def _month_bootstrap(oof: Any, draws: int = 2000) -> dict[tuple[int, str], dict[str, Any]]:
    """BSS per (horizon, model) with a 95% interval from resampling whole test months."""
    import numpy as np
    import pandas as pd

    from quant_core import generator

    frame = oof.assign(
        month=pd.to_datetime(oof["open_time_ns"], unit="ns", utc=True).dt.strftime("%Y-%m"),
        bm=(oof["p"] - oof["y"]) ** 2,
        bc=(oof["climatology"] - oof["y"]) ** 2,
    )
    rng = generator(0, "default-bundle-report", "month-bootstrap")
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for (h, key), group in frame.groupby(["horizon_bars", "model"], sort=True):
        monthly = group.groupby("month")[["bm", "bc"]].sum()
        n = len(monthly)
        pick = rng.integers(0, n, size=(draws, n))
        bss = 1.0 - monthly["bm"].to_numpy()[pick].sum(1) / monthly["bc"].to_numpy()[pick].sum(1)
        out[(int(h), str(key))] = {
            "bss": 1.0 - group["bm"].sum() / group["bc"].sum(),
            "low": float(np.quantile(bss, 0.025)),
            "high": float(np.quantile(bss, 0.975)),
            "months_positive": int((monthly["bm"] < monthly["bc"]).sum()),
            "months": n,
        }
    return out


def write_report(run_dir: Path, coverage: dict[str, Any], target: Path) -> dict[str, Any]:
    """Write the default-bundle quality report from the run's out-of-sample files."""
    import pandas as pd

    run = json.loads((run_dir / "run.json").read_bytes())
    decision = json.loads((run_dir / "decision.json").read_bytes())
    oof = pd.read_csv(run_dir / "oof.csv")
    boot = _month_bootstrap(oof)
    folds = run["folds"]
    iso = pd.Timestamp
    test_start = iso(folds[0]["test_start_ns"], unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")
    test_end = iso(folds[-1]["test_end_ns"], unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")
    lines = [
        "# The shipped default bundle: what it was trained on and how good it is",
        "",
        (
            "Generated by `scripts/build_default_bundle.py` from the run it shipped; every"
            " metric is walk-forward **out-of-sample** (the in-sample fit is never a gate"
            " input). Decision records: [0047](../decisions/0047-usdt-is-a-data-quote.md),"
            " [0048](../decisions/0048-default-bundle-training-recipe.md),"
            " [0049](../decisions/0049-default-bundle-ships-only-horizons-with-evidence.md)."
        ),
        "",
        "## Lineage",
        "",
        (
            "Reproduce (no key needed; compares every artifact's SHA-384 with the committed"
            " manifest): `QUANT_SHARED_DATA=../shared/data uv run python"
            " scripts/build_default_bundle.py --check`."
        ),
        "",
        f"- run id `{run['run_id']}`",
        f"- model id `{run['model_id']}`",
        (
            f"- dataset hash `{run['dataset_hash']}` ({coverage['quote']} {coverage['timeframe']},"
            f" window {coverage['window']['start']} .. {coverage['window']['end']})"
        ),
        f"- config hash `{run['config_hash']}` (`bundles/default-train.toml`), seed {run['seed']}",
        f"- feature schema `{run['feature_schema_hash']}`",
        "- served models: "
        + ", ".join(f"{h}: `{k}`" for h, k in sorted(run["metrics"]["served"].items())),
        (
            f"- walk-forward: {len(folds)} test blocks of"
            f" {folds[0]['test_end'] - folds[0]['test_start']}"
            f" bars, expanding, purge = longest horizon, embargo; test period {test_start} .."
            f" {test_end} UTC"
        ),
        (
            f"- gate decision: **{'promote' if decision['promote'] else 'reject'}**"
            f" ({', '.join(decision['reasons'])}) under the default `GateConfig`"
        ),
        "",
        "## Data",
        "",
        (
            f"Coins trained ({len(coverage['coins_trained'])}):"
            f" {', '.join(coverage['coins_trained'])}."
        ),
        "",
        f"Universe V1 coins not trained ({len(coverage['coins_not_trained'])}):",
        "",
        "| coin | why |",
        "|---|---|",
        *(f"| {c} | {why} |" for c, why in coverage["coins_not_trained"].items()),
        "",
        (
            "Hourly files in USD/CAD (Kraken, CoinAPI, CryptoDataDownload: 2013-2020, coins"
            " the dataset already has except XMR) are not used: a dataset holds one quote"
            " (0048). They are listed with their spans in the bundle's `coverage.json`."
        ),
        "",
        "| coin | rows in the dataset |",
        "|---|---|",
        *(f"| {c} | {n} |" for c, n in coverage["rows_per_coin"].items()),
        "",
        "## Pooled out-of-sample skill",
        "",
        (
            "BSS = Brier skill vs each coin's training up-rate (climatology = 0). The interval"
            " resamples whole test months (2,000 draws). Compare with"
            " `../shared/reference/forecast_baseline.md` (+0.006 to +0.007 at 1h/4h, nil at 24h)."
        ),
        "",
        "| horizon | model | n | BSS [95% CI] | months BSS > 0 | accuracy | log loss | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h, block in sorted(run["metrics"]["oos"].items(), key=lambda kv: int(kv[0][1:])):
        for key, card in sorted(block.items()):
            b = boot[(int(h[1:]), key)]
            p = card["pooled"]
            lines.append(
                f"| {h} | {key} | {p['n']} | {p['bss']:+.4f} [{b['low']:+.4f}, {b['high']:+.4f}]"
                f" | {b['months_positive']}/{b['months']} | {p['accuracy']:.3f} |"
                f" {p['log_loss']:.4f} | {p['ece']:.4f} |"
            )
    lines += ["", "## Per coin (out-of-sample)", ""]
    for h, block in sorted(run["metrics"]["oos"].items(), key=lambda kv: int(kv[0][1:])):
        served = run["metrics"]["served"][h]
        lines += [
            f"### {h} (served `{served}`)",
            "",
            (
                "| coin | n | BSS served | BSS logistic | BSS persistence | accuracy served |"
                " ECE served |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for coin, card in sorted(block[served]["symbols"].items()):
            lo, pe = block["logistic"]["symbols"][coin], block["persistence"]["symbols"][coin]
            lines.append(
                f"| {coin} | {card['n']} | {card['bss']:+.4f} | {lo['bss']:+.4f} |"
                f" {pe['bss']:+.4f} | {card['accuracy']:.3f} | {card['ece']:.4f} |"
            )
        lines.append("")
    untested = sorted(set(coverage["coins_trained"]) - set(block[served]["symbols"]))
    lines += [
        (
            "Coins trained but without bars in the test period (their files end before it):"
            f" {', '.join(untested) or 'none'}."
        ),
        "",
        "## What is not shipped, and caveats",
        "",
        (
            "- Only the horizons in `bundles/default-train.toml` are trained. 4h and 24h passed the"
            " gates in the exploratory run but their month-block intervals include zero; the"
            " numbers and the rule are in decision record 0049."
        ),
        (
            "- The models saw USDT-quoted Binance bars; the runtime trades USD/CAD/USDC bars."
            " Features are returns, ranges, volume z-scores and calendar terms (no price levels),"
            " and predictions are keyed by base asset, so a USD bar series is predicted by the same"
            " model (0047). The market-return features average over the coins present at"
            " prediction time, so a runtime with fewer coins sees a noisier market return."
        ),
        (
            "- The skill is small (compare the logistic baseline) and, per the reference study,"
            " not tradable on its own after fees; the test year (2025-02 .. 2026-02) is one market"
            " regime, and the coin list has survivors only."
        ),
        "",
    ]
    target.write_text("\n".join(lines), encoding="utf-8")
    return {f"{h}/{k}": v for (h, k), v in boot.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the recipe; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "quant-default-bundle",
        help="work directory (store, dataset, run, release); outside the repository",
    )
    parser.add_argument("--key", type=Path, default=DEFAULT_KEY, help="private release key")
    parser.add_argument("--check", action="store_true", help="retrain and compare hashes only")
    parser.add_argument("--keygen", action="store_true", help="create the release key first")
    parser.add_argument(
        "--report", type=Path, default=None, help="also write the quality report (markdown)"
    )
    parser.add_argument(
        "--combine", choices=("best", "stack"), default="best", help="stack: build a candidate"
    )
    parser.add_argument("--trusted-keys", type=Path, default=KEYS_DIR, help="validate against")
    parser.add_argument("--coins", default="", help="comma-separated coins (default: all)")
    parser.add_argument("--start", default=START, help="dataset window start (ISO)")
    parser.add_argument("--card", type=Path, default=None, help="write the model card here")
    args = parser.parse_args(argv)
    work = args.work.expanduser().resolve()
    if work == ROOT or ROOT in work.parents:
        raise SystemExit("--work must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    shared = shared_root()
    if not args.check:
        ensure_key(args.key.expanduser(), args.keygen, work)
    only = tuple(c for c in args.coins.split(",") if c)
    dataset_dir, coverage = import_and_materialize(shared, work, only, args.start)
    card = args.card
    run_dir, trained = train(
        dataset_dir,
        work,
        train_config(args.combine, work, CONFIG),
        None if card is None else lambda run: write_card(run, coverage, card),
    )
    artifacts = collect_artifacts(run_dir, coverage, work)
    hashes = artifact_hashes(artifacts)
    summary = {
        "dataset_hash": trained["dataset_hash"],
        "model_id": trained["model_id"],
        "run_id": trained["run_id"],
        "served": trained["served"],
        "artifacts_sha384": hashes,
    }
    if args.check:
        committed = json.loads((RELEASE_DIR / "manifest.json").read_bytes())
        pinned = {a["path"]: a["sha384"] for a in committed["artifacts"]}
        summary["identical"] = pinned == hashes
        print(json.dumps(summary, indent=2, sort_keys=True))
        if pinned != hashes:
            for path in sorted(set(pinned) | set(hashes)):
                if pinned.get(path) != hashes.get(path):
                    _log(f"differs: {path}")
            return 1
        _log("every artifact hash equals the committed manifest's")
        return 0
    if args.report is not None:
        summary["bootstrap"] = write_report(run_dir, coverage, args.report)
    if args.card is not None:
        summary["card"] = write_card(run_dir, coverage, args.card)
    keys_dir = args.trusted_keys.expanduser()
    release = build(artifacts, run_dir, coverage, work, args.key.expanduser(), keys_dir)
    if args.combine == "stack":
        print(json.dumps(summary, indent=2, sort_keys=True))
        _log(f"candidate release in {release}; bundles/default is unchanged")
        return 0
    RELEASE_DIR.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_FILES:
        shutil.copyfile(release / name, RELEASE_DIR / name)
    manifest = json.loads((RELEASE_DIR / "manifest.json").read_bytes())
    summary["archive"] = manifest["archive"]
    print(json.dumps(summary, indent=2, sort_keys=True))
    _log(f"release copied to {RELEASE_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
