"""Importing a model in the browser: from the home page's link, a file that is no model is
refused beside its field, in words that name it; the tutorial's U/V/W .npz with its vocabulary
file becomes a model whose playground answers. Screenshots in
test-artifacts/screenshots/import-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import shoot
from test_model_import import tutorial_files

pytestmark = pytest.mark.browser


def test_import_refuses_in_words_then_plays_the_tutorials_model(page, pages, tmp_path):
    # The refused file is answered with 400, as a form with errors is.
    pages.watcher.allow(r"/models/import")
    model_bytes, vocabulary = tutorial_files(hidden=6, seed=4)
    (tmp_path / "trained-model-theano.npz").write_bytes(model_bytes)
    (tmp_path / "index_to_word.txt").write_bytes(vocabulary)
    (tmp_path / "notes.npz").write_text("these are my notes, not a model")
    page.goto("/")
    page.get_by_role("link", name="Import a model").click()
    expect(page.get_by_role("heading", name="Import a model")).to_be_visible()

    page.get_by_label("Model file (.npz)").set_input_files(str(tmp_path / "notes.npz"))
    page.get_by_role("button", name="Import").click()
    error = page.locator(".field.has-error .error")
    expect(error).to_have_text("notes.npz is not an .npz file (a zip of numpy arrays), so it "
                               "cannot be a model. Upload the .npz that rnnlab or the tutorial "
                               "saved.")
    shoot(page, "import-1-refused")

    page.get_by_label("Model file (.npz)").set_input_files(
        str(tmp_path / "trained-model-theano.npz"))
    page.get_by_label("Vocabulary file (for the tutorial's .npz)").set_input_files(
        str(tmp_path / "index_to_word.txt"))
    page.get_by_label("Name (optional)").fill("The tutorial's own model")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("h1")).to_have_text("The tutorial's own model")
    page.get_by_label("Sentences, one per line").fill("the cat sat on the mat .")
    page.get_by_role("button", name="Score").click()
    expect(page.locator("#result-score .surprisal .token")).to_have_count(8)
    shoot(page, "import-2-imported-model")
