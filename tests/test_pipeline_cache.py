"""The base cache's key: two different demo files with one name never share a pre-trained base."""

from __future__ import annotations

import shutil

from inril.pipeline.cache import base_dir, demos_path
from inril.pipeline.config import ACTION_DIM
from inril.pipeline.presets import make_job
from inril.tasks import get_task


def test_user_demo_files_are_keyed_by_content_and_cached_scripted_demos_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    job = make_job("laptop", "PegInHole-Low", get_task("PegInHole-Low").obs_dim, ACTION_DIM)
    first, second, copy = tmp_path / "a" / "demos.hdf5", tmp_path / "b" / "demos.hdf5", tmp_path / "c" / "demos.hdf5"
    for path, content in ((first, b"one set of demos"), (second, b"another set")):
        path.parent.mkdir()
        path.write_bytes(content)
    copy.parent.mkdir()
    shutil.copy(first, copy)
    assert base_dir(job, first) != base_dir(job, second)  # same name, other content
    assert base_dir(job, first) == base_dir(job, copy)  # same content elsewhere: the same base
    cached = demos_path(job)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"scripted")
    key_before = base_dir(job, cached)
    cached.write_bytes(b"scripted, rewritten")
    assert base_dir(job, cached) == key_before  # the cache's own demos: their name says what made them
