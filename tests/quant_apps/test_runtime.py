"""The bundle runtime (bundles, activation): verify → install → load the active bundle."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime.models import bundles
from quant_apps.runtime.models.activation import activate_bundle, load_active_model, startup_model
from quant_apps.runtime.models.bundles import (
    ActiveModel,
    BundledPredictor,
    shipped_bundle_dir,
    shipped_keys_dir,
    shipped_trust,
)
from quant_bundle import BundleRejectedError, BundleSpec, BundleStore, build_release, reasons
from quant_bundle.keys import TrustStore, generate_key, write_keypair
from quant_core import Bar, Instrument, SimClock
from quant_core.errors import QuantUsageError
from quant_models import ModelSetPredictor, load_model_set
from quant_models import reasons as model_reasons

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")
flip_byte = _bundles.flip_byte
make_dataset = _bundles.make_dataset
make_release = _bundles.make_release
release_from_artifacts = _bundles.release_from_artifacts
train_artifacts = _bundles.train_artifacts


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One trained, signed release shared read-only by the module (copy it to tamper)."""
    return make_release(tmp_path_factory.mktemp("rel"))  # type: ignore[no-any-return]


def _copy(built: tuple[Path, Path], tmp_path: Path) -> tuple[Path, TrustStore]:
    release = tmp_path / "release"
    shutil.copytree(built[0], release)
    return release, TrustStore.load(built[1])


def _audit_lines(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]


def _history(bars: tuple[Bar, ...]) -> dict[Instrument, list[Bar]]:
    out: dict[Instrument, list[Bar]] = {}
    for bar in bars:
        out.setdefault(bar.instrument, []).append(bar)
    return out


# --- activation ---------------------------------------------------------------------------


def test_activate_installs_through_the_store_and_reports_the_lineage(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    release, trust = _copy(built, tmp_path)
    state = tmp_path / "state"
    active = activate_bundle(state, release, trust=trust, require=True, clock=SimClock(5))
    manifest_bytes = (release / "manifest.json").read_bytes()
    run = json.loads((built[0].parent / "release-artifacts" / "run.json").read_bytes())
    # identity derived independently from the files on disk
    assert active.bundle_hash == "sha384:" + hashlib.sha384(manifest_bytes).hexdigest()
    assert active.bundle_version == json.loads(manifest_bytes)["bundle_version"] == "1.0.0"
    assert (active.model_id, active.dataset_hash) == (run["model_id"], run["dataset_hash"])
    assert (active.config_hash, active.seed, active.run_id) == (
        run["config_hash"],
        run["seed"],
        run["run_id"],
    )
    assert active.manifest == json.loads(manifest_bytes)
    assert active.degraded_reason is None
    assert isinstance(active.predictor, ModelSetPredictor)
    # the real install layout: current -> store/<version>-<digest16>, audited
    assert (state / "current").is_symlink()
    assert active.path == (state / "current").resolve()
    assert [r["kind"] for r in _audit_lines(state)] == ["bundle.install"]
    assert active.identity()["bundle_hash"] == active.bundle_hash


def test_activating_the_active_bundle_again_installs_nothing(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    release, trust = _copy(built, tmp_path)
    state = tmp_path / "state"
    first = activate_bundle(state, release, trust=trust, require=True)
    before = (state / "audit.jsonl").read_bytes()
    second = activate_bundle(state, release, trust=trust, require=True)
    assert (state / "audit.jsonl").read_bytes() == before
    assert (second.bundle_hash, second.model_id) == (first.bundle_hash, first.model_id)


def test_the_predictor_is_the_model_set_inside_the_bundle(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    release, trust = _copy(built, tmp_path)
    active = activate_bundle(tmp_path / "state", release, trust=trust, require=True)
    reference = ModelSetPredictor(load_model_set(built[0].parent / "release-artifacts"))
    history = _history(make_dataset(bars=120, seed=99).bars())
    as_of = max(b.close_time_ns for bars in history.values() for b in bars)
    got = active.predictor.predict(as_of, history)
    assert got == reference.predict(as_of, history)
    assert {p.instrument.base for p in got} == {"BTC", "ETH"}
    assert all(p.model_id == active.model_id for p in got)


def test_a_model_trained_on_usdt_bars_predicts_usd_bars(tmp_path: Path) -> None:
    release, keys = make_release(tmp_path, quote="USDT", name="usdt")
    active = activate_bundle(tmp_path / "s", release, trust=TrustStore.load(keys), require=True)
    usd = make_dataset(bars=80, seed=5, quote="USD").bars()
    history = _history(usd)
    as_of = max(b.close_time_ns for b in usd)
    got = active.predictor.predict(as_of, history)
    assert [str(p.instrument) for p in got] == [str(Instrument("BTC", "USD")), "ETH/USD"]
    # same prices quoted in USDT give the same probabilities: the model keys by coin
    usdt = tuple(
        Bar(Instrument(b.instrument.base, "USDT"), b.timeframe, b.open_time_ns,
            b.open, b.high, b.low, b.close, b.volume)
        for b in usd
    )  # fmt: skip
    twin = active.predictor.predict(as_of, _history(usdt))
    assert [p.forecasts for p in twin] == [p.forecasts for p in got]


def test_bundled_predictor_names_the_bundle(built: tuple[Path, Path], tmp_path: Path) -> None:
    release, trust = _copy(built, tmp_path)
    active = activate_bundle(tmp_path / "state", release, trust=trust, require=True)
    wrapped = BundledPredictor(active)
    assert wrapped.model_id == active.bundle_hash != active.model_id
    assert wrapped.horizons_ns == active.predictor.horizons_ns == (3_600 * 10**9, 4 * 3_600 * 10**9)
    history = _history(make_dataset(bars=60, seed=3).bars())
    as_of = max(b.close_time_ns for bars in history.values() for b in bars)
    assert wrapped.predict(as_of, history) == active.predictor.predict(as_of, history)


def test_a_store_with_a_newer_bundle_keeps_it(built: tuple[Path, Path], tmp_path: Path) -> None:
    release, _ = _copy(built, tmp_path)
    newer = tmp_path / "newer"
    key = generate_key()
    keys = tmp_path / "keys2"
    write_keypair(key, keys, "k2", private=False)
    shutil.copy(built[1] / "test.pub", keys / "test.pub")
    meta = json.loads((built[0].parent / "release-artifacts" / "metadata.json").read_bytes())
    spec = BundleSpec(bundle_version="2.0.0", feature_schema_hash=meta["feature_schema_hash"])
    build_release(built[0].parent / "release-artifacts", spec, [key], newer)
    both = TrustStore.load(keys)
    state = tmp_path / "state"
    assert activate_bundle(state, newer, trust=both, require=True).bundle_version == "2.0.0"
    again = activate_bundle(state, release, trust=both, require=True)
    assert again.bundle_version == "2.0.0"
    assert _audit_lines(state)[-1]["data"]["reason_code"] == reasons.ROLLBACK


# --- refusals -----------------------------------------------------------------------------


def _tamper_archive(release: Path) -> None:
    flip_byte(release / "bundle.tar.zst", 100)


def _tamper_manifest(release: Path) -> None:
    text = (release / "manifest.json").read_bytes()
    (release / "manifest.json").write_bytes(text.replace(b'"1.0.0"', b'"1.0.1"'))


def _flip_manifest_byte(release: Path) -> None:
    flip_byte(release / "manifest.json", 30)


def _remove_signature(release: Path) -> None:
    (release / "manifest.sig").unlink()


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_tamper_archive, reasons.ARCHIVE_DIGEST_MISMATCH),
        (_tamper_manifest, reasons.SIG_INVALID),
        (_remove_signature, reasons.BUNDLE_MISSING),
        (shutil.rmtree, reasons.BUNDLE_MISSING),
    ],
)
def test_a_tampered_or_missing_release_is_refused(
    built: tuple[Path, Path], tmp_path: Path, tamper: Any, code: str
) -> None:
    release, trust = _copy(built, tmp_path)
    tamper(release)
    state = tmp_path / "state"
    with pytest.raises(BundleRejectedError) as info:
        activate_bundle(state, release, trust=trust, require=True)
    assert info.value.reason_code == code
    assert not (state / "current").exists()
    heard: list[tuple[str, str]] = []
    fallback = activate_bundle(
        state, release, trust=trust, require=False, on_fallback=lambda *a: heard.append(a)
    )
    assert fallback is None
    assert [c for c, _ in heard] == [code]


def test_an_untrusted_signer_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:
    release, _ = _copy(built, tmp_path)
    stranger = TrustStore.from_keys([generate_key().public])
    with pytest.raises(BundleRejectedError) as info:
        activate_bundle(tmp_path / "s", release, trust=stranger, require=True)
    assert info.value.reason_code == reasons.KEY_UNTRUSTED
    assert activate_bundle(tmp_path / "s", release, trust=stranger, require=False) is None


def _rebuild(artifacts: Path, tmp_path: Path, **spec: Any) -> tuple[Path, TrustStore]:
    key = generate_key()
    meta = json.loads((artifacts / "metadata.json").read_bytes())
    fields = {"bundle_version": "1.0.0", "feature_schema_hash": meta["feature_schema_hash"]}
    build_release(artifacts, BundleSpec(**{**fields, **spec}), [key], tmp_path / "rel")
    return tmp_path / "rel", TrustStore.from_keys([key.public])


def _edit_json(path: Path, **changes: Any) -> None:
    doc = json.loads(path.read_bytes())
    doc.update(changes)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (lambda d: _edit_json(d / "decision.json", promote=False), reasons.SMOKE_TEST_FAILED),
        (lambda d: (d / "run.json").unlink(), reasons.MISSING_MEMBER),
        (lambda d: (d / "decision.json").write_text("{"), reasons.SMOKE_TEST_FAILED),
        (lambda d: (d / "run.json").write_text("[]"), reasons.SMOKE_TEST_FAILED),
        (lambda d: _edit_json(d / "run.json", model_id="sha256:x"), reasons.SMOKE_TEST_FAILED),
        # the model package's own reasons (decision 0119)
        (lambda d: _edit_json(d / "metadata.json", quote="CAD"), model_reasons.ARTIFACT_INVALID),
        (lambda d: shutil.rmtree(d / "models"), model_reasons.ARTIFACT_MISSING),
    ],
    ids=["not-promoted", "no-run", "bad-decision", "bad-run", "run-mismatch", "meta", "models"],
)
def test_a_signed_bundle_whose_models_do_not_serve_is_refused(
    built: tuple[Path, Path], tmp_path: Path, damage: Any, code: str
) -> None:
    """Installed through the plain store (no model smoke check), then refused at load."""
    artifacts = tmp_path / "art"
    shutil.copytree(built[0].parent / "release-artifacts", artifacts)
    damage(artifacts)
    release, trust = _rebuild(artifacts, tmp_path)
    plain = tmp_path / "plain"
    BundleStore(plain, trust, SimClock(0)).install(release)
    with pytest.raises(BundleRejectedError) as info:
        load_active_model(plain, require=True, trust=trust)
    assert info.value.reason_code == code
    assert load_active_model(plain, require=False, trust=trust) is None
    # the runtime's own install refuses it before activation (the store's smoke check)
    with pytest.raises(BundleRejectedError) as smoke:
        activate_bundle(tmp_path / "state", release, trust=trust, require=True)
    assert smoke.value.reason_code == code  # the same reason as at load (decision 0119)
    assert not (tmp_path / "state" / "current").exists()


def test_a_manifest_naming_another_feature_schema_is_refused(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    release, trust = _rebuild(
        built[0].parent / "release-artifacts", tmp_path, feature_schema_hash="sha256:" + "1" * 64
    )
    plain = tmp_path / "plain"
    BundleStore(plain, trust, SimClock(0)).install(release)
    with pytest.raises(BundleRejectedError) as info:
        load_active_model(plain, require=True, trust=trust)
    assert info.value.reason_code == reasons.INCOMPATIBLE_FEATURE_SCHEMA


def test_an_installed_bundle_tampered_on_disk_is_refused(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    release, trust = _copy(built, tmp_path)
    state = tmp_path / "state"
    activate_bundle(state, release, trust=trust, require=True)
    installed = (state / "current").resolve()
    flip_byte(installed / "artifacts" / "metadata.json", 10)
    with pytest.raises(BundleRejectedError) as info:
        load_active_model(state, require=True, trust=trust)
    assert info.value.reason_code == reasons.ACTIVE_CORRUPT
    heard: list[str] = []
    assert (
        load_active_model(
            state, require=False, trust=trust, on_fallback=lambda c, m: heard.append(c)
        )
        is None
    )
    assert heard == [reasons.ACTIVE_CORRUPT]
    # activating the same release again does not paper over it: it is already the active one
    with pytest.raises(BundleRejectedError):
        activate_bundle(state, release, trust=trust, require=True)


def test_an_empty_store_has_no_model(tmp_path: Path) -> None:
    trust = TrustStore.from_keys([generate_key().public])
    heard: list[str] = []
    assert (
        load_active_model(
            tmp_path, require=False, trust=trust, on_fallback=lambda c, m: heard.append(c)
        )
        is None
    )
    assert heard == [reasons.BUNDLE_MISSING]
    assert load_active_model(tmp_path, require=False, trust=trust) is None
    with pytest.raises(BundleRejectedError) as info:
        load_active_model(tmp_path, require=True, trust=trust)
    assert info.value.reason_code == reasons.BUNDLE_MISSING


# --- startup and the shipped locations ----------------------------------------------------


def _env(release: Path, keys: Path, require: str) -> dict[str, str]:
    return {
        "QUANT_BUNDLE_SOURCE": str(release),
        "QUANT_BUNDLE_KEYS": str(keys),
        "QUANT_REQUIRE_BUNDLE": require,
    }


def test_startup_activates_the_configured_bundle(built: tuple[Path, Path], tmp_path: Path) -> None:
    release, _ = _copy(built, tmp_path)
    active = startup_model(tmp_path / "state", _env(release, built[1], "1"))
    assert active is not None
    assert active.bundle_version == "1.0.0"


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_tamper_archive, reasons.ARCHIVE_DIGEST_MISMATCH),
        (_tamper_manifest, reasons.SIG_INVALID),
        (_flip_manifest_byte, reasons.SIG_INVALID),
        (shutil.rmtree, reasons.BUNDLE_MISSING),
    ],
)
def test_required_bundle_stops_startup_with_the_reason_code(
    built: tuple[Path, Path], tmp_path: Path, tamper: Any, code: str
) -> None:
    release, _ = _copy(built, tmp_path)
    tamper(release)
    with pytest.raises(BundleRejectedError) as info:
        startup_model(tmp_path / "state", _env(release, built[1], "1"))
    assert info.value.reason_code == code
    heard: list[str] = []
    assert (
        startup_model(
            tmp_path / "state",
            _env(release, built[1], "0"),
            on_fallback=lambda c, m: heard.append(c),
        )
        is None
    )
    assert heard == [code]


def test_startup_without_trusted_keys(built: tuple[Path, Path], tmp_path: Path) -> None:
    release, _ = _copy(built, tmp_path)
    no_keys = tmp_path / "empty-keys"
    no_keys.mkdir()
    with pytest.raises(BundleRejectedError) as info:
        startup_model(tmp_path / "s", _env(release, no_keys, "1"))
    assert info.value.reason_code == reasons.BUNDLE_MISSING
    heard: list[str] = []
    got = startup_model(
        tmp_path / "s", _env(release, no_keys, "0"), on_fallback=lambda c, m: heard.append(c)
    )
    assert got is None
    assert heard == [reasons.BUNDLE_MISSING]
    # an explicit trust store wins over the keys directory
    explicit = startup_model(tmp_path / "s", _env(release, no_keys, "1"), trust=shipped_trust(
        {"QUANT_BUNDLE_KEYS": str(built[1])}
    ))  # fmt: skip
    assert isinstance(explicit, ActiveModel)


def test_startup_refuses_a_non_boolean_require_flag(tmp_path: Path) -> None:
    with pytest.raises(QuantUsageError):
        startup_model(tmp_path, {"QUANT_REQUIRE_BUNDLE": "maybe"})


def test_shipped_locations_are_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert shipped_bundle_dir({}) == repo / "bundles" / "default"
    assert shipped_keys_dir({}) == repo / "bundles" / "keys"
    assert shipped_bundle_dir({"QUANT_BUNDLE_SOURCE": " ~/rel "}) == Path.home() / "rel"
    monkeypatch.setenv("QUANT_BUNDLE_SOURCE", "/srv/from-env")
    monkeypatch.setenv("QUANT_BUNDLE_KEYS", "/srv/keys-env")
    assert shipped_bundle_dir() == Path("/srv/from-env")
    assert shipped_keys_dir() == Path("/srv/keys-env")


def test_outside_a_checkout_the_working_directory_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bundles, "__file__", str(tmp_path / "site" / "quant_apps" / "bundles.py"))
    monkeypatch.chdir(tmp_path)
    assert shipped_bundle_dir({}) == tmp_path / "bundles" / "default"
    assert shipped_keys_dir({}) == tmp_path / "bundles" / "keys"
