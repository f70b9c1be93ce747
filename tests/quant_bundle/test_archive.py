"""Archive build determinism and the extractor's allow-list (BND-09, BND-10, BND-15, ATM-15)."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from quant_bundle import BundleRejectedError, build_archive, extract_archive, reasons
from quant_bundle._manifest import ArtifactEntry, Manifest

GOOD = b"model weights"


def _manifest(files: dict[str, bytes]) -> Manifest:
    return Manifest(
        bundle_version="1.0.0",
        model_family_versions={"m": "1.0.0"},
        feature_schema_hash="sha256:00",
        training_lineage_metadata={},
        compatibility_range={},
        inference_contract={},
        artifacts=tuple(
            ArtifactEntry(p, hashlib.sha384(b).hexdigest(), len(b))
            for p, b in sorted(files.items())
        ),
        archive_sha384="0" * 96,
        archive_size=1,
        key_id="k",
    )


def _tar(add: Callable[[tarfile.TarFile], object], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        add(tar)
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def _reg(tar: tarfile.TarFile, name: str, data: bytes, **pax: str) -> str:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    if pax:
        info.pax_headers = dict(pax)
    tar.addfile(info, io.BytesIO(data))
    return name


def _special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> str:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)
    return name


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _extract(tmp: Path, archive: bytes, files: dict[str, bytes]) -> Path:
    (tmp / "a.tar.zst").write_bytes(archive)
    dest = tmp / "staging" / "tree"
    dest.mkdir(parents=True)
    extract_archive(tmp / "a.tar.zst", dest, _manifest(files))
    return dest


def _refused(tmp: Path, archive: bytes, files: dict[str, bytes] | None = None) -> str:
    files = files or {"artifacts/model.bin": GOOD}
    before = _tree(tmp)
    with pytest.raises(BundleRejectedError) as info:
        _extract(tmp, archive, files)
    after = {p for p in _tree(tmp) if not p.startswith("staging") and p != "a.tar.zst"}
    assert after == {p for p in before if not p.startswith("staging")}, "wrote outside staging"
    return info.value.reason_code


def test_build_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    files = {
        "artifacts/b.bin": b"\x00" * 1000,
        "artifacts/a/x.json": b"{}",
        "artifacts/é.txt": b"e",
    }
    assert build_archive(files) == build_archive(dict(reversed(list(files.items()))))
    dest = _extract(tmp_path, build_archive(files), files)
    assert {k: (dest / k).read_bytes() for k in files} == files
    with tarfile.open(
        fileobj=io.BytesIO(zstandard.ZstdDecompressor().decompress(build_archive(files)))
    ) as t:
        members = t.getmembers()
    assert [m.name for m in members] == sorted(files)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)
    }


def test_release_bytes_identical_across_processes(tmp_path: Path) -> None:
    script = tmp_path / "build.py"
    script.write_text(
        "import sys, pathlib\n"
        "from quant_bundle import BundleSpec, build_release\n"
        "from quant_bundle.keys import generate_key\n"
        "src = pathlib.Path(sys.argv[1])\n"
        "build_release(src, BundleSpec(bundle_version='1.2.3', feature_schema_hash='sha256:00',"
        " training_lineage_metadata={'seed': 7, 'b': [1, 2]}), [generate_key(seed=bytes(32))],"
        " pathlib.Path(sys.argv[2]))\n"
    )
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "w.bin").write_bytes(os.urandom(0) + b"w" * 5000)
    (src / "m.json").write_bytes(b'{"a":1}')
    outs = []
    for seed in ("0", "1"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, str(script), str(src), str(out)], check=True, env=env)
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    assert set(outs[0]) == {"bundle.tar.zst", "manifest.json", "manifest.sig"}


@pytest.mark.parametrize(
    ("name", "build", "expected"),
    [
        (
            "symlink-to-etc",
            lambda t: (
                _special(t, "artifacts/link", tarfile.SYMTYPE, "/etc"),
                _reg(t, "artifacts/link/passwd", b"x"),
            ),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "hardlink-outside",
            lambda t: _special(t, "artifacts/model.bin", tarfile.LNKTYPE, "/etc/passwd"),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "hardlink-to-symlink",
            lambda t: (
                _special(t, "artifacts/s", tarfile.SYMTYPE, "../../x"),
                _special(t, "artifacts/model.bin", tarfile.LNKTYPE, "artifacts/s"),
            ),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "char-device",
            lambda t: _special(t, "artifacts/model.bin", tarfile.CHRTYPE),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "block-device",
            lambda t: _special(t, "artifacts/model.bin", tarfile.BLKTYPE),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "fifo",
            lambda t: _special(t, "artifacts/model.bin", tarfile.FIFOTYPE),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        (
            "directory",
            lambda t: _special(t, "artifacts", tarfile.DIRTYPE),
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        ("traversal", lambda t: _reg(t, "../evil", GOOD), reasons.UNLISTED_MEMBER),
        ("absolute", lambda t: _reg(t, "/tmp/evil", GOOD), reasons.UNLISTED_MEMBER),
        (
            "dot-slash-alias",
            lambda t: _reg(t, "./artifacts/model.bin", GOOD),
            reasons.UNLISTED_MEMBER,
        ),
        (
            "duplicate",
            lambda t: (
                _reg(t, "artifacts/model.bin", GOOD),
                _reg(t, "artifacts/model.bin", b"other data!!!"),
            ),
            reasons.UNLISTED_MEMBER,
        ),
        (
            "extra-member",
            lambda t: (
                _reg(t, "artifacts/evil.py", b"import os"),
                _reg(t, "artifacts/model.bin", GOOD),
            ),
            reasons.UNLISTED_MEMBER,
        ),
        (
            "wrong-size",
            lambda t: _reg(t, "artifacts/model.bin", GOOD + b"!"),
            reasons.FILE_DIGEST_MISMATCH,
        ),
        (
            "wrong-content",
            lambda t: _reg(t, "artifacts/model.bin", b"MODEL WEIGHTS"),
            reasons.FILE_DIGEST_MISMATCH,
        ),
        (
            "long-symlink-chain",
            lambda t: [
                _special(
                    t,
                    "artifacts/" + "l" * 200 + str(i),
                    tarfile.SYMTYPE,
                    "artifacts/" + "l" * 200 + str(i + 1),
                )
                for i in range(30)
            ],
            reasons.MEMBER_TYPE_FORBIDDEN,
        ),
        ("empty", lambda t: None, reasons.MISSING_MEMBER),
    ],
)
def test_bnd15_member_tricks(
    tmp_path: Path, name: str, build: Callable[[tarfile.TarFile], object], expected: str
) -> None:
    assert _refused(tmp_path, _tar(build)) == expected, name


def test_bnd15_duplicate_name_when_listed_twice_is_refused(tmp_path: Path) -> None:
    files = {"artifacts/a": GOOD, "artifacts/b": GOOD}
    archive = _tar(lambda t: (_reg(t, "artifacts/a", GOOD), _reg(t, "artifacts/a", GOOD)))
    assert _refused(tmp_path, archive, files) == reasons.DUPLICATE_MEMBER


def test_bnd15_sparse_member_refused(tmp_path: Path) -> None:
    def add(t: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("artifacts/model.bin")
        info.size = len(GOOD)
        info.type = tarfile.GNUTYPE_SPARSE
        t.addfile(info, io.BytesIO(GOOD))

    assert _refused(tmp_path, _tar(add, tarfile.GNU_FORMAT)) == reasons.MEMBER_TYPE_FORBIDDEN


def test_bnd15_many_empty_members(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(100_000):
            tar.addfile(tarfile.TarInfo(f"artifacts/e{i}"))
    archive = zstandard.ZstdCompressor().compress(raw.getvalue())
    files = {"artifacts/e0": b"", "artifacts/model.bin": GOOD}
    assert _refused(tmp_path, archive, files) == reasons.UNLISTED_MEMBER


def test_bnd10_zstd_window_bomb_refused_before_allocation(tmp_path: Path) -> None:
    # Frame header asking for a 2 GiB window (windowLog 31), then one raw 1-byte last block.
    frame = b"\x28\xb5\x2f\xfd" + b"\x00" + bytes([21 << 3]) + b"\x09\x00\x00" + b"x"
    assert _refused(tmp_path, frame) == reasons.ARCHIVE_MALFORMED


def test_bnd10_decompression_bomb_is_capped(tmp_path: Path) -> None:
    # A tar whose PAX header expands to 256 MiB: the output cap stops it long before.
    chunk = b"0" * (1 << 20)
    raw = io.BytesIO()
    header = tarfile.TarInfo("artifacts/model.bin")
    header.size = len(GOOD)
    comment_len = 256 << 20
    record = f" comment={'0' * 0}"
    body_len = comment_len
    line_prefix = f"{len(record) + body_len + 1 + 10} comment="
    del line_prefix, record
    cctx = zstandard.ZstdCompressor(level=1)
    out = io.BytesIO()
    with cctx.stream_writer(out, closefd=False) as w:
        pax = tarfile.TarInfo("././@PaxHeader")
        pax.type = tarfile.XHDTYPE
        pax.size = body_len
        w.write(pax.tobuf(tarfile.USTAR_FORMAT))
        for _ in range(body_len // len(chunk)):
            w.write(chunk)
        w.write(header.tobuf(tarfile.USTAR_FORMAT))
    del raw
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _refused(tmp_path, out.getvalue()) == reasons.LENGTH_EXCEEDED
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert growth_kib < 64 * 1024


def test_atm15_truncated_archive_in_the_extractor(tmp_path: Path) -> None:
    archive = build_archive({"artifacts/model.bin": GOOD * 1000})
    files = {"artifacts/model.bin": GOOD * 1000}
    assert _refused(tmp_path, archive[: len(archive) // 2], files) in (
        reasons.ARCHIVE_TRUNCATED,
        reasons.FILE_DIGEST_MISMATCH,
    )
    raw = zstandard.ZstdDecompressor().decompress(archive)
    cut = zstandard.ZstdCompressor().compress(raw[:700])  # tar cut mid-member
    (tmp_path / "b").mkdir()
    assert _refused(tmp_path / "b", cut, files) == reasons.ARCHIVE_TRUNCATED


def test_garbage_is_malformed(tmp_path: Path) -> None:
    assert _refused(tmp_path, b"not zstd at all") == reasons.ARCHIVE_MALFORMED
    garbage_tar = zstandard.ZstdCompressor().compress(b"\x01" * 2048)
    (tmp_path / "c").mkdir()
    assert _refused(tmp_path / "c", garbage_tar) == reasons.ARCHIVE_MALFORMED
