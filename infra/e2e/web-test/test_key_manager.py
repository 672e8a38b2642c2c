"""The key manager page (web/) driven as a person uses it, in headless Chromium
(Debian's), against the local API in front of the real functions.

infra/scripts/local-api-test.sh runs it with APIKEYS_BASE_URL set to the local API and a
fake OpenAI behind test-key that accepts GOOD_KEY only. Each step leaves a
screenshot under target/browser-test/; any console error fails the test.
"""

import json
import os
import pathlib
import uuid

import pytest
from playwright.sync_api import Page, expect, sync_playwright

BASE = os.environ.get("APIKEYS_BASE_URL", "")
CHROMIUM = os.environ.get("APIKEYS_CHROMIUM", "/usr/bin/chromium")
# The fake provider, which also answers as an Azure OpenAI resource.
PROVIDER_URL = os.environ.get("APIKEYS_PROVIDER_URL", "")
SHOTS = pathlib.Path(__file__).resolve().parents[3] / "target" / "browser-test"

GOOD_KEY = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST"
# A second key the fake OpenAI accepts (infra/scripts/local-api-test.sh passes both).
SECOND_KEY = "sk-proj-AnotherG00dKey0123456789abcdefghijQR"
BAD_KEY = "sk-proj-BadKey0123456789abcdefghijklmnopqrWXYZ"


@pytest.fixture()
def page():
    if not BASE:
        pytest.fail("APIKEYS_BASE_URL is unset: run infra/scripts/local-api-test.sh")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        yield page
        browser.close()
        assert errors == [], f"console errors: {errors}"


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def provider(page: Page, name: str):
    heading = page.get_by_role("heading", name=name, exact=True)
    return page.locator("section.provider").filter(has=heading)


def openai(page: Page):
    return provider(page, "OpenAI")


def manage(page: Page, name: str):
    """Opens one provider's forms, as a person clicks its Manage button."""
    card = provider(page, name)
    card.get_by_role("button", name=f"Manage {name}").click()
    expect(card.locator(".details")).to_be_visible()
    return card


def sign_in(page: Page) -> str:
    user = f"browser-{uuid.uuid4().hex[:12]}"
    page.goto(BASE + "/")
    page.get_by_label("Development user").fill(user)
    page.get_by_role("button", name="Sign in as development user").click()
    expect(page.locator("#who")).to_have_text(user)
    return user


def test_sign_in_test_save_edit_reload_delete(page: Page) -> None:
    user = f"browser-{uuid.uuid4().hex[:12]}"
    page.goto(BASE + "/")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    shot(page, "01-signed-out")

    # Sign in with a development token of the local issuer.
    page.get_by_label("Development user").fill(user)
    page.get_by_role("button", name="Sign in as development user").click()
    expect(page.locator("#who")).to_have_text(user)
    card = openai(page)
    expect(card.locator(".fact-key")).to_have_text("No key saved")
    shot(page, "02-signed-in")
    card = manage(page, "OpenAI")

    # A refused key: its typed status, and no way to save it.
    key = page.get_by_label("OpenAI API key", exact=True)
    expect(key).to_have_attribute("type", "password")
    key.fill(BAD_KEY)
    card.get_by_role("button", name="Test key").click()
    expect(card.locator(".test-result")).to_contain_text("invalid")
    expect(card.get_by_role("button", name="Save key")).to_be_disabled()
    shot(page, "03-bad-key-invalid")

    # A good key: valid, then saved; the field is cleared and the hint listed.
    key.fill(GOOD_KEY)
    expect(card.get_by_role("button", name="Save key")).to_be_disabled()
    card.get_by_role("button", name="Test key").click()
    expect(card.locator(".test-result")).to_contain_text("valid")
    card.get_by_role("button", name="Save key").click()
    expect(card.locator(".fact-key")).to_have_text("sk-proj-…QRST")
    expect(key).to_have_value("")
    expect(card.locator(".fact-test")).to_contain_text("valid")
    expect(card.locator(".fact-expiry")).to_have_text("Never expires")
    shot(page, "04-saved")

    # Settings: a model and free JSON; they survive a reload.
    card.get_by_label("Model").fill("gpt-4o")
    card.get_by_label("Other settings (JSON object)").fill('{"temperature": 0.2}')
    card.get_by_role("button", name="Save settings").click()
    expect(page.locator("#notice")).to_contain_text("settings saved")
    page.reload()
    card = manage(page, "OpenAI")
    expect(card.get_by_label("Model")).to_have_value("gpt-4o")
    assert json.loads(card.get_by_label("Other settings (JSON object)").input_value()) == {
        "temperature": 0.2
    }
    expect(card.locator(".fact-key")).to_have_text("sk-proj-…QRST")
    shot(page, "05-settings-after-reload")

    # No key was kept by the page.
    stored = page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
    assert GOOD_KEY not in stored and BAD_KEY not in stored

    # Readable at phone width: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Another key, tested and added with a label; then used first, and the first
    # one (now second) deleted.
    key.fill(SECOND_KEY)
    card.get_by_role("button", name="Test key").click()
    expect(card.locator(".test-result")).to_contain_text("valid")
    card.get_by_label("Label of another key").fill("backup")
    card.get_by_role("button", name="Add as another key").click()
    keys = card.locator(".key-list li")
    expect(keys).to_have_count(2)
    expect(keys.nth(0)).to_contain_text("sk-proj-…QRST")
    expect(keys.nth(0)).to_contain_text("used first")
    expect(keys.nth(1)).to_contain_text("backup")
    expect(key).to_have_value("")
    shot(page, "06-two-keys")
    card.get_by_role("button", name="Use backup first").click()
    expect(keys.nth(0)).to_contain_text("backup")
    expect(keys.nth(0)).to_contain_text("used first")
    expect(card.locator(".fact-key")).to_have_text("sk-proj-…ijQR")
    # The provider's settings stay with the configuration.
    expect(card.get_by_label("Model")).to_have_value("gpt-4o")
    card.get_by_role("button", name="Delete Key 2").click()
    expect(page.locator("#notice")).to_contain_text("Key 2 deleted")
    expect(card.locator(".keys")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "07-backup-first")

    # Delete, confirmed in the dialog.
    card.get_by_role("button", name="Delete key").click()
    expect(card.locator(".fact-key")).to_have_text("No key saved")
    expect(page.locator("#notice")).to_contain_text("key deleted")
    shot(page, "08-deleted")


def test_every_field_has_a_label_and_the_keyboard_reaches_the_buttons(page: Page) -> None:
    page.goto(BASE + "/")
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input, textarea')]
             .filter((e) => !e.closest('[hidden]') && !(e.labels && e.labels.length))
             .map((e) => e.id || e.name)"""
    )
    assert unlabeled == []
    # Tab from the top reaches the development sign-in without a mouse.
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "dev-signin":
            break
    assert page.evaluate("document.activeElement.id") == "dev-signin"
    shot(page, "09-keyboard")


# The vault's providers, as its registry names them (GET /api/providers).
PROVIDER_NAMES = [
    "OpenAI", "Anthropic", "Google AI", "OpenRouter", "xAI", "GitHub", "Mistral AI",
    "Groq", "DeepSeek", "Together AI", "Cohere", "Perplexity", "Fireworks AI",
    "Azure OpenAI", "OpenAI-compatible server",
]


def axe_violations(page: Page) -> list:
    """Runs axe-core inside the page; the serious and critical violations."""
    source = pathlib.Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
    page.evaluate(source.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_every_provider_at_a_glance_and_an_azure_key_with_its_endpoint(page: Page, width, height) -> None:
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page)
    # Every provider of the registry, one row each, without opening anything.
    headings = page.locator("section.provider h2")
    expect(headings).to_have_count(len(PROVIDER_NAMES))
    listed = headings.all_inner_texts()
    assert sorted(listed) == sorted(PROVIDER_NAMES), listed
    for name in PROVIDER_NAMES:
        expect(provider(page, name).locator(".fact-key")).to_be_visible()
    expect(page.locator("section.provider .details:visible")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if width >= 1000:
        # At a desktop width the rows are compact: all fifteen fit in about two screens.
        tallest = page.evaluate(
            "Math.max(...[...document.querySelectorAll('section.provider')].map((s) => s.getBoundingClientRect().height))"
        )
        assert tallest <= 130, f"a provider's row is {tallest}px tall"
    shot(page, f"10-every-provider-{width}")
    assert axe_violations(page) == []

    # An Azure OpenAI key with its resource endpoint: tested, saved, shown.
    card = manage(page, "Azure OpenAI")
    expect(card.get_by_label("Resource endpoint")).to_be_visible()
    expect(card.get_by_label("Base URL (with its /v1)")).to_be_hidden()
    card.get_by_label("Azure OpenAI API key").fill("0123456789abcdef0123456789abcdef")
    card.get_by_label("Resource endpoint").fill(PROVIDER_URL)
    card.get_by_label("API version").fill("2024-10-21")
    card.get_by_label("Deployment (optional)").fill("gpt-4o-mini")
    card.get_by_role("button", name="Test key").click()
    expect(card.locator(".test-result")).to_contain_text("valid")
    card.get_by_role("button", name="Save key").click()
    expect(card.locator(".fact-key")).not_to_have_text("No key saved")
    expect(card.locator(".fact-count")).to_have_text("1 of 5")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"11-azure-saved-{width}")
    assert axe_violations(page) == []
