"""The playground (GET /ui) in a real browser: Debian's Chromium, driven by playwright, against a live
server on tiny checkpoints. What the page draws must be what the server's task API (POST /) answers,
and for fill-mask what transformers' pipeline answers; errors must read as the server wrote them.

Set UPDATE_SCREENSHOT=1 to rewrite docs/playground.png (docs/clients.md's picture) from the fill-mask test.
"""

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.serving.playground_routes import PLAYGROUND_DIR
from tests.live_server import live_server
from tests.paths import REPO_ROOT
from tests.tiny_bert import build_tiny_task_model

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ROOT = REPO_ROOT
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
API_KEY = "playground-test-key"
SCORE_TOLERANCE = 1e-4
SCREENSHOT = ROOT / "docs" / "playground.png"
# The seed whose random words read least oddly in the screenshot.
SCREENSHOT_SEED = 1


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: `make browser` (Debian's chromium), or point CHROMIUM at one."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def masked_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pre-training checkpoint (fill-mask and NSP), in a folder whose name reads well on the page."""
    return build_tiny_task_model(
        tmp_path_factory.mktemp("playground") / "tiny-random-bert", "pretraining", seed=SCREENSHOT_SEED
    )


@pytest.fixture(scope="module")
def masked_lm_server(masked_lm_dir: Path) -> Iterator[str]:
    with live_server(model_id=str(masked_lm_dir), api_key=API_KEY) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def ner_server(tiny_task_dir: Callable[[str], Path]) -> Iterator[str]:
    with live_server(model_id=str(tiny_task_dir("token-classification")), api_key=API_KEY) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def classifier_server(tiny_task_dir: Callable[[str], Path]) -> Iterator[str]:
    with live_server(model_id=str(tiny_task_dir("text-classification")), api_key=API_KEY) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def qa_server(tiny_task_dir: Callable[[str], Path]) -> Iterator[str]:
    """One body arriving at a time (and no minimum rate), so a request whose body is held makes the
    next one a real 429."""
    directory = tiny_task_dir("question-answering")
    with live_server(
        model_id=str(directory), api_key=API_KEY, max_pending_bodies=1, min_body_bytes_per_s=0
    ) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def fill_mask_pipeline(masked_lm_dir: Path) -> Any:
    from transformers import pipeline

    return pipeline("fill-mask", model=str(masked_lm_dir), device="cpu")


@dataclass
class Playground:
    """A tab on /ui, and the script errors and policy violations it logged."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def run(self, fields: dict[str, str]) -> None:
        """Fill the fields, press Run, and wait until the page has drawn the server's answer."""
        for selector, text in fields.items():
            self.page.fill(selector, text)
        with self.page.expect_response(lambda response: response.request.method == "POST"):
            self.page.click("#submit")
        self.page.wait_for_selector("#submit:enabled")

    def bars(self, scope: str = "#result") -> list[tuple[str, float]]:
        rows = self.page.locator(f"{scope} .bar-row")
        return [
            (row.get_attribute("data-label") or "", float(row.get_attribute("data-score") or "nan"))
            for row in rows.all()
        ]

    def error(self) -> str:
        return self.page.locator("#error").inner_text()


@pytest.fixture
def open_playground(browser: Browser) -> Iterator[Callable[..., Playground]]:
    contexts = []

    def open_page(base_url: str, api_key: str | None = API_KEY, task: str | None = None) -> Playground:
        context = browser.new_context(viewport={"width": 900, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        playground = Playground(page)
        page.on("pageerror", lambda error: playground.problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                playground.problems.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((base_url + "/", "data:"))
                else playground.problems.append(f"asked another site: {request.url}")
            ),
        )
        page.goto(f"{base_url}/ui")
        page.wait_for_selector("#playground:not([hidden])")
        if task is not None:
            page.select_option("#task", task)
        if api_key is not None:
            page.click("#api-key-details summary")
            page.fill("#api-key", api_key)
        return playground

    yield open_page
    for context in contexts:
        context.close()


def hf_answer(base_url: str, body: dict[str, Any], api_key: str = API_KEY) -> httpx.Response:
    return httpx.post(f"{base_url}/", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


# ---- the files ---------------------------------------------------------------------------------


def test_page_and_its_files_are_served_with_their_content_types(masked_lm_server: str) -> None:
    expected = {
        "/ui": "text/html; charset=utf-8",
        "/ui/playground.css": "text/css; charset=utf-8",
        "/ui/playground.js": "text/javascript; charset=utf-8",
    }
    for path, content_type in expected.items():
        response = httpx.get(masked_lm_server + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(f"{masked_lm_server}/ui/app.py").status_code == 404
    redirect = httpx.get(f"{masked_lm_server}/ui/")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "../ui")


def test_page_names_no_other_site_and_links_its_files_relatively() -> None:
    """Relative links keep working offline and behind a proxy that adds a path prefix."""
    for file in PLAYGROUND_DIR.iterdir():
        assert "://" not in file.read_text(), file.name
    page = (PLAYGROUND_DIR / "index.html").read_text()
    assert 'src="ui/playground.js"' in page
    assert 'href="ui/playground.css"' in page


def test_every_playground_file_ships_in_the_package() -> None:
    """pip install . (the Docker image) copies only the package data pyproject names."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["app.serving"]
    files = [file.relative_to(PLAYGROUND_DIR.parent).as_posix() for file in PLAYGROUND_DIR.iterdir()]
    assert files
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), name


# ---- fill-mask ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence", ["Paris is the [MASK] of France.", "The [MASK] sat on the [MASK]."], ids=["one", "two"]
)
def test_fill_mask_bars_equal_the_api_and_the_pipeline(
    masked_lm_server: str,
    open_playground: Callable[..., Playground],
    fill_mask_pipeline: Any,
    sentence: str,
    tmp_path: Path,
) -> None:
    top_k = 5
    playground = open_playground(masked_lm_server, task="fill-mask")
    with playground.page.expect_request(lambda request: request.method == "POST") as sent:
        playground.run({"#fill-mask-text": sentence, "#fill-mask-top-k": str(top_k)})
    body = {"inputs": sentence, "parameters": {"top_k": top_k}}
    assert sent.value.post_data_json == body
    assert sent.value.headers["authorization"] == f"Bearer {API_KEY}"

    answer = hf_answer(masked_lm_server, body).json()
    per_mask = answer if isinstance(answer[0], list) else [answer]
    expected = fill_mask_pipeline(sentence, top_k=top_k)
    expected_per_mask = expected if isinstance(expected[0], list) else [expected]
    groups = playground.page.locator(".mask-group")
    assert groups.count() == len(per_mask) == sentence.count("[MASK]")
    for index, (candidates, oracle) in enumerate(zip(per_mask, expected_per_mask, strict=True)):
        drawn = playground.bars(f'.mask-group[data-mask="{index}"]')
        assert drawn == [(c["token_str"], c["score"]) for c in candidates]
        assert [label for label, _ in drawn] == [c["token_str"] for c in oracle]
        for (_, score), candidate in zip(drawn, oracle, strict=True):
            assert abs(score - candidate["score"]) < SCORE_TOLERANCE

    completed = sentence
    for candidates in per_mask:
        completed = completed.replace("[MASK]", candidates[0]["token_str"], 1)
    assert playground.page.inner_text('[data-role="completed-sentence"]') == completed
    assert playground.page.locator('[data-role="completed-sentence"] mark').count() == len(per_mask)
    assert playground.page.inner_text("#model-status").startswith("tiny-random-bert · Fill-mask")
    assert playground.problems == []

    screenshot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" and len(per_mask) == 2 else None
    playground.page.screenshot(path=screenshot or tmp_path / "playground.png", full_page=True)
    assert (screenshot or tmp_path / "playground.png").read_bytes().startswith(b"\x89PNG")


def test_curl_command_repeats_the_request_and_copies(
    masked_lm_server: str, open_playground: Callable[..., Playground], browser: Browser
) -> None:
    sentence = "The dog's [MASK] is here."  # a quote, to prove the shell quoting
    playground = open_playground(masked_lm_server, task="fill-mask")
    playground.run({"#fill-mask-text": sentence, "#fill-mask-top-k": "3"})
    command = playground.page.inner_text("#curl")

    words = shlex.split(command)
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    assert urlsplit(words[4]).path == "/"
    headers = [words[i + 1] for i, word in enumerate(words) if word == "-H"]
    assert headers == ["Content-Type: application/json", "Authorization: Bearer $API_KEY"]
    assert API_KEY not in command
    body = json.loads(words[words.index("-d") + 1])
    assert body == {"inputs": sentence, "parameters": {"top_k": 3}}
    drawn = playground.bars()
    assert [(c["token_str"], c["score"]) for c in hf_answer(masked_lm_server, body).json()] == drawn
    if shutil.which("curl"):  # the command as a shell runs it
        ran = subprocess.run(
            ["bash", "-c", command], env={**os.environ, "API_KEY": API_KEY}, capture_output=True, check=True
        )
        assert [(c["token_str"], c["score"]) for c in json.loads(ran.stdout)] == drawn

    playground.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    playground.page.click("#copy-curl")
    playground.page.wait_for_selector("#copy-status:has-text('Copied.')")
    assert playground.page.evaluate("navigator.clipboard.readText()") == command


def test_next_sentence_label_bars_equal_the_api(
    masked_lm_server: str, open_playground: Callable[..., Playground]
) -> None:
    playground = open_playground(masked_lm_server)
    offered = playground.page.locator("#task option").evaluate_all("options => options.map(o => o.value)")
    assert offered == httpx.get(f"{masked_lm_server}/health/ready").json()["tasks"]
    playground.page.select_option("#task", "next-sentence-prediction")
    first, second = "The dog ran to the house.", "It sat by the fire."
    playground.run({"#nsp-text": first, "#nsp-text-pair": second})
    answer = hf_answer(masked_lm_server, {"inputs": {"text": first, "text_pair": second}}).json()
    expected = sorted(((row["label"], row["score"]) for row in answer), key=lambda row: -row[1])
    assert playground.bars() == expected
    assert {label for label, _ in expected} == {"IsNext", "NotNext"}


@pytest.mark.parametrize("pair", ["", "the cat is sad"], ids=["text", "pair"])
def test_classification_label_bars_equal_the_api(
    classifier_server: str, open_playground: Callable[..., Playground], pair: str
) -> None:
    text = "the dog is happy today"
    labels = httpx.get(f"{classifier_server}/health/ready").json()["labels"]
    playground = open_playground(classifier_server)
    with playground.page.expect_request(lambda request: request.method == "POST") as sent:
        playground.run({"#classification-text": text, "#classification-text-pair": pair})
    body = {
        "inputs": {"text": text, "text_pair": pair} if pair else text,
        "parameters": {"top_k": len(labels)},
    }
    assert sent.value.post_data_json == body
    answer = hf_answer(classifier_server, body).json()
    rows = answer[0] if isinstance(answer[0], list) else answer
    assert playground.bars() == sorted(
        ((row["label"], row["score"]) for row in rows), key=lambda row: -row[1]
    )
    assert sorted(label for label, _ in playground.bars()) == sorted(labels)


# ---- errors and the API key ----------------------------------------------------------------------


def test_a_sentence_without_a_mask_shows_the_servers_400_message(
    masked_lm_server: str, open_playground: Callable[..., Playground]
) -> None:
    sentence = "Paris is the capital of France."
    playground = open_playground(masked_lm_server, task="fill-mask")
    playground.run({"#fill-mask-text": sentence})
    refused = hf_answer(masked_lm_server, {"inputs": sentence, "parameters": {"top_k": 5}})
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert playground.error() == f"400 Bad Request: {message}"
    assert playground.page.locator("#result > *").count() == 0


def test_a_wrong_api_key_shows_the_401(
    masked_lm_server: str, open_playground: Callable[..., Playground]
) -> None:
    playground = open_playground(masked_lm_server, api_key="not-the-key", task="fill-mask")
    playground.run({"#fill-mask-text": "Paris is the [MASK] of France."})
    refused = hf_answer(masked_lm_server, {"inputs": "x [MASK]"}, api_key="not-the-key")
    assert refused.status_code == 401
    assert playground.error() == f"401 Unauthorized: {refused.json()['error']} Check the API key below."


def test_the_api_key_is_remembered_only_in_the_tab_and_only_when_asked(
    masked_lm_server: str, open_playground: Callable[..., Playground]
) -> None:
    playground = open_playground(masked_lm_server)
    page = playground.page
    page.reload()
    assert page.input_value("#api-key") == ""
    page.click("#api-key-details summary")
    page.fill("#api-key", API_KEY)
    page.check("#remember-key")
    page.reload()
    assert page.input_value("#api-key") == API_KEY
    assert page.evaluate("Object.keys(localStorage).length + document.cookie.length") == 0
    page.uncheck("#remember-key")
    assert page.evaluate("sessionStorage.length") == 0


# ---- NER and QA --------------------------------------------------------------------------------


def test_ner_highlights_equal_the_api_entities(
    ner_server: str, open_playground: Callable[..., Playground]
) -> None:
    # An emoji first: the server counts code points, JavaScript UTF-16 units; the page must convert.
    text = "🙂 Paris is the capital of France and London of England."
    playground = open_playground(ner_server)
    playground.run({"#ner-text": text})
    entities = hf_answer(
        ner_server, {"inputs": text, "parameters": {"aggregation_strategy": "simple"}}
    ).json()
    assert entities, "the tiny model found no entity: choose another text"
    marks = playground.page.locator("mark.entity").all()
    drawn = [
        (
            mark.get_attribute("data-entity"),
            int(mark.get_attribute("data-start") or -1),
            int(mark.get_attribute("data-end") or -1),
            float(mark.get_attribute("data-score") or "nan"),
            mark.locator(".entity-text").inner_text(),
        )
        for mark in marks
    ]
    expected = [
        (e["entity_group"], e["start"], e["end"], e["score"], text[e["start"] : e["end"]]) for e in entities
    ]
    assert drawn == sorted(expected, key=lambda entity: entity[1])
    shown_text = playground.page.locator('[data-role="entities-text"]').evaluate(
        "p => { const copy = p.cloneNode(true);"
        " copy.querySelectorAll('.entity-tag').forEach(tag => tag.remove()); return copy.textContent; }"
    )
    assert shown_text == text
    assert playground.problems == []


def test_qa_highlights_the_answer_in_the_context(
    qa_server: str, open_playground: Callable[..., Playground]
) -> None:
    question = "Where is the king?"
    context = "🙂 The old king walked to the river in the morning and sat by the water with his dog."
    playground = open_playground(qa_server)
    playground.run({"#qa-question": question, "#qa-context": context})
    answer = hf_answer(qa_server, {"inputs": {"question": question, "context": context}}).json()
    assert answer["answer"], "the tiny model found no answer: choose another context"
    mark = playground.page.locator('[data-role="context"] mark')
    assert mark.inner_text() == answer["answer"] == context[answer["start"] : answer["end"]]
    assert (int(mark.get_attribute("data-start") or -1), int(mark.get_attribute("data-end") or -1)) == (
        answer["start"],
        answer["end"],
    )
    assert float(mark.get_attribute("data-score") or "nan") == answer["score"]
    assert playground.page.inner_text('[data-role="answer"]') == answer["answer"]
    assert playground.page.inner_text('[data-role="context"]') == context


def test_a_server_at_capacity_shows_the_429_and_its_retry_after(
    qa_server: str, open_playground: Callable[..., Playground]
) -> None:
    playground = open_playground(qa_server)
    port = urlsplit(qa_server).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port)) as held:
        # Headers and no body: the one body the server receives at a time is this one.
        held.sendall(
            b"POST / HTTP/1.1\r\nHost: playground\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Length: 100\r\n\r\n".encode()
        )
        wait_for_gauge(qa_server, "bert_serving_request_bodies_receiving", 1)
        playground.run({})
        refused = hf_answer(qa_server, {"inputs": {"question": "q", "context": "c"}})
    assert refused.status_code == 429
    retry_after = refused.headers["retry-after"]
    assert (
        playground.error() == f"429 Too Many Requests: {refused.json()['error']} Retry after {retry_after} s."
    )


def wait_for_gauge(base_url: str, gauge: str, count: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    line = f"{gauge} {float(count)}"
    while line not in httpx.get(f"{base_url}/metrics").text.splitlines():
        if time.monotonic() > deadline:
            raise AssertionError(f"{gauge} never reached {count}")
        time.sleep(0.01)


# ---- embeddings ----------------------------------------------------------------------------------


def test_similarity_bars_equal_the_library_cosines(open_playground: Callable[..., Playground]) -> None:
    from sentence_transformers import SentenceTransformer, util

    from tests.minilm import minilm_folder

    query = "Where is the Eiffel Tower?"
    texts = ["The Eiffel Tower stands in Paris.", "Bananas are rich in potassium.", "Paris is in France."]
    library = SentenceTransformer(str(minilm_folder()), device="cpu")
    expected = util.cos_sim(library.encode([query]), library.encode(texts))[0].tolist()
    with live_server(model_id=str(minilm_folder()), api_key=API_KEY) as base_url:
        playground = open_playground(base_url)
        with playground.page.expect_request(lambda request: request.method == "POST") as sent:
            playground.run({"#similarity-query": query, "#similarity-texts": "\n".join([*texts, "  "])})
        assert sent.value.post_data_json == {"inputs": {"source_sentence": query, "sentences": texts}}
        bars = playground.bars()
    assert [label for label, _ in bars] == [texts[i] for i in sorted(range(3), key=lambda i: -expected[i])]
    assert [score for _, score in bars] == pytest.approx(sorted(expected, reverse=True), abs=1e-5)
    assert not playground.problems


# ---- several models ----------------------------------------------------------------------------


def test_a_server_of_several_models_offers_each_and_posts_to_the_chosen_one(
    masked_lm_dir: Path, tiny_task_dir: Callable[[str], Path], open_playground: Callable[..., Playground]
) -> None:
    classifier = tiny_task_dir("text-classification")
    models = [f"words={masked_lm_dir}", f"topics={classifier}"]
    with live_server(models=models, default_model="topics", api_key=API_KEY) as base_url:
        playground = open_playground(base_url)
        page = playground.page
        assert page.is_visible("#model-choice")
        assert page.eval_on_selector_all("#model option", "options => options.map(o => o.value)") == [
            "words",
            "topics",
        ]
        assert page.input_value("#model") == "topics"  # the default model first
        assert page.is_visible("fieldset[data-task='text-classification']")
        page.select_option("#model", "words")
        assert page.is_visible("fieldset[data-task='fill-mask']")
        with page.expect_request(lambda request: request.method == "POST") as sent:
            playground.run({"#fill-mask-text": "Paris is the [MASK] of France.", "#fill-mask-top-k": "3"})
        assert sent.value.url == f"{base_url}/models/words"
        answer = httpx.post(
            sent.value.url, json=sent.value.post_data_json, headers={"Authorization": f"Bearer {API_KEY}"}
        ).json()
        assert playground.bars() == [(row["token_str"], row["score"]) for row in answer]
        assert f"{base_url}/models/words" in page.text_content("#curl")
    assert not playground.problems
