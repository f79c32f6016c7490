"""Uploaded file names and ids in URLs never reach a path: an upload is stored as
DATA_DIR/corpora/<new id>/source.csv whatever it was called, the name is only shown (its base
name, escaped), and an id that is not an id is a 404 before any file is looked at.
"""
from __future__ import annotations

import io
import os
from urllib.parse import quote, unquote

import pytest

from conftest import write_corpus

# the name sent, the name shown (None: whatever the multipart parser made of it)
NAMES = [
    ("../../etc/passwd", "passwd"),
    ("../../../../../../tmp/evil.csv", "evil.csv"),
    ("/etc/passwd", "passwd"),
    ("./.././source.csv", "source.csv"),
    ("~/.ssh/authorized_keys", "authorized_keys"),
    ("..", "uploaded corpus"),
    ("/", "uploaded corpus"),
    ("comments\x00.csv.sh", "comments.csv.sh"),
    ("a" * 1000 + ".csv", "a" * 120),
    # The parser reads a backslash in a quoted file name as an escape, so what arrives differs.
    ("..\\..\\Windows\\win.ini", None),
    ("C:\\Users\\me\\comments.csv", None),
    # A line break ends the part's header: the part is no file at all, and is refused.
    ("name\nwith\rbreaks.csv", None),
]


def everything_under(path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.mark.parametrize("filename, shown", NAMES, ids=[repr(n[0])[:30] for n in NAMES])
def test_a_file_name_never_becomes_a_path(client, tmp_path, data_dir, filename, shown):
    source = write_corpus(tmp_path / "upload.csv").read_bytes()
    outside = everything_under(tmp_path)
    passwd = os.stat("/etc/passwd")
    response = client.post("/api/corpora", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(source), filename)})
    assert response.status_code in (201, 400), response.get_json()
    if response.status_code == 400:
        assert everything_under(tmp_path) - outside <= {"data/corpora"}
        return
    corpus = response.get_json()
    if shown is not None:
        assert corpus["name"] == shown
    assert corpus["name"].strip(". ") and not set(corpus["name"]) & set("/\x00\n\r")
    added = everything_under(tmp_path) - outside
    folder = f"data/corpora/{corpus['id']}"
    assert added == {"data/corpora", folder, f"{folder}/source.csv"} - outside
    assert (tmp_path / folder / "source.csv").read_bytes() == source
    assert os.stat("/etc/passwd").st_mtime_ns == passwd.st_mtime_ns


@pytest.mark.parametrize("identifier", ["..", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                        "%2e%2e", "a" * 33, "x;rm -rf", "%00", "ünï"])
@pytest.mark.parametrize("url", ["/api/jobs/{}", "/api/corpora/{}", "/api/models/{}",
                                 "/models/{}/download", "/jobs/{}", "/corpora/{}"])
def test_an_id_that_is_not_an_id_reaches_no_file(client, url, identifier):
    response = client.get(url.format(quote(identifier, safe="%")))
    assert response.status_code in (404, 308), (url, identifier)
    if response.status_code == 404 and url.startswith("/api/"):
        error = response.get_json()["error"]
        if "/" in unquote(identifier):  # no route has a slash in an id: the generic not-found
            assert "not found" in error, (url, identifier, error)
        else:
            assert error.startswith("There is no "), (url, identifier, error)


def test_a_model_file_is_found_by_its_row_never_by_the_url(client, trained_model, data_dir):
    # A file named like a traversal next to the models is never served for such a URL.
    (data_dir / "models" / "..npz").write_bytes(b"secret")
    assert client.get("/models/../download").status_code == 404
    response = client.get(f"/models/{trained_model['id']}/download")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    response.close()
