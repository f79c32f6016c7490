"""The artifact store: zero copies on the data folder; between two hosts' data folders through a
shared folder and through an S3 server (moto's, on loopback): put, fetch into the cache, refresh a
changed file, delete, keys that cannot leave the folder, and settings that are refused in words.
"""
from __future__ import annotations

import os

import pytest

from webapp.artifacts import ArtifactMissing, ArtifactStore
from webapp.settings import SettingsError, load_settings


@pytest.fixture(scope="module")
def s3_url():
    """An S3 bucket on a moto server on loopback; its endpoint and the bucket's URL."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ArtifactStore("/unused", "s3://rnnlab", endpoint).fs.mkdir("rnnlab")
    yield endpoint
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(params=["file", "s3"])
def two_hosts(request, tmp_path):
    """Two ArtifactStores with their own data folders sharing one store, and the store's URL."""
    if request.param == "file":
        url, endpoint = f"file://{tmp_path / 'shared'}", None
    else:
        url, endpoint = f"s3://rnnlab/{tmp_path.name}", request.getfixturevalue("s3_url")
    return (ArtifactStore(tmp_path / "host-a", url, endpoint),
            ArtifactStore(tmp_path / "host-b", url, endpoint), url)


def write(store: ArtifactStore, key: str, data: bytes):
    path = store.local_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_default_store_is_the_data_folder_and_copies_nothing(tmp_path):
    store = ArtifactStore(tmp_path)
    path = write(store, "models/m1.npz", b"weights")
    inode = path.stat().st_ino
    store.put_file(path)
    assert not store.shared and store.key(path) == "models/m1.npz"
    assert store.fetch("models/m1.npz") == path and path.stat().st_ino == inode
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["m1.npz"]
    assert store.exists("models/m1.npz") and store.refresh("models/m1.npz") == path
    store.delete("models/m1.npz")
    assert not path.exists() and store.refresh("models/m1.npz") is None
    with pytest.raises(ArtifactMissing):
        store.fetch("models/m1.npz")


def test_a_file_from_elsewhere_is_moved_into_the_default_store(tmp_path):
    store = ArtifactStore(tmp_path / "data")
    outside = tmp_path / "made-here.npz"
    outside.write_bytes(b"abc")
    store.put_file(outside, "models/m2.npz")
    assert not outside.exists() and store.fetch("models/m2.npz").read_bytes() == b"abc"


def test_one_host_publishes_and_the_other_fetches_into_its_own_folder(two_hosts):
    a, b, _url = two_hosts
    key = "corpora/c1/source.csv"
    a.put_file(write(a, key, b"id,text\n1,hello there\n"))
    assert b.exists(key) and not b.local_path(key).exists()
    fetched = b.fetch(key)
    assert fetched == b.local_path(key) and fetched.read_bytes() == b"id,text\n1,hello there\n"
    # Leftovers of the download are gone; the copy is this host's cache from now on.
    assert sorted(p.name for p in fetched.parent.iterdir()) == ["source.csv"]
    a.delete(key)
    assert not a.exists(key) and not a.local_path(key).exists()
    assert b.fetch(key).read_bytes().startswith(b"id,text")  # cached: no store needed
    with pytest.raises(ArtifactMissing):
        b.fetch("corpora/c1/other.npz")


def test_refresh_brings_the_newer_checkpoint_and_drops_a_stale_one(two_hosts):
    a, b, _url = two_hosts
    key = "jobs/j1/checkpoint.npz"
    a.put_file(write(a, key, b"epoch 1"))
    assert b.refresh(key).read_bytes() == b"epoch 1"
    a.put_file(write(a, key, b"epoch 2"))
    assert b.fetch(key).read_bytes() == b"epoch 1"  # fetch trusts the cache...
    assert b.refresh(key).read_bytes() == b"epoch 2"  # ...refresh asks the store
    a.delete(key)
    assert b.refresh(key) is None and not b.local_path(key).exists()


def test_a_shared_folder_gets_whole_files_and_no_leftovers(tmp_path):
    a = ArtifactStore(tmp_path / "host-a", f"file://{tmp_path / 'shared'}")
    key = "models/m3.npz"
    a.put_file(write(a, key, b"first"))
    with pytest.raises(FileNotFoundError):
        a.put_file(tmp_path / "host-a" / "missing.npz", key)
    assert (tmp_path / "shared" / key).read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "shared" / "models").iterdir()] == ["m3.npz"]


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "models/../../x", "a//b", "./a"])
def test_keys_cannot_leave_the_data_folder(tmp_path, key):
    for store in (ArtifactStore(tmp_path), ArtifactStore(tmp_path, f"file://{tmp_path}/s")):
        with pytest.raises(ValueError):
            store.local_path(key)
    with pytest.raises(ValueError):
        ArtifactStore(tmp_path).key(tmp_path.parent / "elsewhere.npz")


def test_postgresql_urls_use_the_installed_driver():
    for written in ("postgresql://u:p@db/rnnlab", "postgres://u:p@db/rnnlab"):
        assert load_settings({"DATABASE_URL": written}).database_url == \
            "postgresql+psycopg://u:p@db/rnnlab"
    kept = "postgresql+psycopg://u@db/x"
    assert load_settings({"DATABASE_URL": kept}).database_url == kept


def test_store_settings(tmp_path):
    assert load_settings({}).artifact_store is None
    settings = load_settings({"RNNLAB_ARTIFACT_STORE": "file:///mnt/shared/",
                              "RNNLAB_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert settings.artifact_store == "file:///mnt/shared"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert load_settings({"RNNLAB_ARTIFACT_STORE": "s3://b/p/"}).artifact_store == "s3://b/p"
    for bad in ("file://relative", "s3://", "ftp://host/x", "/mnt/shared"):
        with pytest.raises(SettingsError, match="RNNLAB_ARTIFACT_STORE"):
            load_settings({"RNNLAB_ARTIFACT_STORE": bad})
    with pytest.raises(ValueError):
        ArtifactStore(tmp_path, "ftp://host/x")
