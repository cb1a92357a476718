"""The web console in a real browser: Debian's Chromium driven through its chromedriver
(Selenium), with a fake microphone that plays a spoken question from a WAV file.

A user signs in, creates an agent (an invalid field first: marked, nothing typed lost),
calls it from the browser through the test livekit-server and worker, sees the greeting and
the answer to the spoken question in the live transcript with the turn's latency, ends the
call, and finds the transcript and the recording on the conversation's page. A refused
microphone says so. A user of another company sees none of it. Screenshots of each page are
left in `.cache/logs/tests/console/` (the README's come from there).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from simulator.audio import CALLER_RATE, write_wav
from simulator.speech import render_speech
from simulator.stack import ROOT, Stack
from tests.integration.conftest import Tenant, admin

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "chromium and chromium-driver are not installed (make setup installs them)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "a long enough passphrase"
GREETING = "Hello, this is the front desk of the Blue Harbor hotel."
QUESTION = "What time is breakfast served?"
SHOTS = ROOT / ".cache" / "logs" / "tests" / "console"
NARROW = 360
LEAD_SECONDS = 9.0
"""Silence before the question: the call starts, the agent joins and greets meanwhile."""


def chromium(fake_audio: Path | None, *, microphone: bool = True, phone: bool = False) -> WebDriver:
    """Headless Chromium; `phone`: a 360 px wide screen (a desktop window is at least 500)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    if phone:
        metrics = {"width": NARROW, "height": 740, "pixelRatio": 1}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream",
    ):
        options.add_argument(arg)
    if fake_audio is not None:
        options.add_argument(f"--use-file-for-fake-audio-capture={fake_audio}%noloop")
    if microphone:
        options.add_argument("--use-fake-ui-for-media-stream")  # the prompt answered "allow"
    else:
        options.add_experimental_option(
            "prefs", {"profile.default_content_setting_values.media_stream_mic": 2}
        )
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.fixture
def question_wav(tmp_path: Path) -> Path:
    speech = render_speech(QUESTION, rate=CALLER_RATE)
    lead = np.zeros(int(LEAD_SECONDS * CALLER_RATE), np.int16)
    tail = np.zeros(int(3.0 * CALLER_RATE), np.int16)
    path = tmp_path / "question.wav"
    write_wav(path, np.concatenate([lead, speech, tail]), CALLER_RATE)
    return path


@pytest.fixture
def browser(question_wav: Path) -> Iterator[WebDriver]:
    driver = chromium(question_wav)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, seconds, poll_frequency=0.1)


def sign_in(driver: WebDriver, base: str, email: str) -> None:
    driver.get(f"{base}/console")
    wait(driver).until(ec.title_contains("Sign in"))
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver).until(ec.title_contains("Agents"))


def fill(driver: WebDriver, field_id: str, text: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(text)


def transcript_lines(driver: WebDriver, role: str) -> list[str]:
    return [
        li.find_element(By.CSS_SELECTOR, ".text").text
        for li in driver.find_elements(By.CSS_SELECTOR, f"#transcript li[data-role={role}]")
        if li.get_attribute("data-final") == "true"
    ]


def new_user(store_url: str, tenant: Tenant) -> str:
    email = f"console-{uuid.uuid4().hex[:8]}@example.com"
    admin(store_url, "create-user", tenant.company_id, email, stdin=PASSWORD + "\n")
    return email


async def test_build_an_agent_call_it_from_the_browser_and_review_the_call(
    idle_stack: Stack,
    calls_api: str,
    calls_tenant: Tenant,
    store_url: str,
    browser: WebDriver,
) -> None:
    driver = browser
    sign_in(driver, calls_api, new_user(store_url, calls_tenant))
    shot(driver, "agents-empty")

    # A new agent, saved first with an invalid field.
    driver.find_element(By.LINK_TEXT, "New agent").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "f-name")))
    fill(driver, "f-name", "Blue Harbor front desk")
    fill(driver, "f-first-message", GREETING)
    fill(driver, "f-system-prompt", "You are the front desk of a hotel. Breakfast is 7 to 10.")
    fill(driver, "f-temperature", "1.5")  # above the contract's 1.0
    driver.find_element(By.ID, "f-active").click()
    driver.find_element(By.CSS_SELECTOR, "form.agent button[type=submit]").click()
    summary = wait(driver).until(ec.visibility_of_element_located((By.ID, "error-summary")))
    assert "Temperature" in summary.text
    temperature = driver.find_element(By.ID, "f-temperature")
    assert temperature.get_attribute("aria-invalid") == "true"
    assert temperature.get_attribute("value") == "1.5"
    assert "less than or equal to 1" in summary.text
    assert driver.find_element(By.ID, "f-name").get_attribute("value") == "Blue Harbor front desk"
    assert driver.find_element(By.ID, "f-active").is_selected()
    assert driver.switch_to.active_element == summary  # the errors are read out first
    shot(driver, "agent-invalid-field")
    fill(driver, "f-temperature", "0.3")
    driver.find_element(By.CSS_SELECTOR, "form.agent button[type=submit]").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "created"))
    agent_url = driver.current_url.split("?")[0]
    driver.find_element(By.ID, "play-sample").click()  # the voice, as it would greet
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "sample-status"), "Playing"))

    # Talk to it.
    driver.find_element(By.LINK_TEXT, "Talk to it").click()
    wait(driver).until(ec.element_to_be_clickable((By.ID, "start-call"))).click()
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "call-status"), "Connected"))
    try:
        wait(driver, 60).until(lambda d: transcript_lines(d, "agent"))
        wait(driver, 60).until(lambda d: transcript_lines(d, "caller"))
        asked = len(driver.find_elements(By.CSS_SELECTOR, "#transcript li"))
        wait(driver, 60).until(
            lambda d: (
                len(transcript_lines(d, "agent")) >= 2
                and d.find_elements(By.CSS_SELECTOR, "#turns tbody tr")
            )
        )
    except TimeoutException:
        shot(driver, "talk-timeout")
        raise
    greeting, answer = transcript_lines(driver, "agent")[:2]
    assert "front desk" in greeting.lower()
    assert answer.strip(), "the agent answered nothing"
    caller_said = " ".join(transcript_lines(driver, "caller")).lower()
    assert "breakfast" in caller_said, caller_said
    assert asked >= 2
    v2v = driver.find_element(By.CSS_SELECTOR, "#turns tbody tr td.v2v").text
    assert v2v.endswith(" ms") and 0 < int(v2v.split()[0]) < 10000, v2v
    # The agent's own figures for the turn arrive once its reply has been played.
    wait(driver, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#turns tbody tr td.e2e").text.endswith("ms")
    )
    shot(driver, "talk")
    driver.find_element(By.ID, "end-call").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "call-status"), "ended"))

    # The call's record: transcript and recording (kept once the worker has finished it).
    conversation_url = driver.find_element(By.CSS_SELECTOR, "#conversation-link a").get_attribute(
        "href"
    )
    assert conversation_url

    def recorded(d: WebDriver) -> bool:
        d.get(conversation_url)
        return bool(d.find_elements(By.ID, "recording"))

    wait(driver, 60).until(recorded)
    page_text = driver.find_element(By.ID, "conversation-transcript").text.lower()
    assert "front desk" in page_text and "breakfast" in page_text
    audio_src = driver.find_element(By.ID, "recording").get_attribute("src")
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    async with httpx.AsyncClient(cookies=cookies) as client:
        resp = await client.get(audio_src)  # type: ignore[arg-type]
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/ogg"
    assert len(resp.content) > 10_000
    shot(driver, "conversation")
    driver.get(f"{agent_url}/analytics")
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "svg.chart")))
    shot(driver, "analytics")

    # A user of another company sees none of it.
    other = admin(store_url, "create-company", f"Other Co {uuid.uuid4().hex[:4]}")
    outsider = chromium(None, phone=True)  # and the pages fit a narrow screen
    try:
        sign_in(outsider, calls_api, new_user(store_url, Tenant(other["company_id"], "", "")))
        assert "Blue Harbor" not in outsider.page_source
        outsider.get(conversation_url)
        assert "Not found" in outsider.title
        outsider.get(agent_url)
        assert "Not found" in outsider.title
        outsider.get(f"{calls_api}/console/conversations")
        width = outsider.execute_script("return document.documentElement.scrollWidth")
        assert width <= NARROW, f"the page is {width} px wide on a {NARROW} px screen"
        shot(outsider, "narrow")
    finally:
        outsider.quit()


async def test_a_refused_microphone_is_said_clearly(
    calls_api: str, calls_tenant: Tenant, store_url: str
) -> None:
    driver = chromium(None, microphone=False)
    try:
        sign_in(driver, calls_api, new_user(store_url, calls_tenant))
        async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as api:
            created = await api.post("/voice-agents", json={"name": "Mic check", "active": True})
        driver.get(f"{calls_api}/console/agents/{created.json()['id']}/talk")
        wait(driver).until(ec.element_to_be_clickable((By.ID, "start-call"))).click()
        status = wait(driver).until(
            ec.text_to_be_present_in_element((By.ID, "call-status"), "microphone was refused")
        )
        assert status
        assert driver.find_element(By.ID, "start-call").is_enabled()  # try again later
        shot(driver, "microphone-refused")
    finally:
        driver.quit()
