"""The chat on the channel page, in Debian's Chromium, against the site as production
serves it (asgi_site: echo.asgi on uvicorn behind nginx from deploy/, /ws/ proxied, the
session's real Redis). Several browser contexts are several people."""

import pytest
from django.conf import settings
from django.test import Client

from streams.chat import services
from streams.chat.models import ChatMessage, ChatModerator, ChatRestriction
from tests.browser import off_the_browser_loop, serious_findings

pytestmark = pytest.mark.browser

CONNECTED = "() => document.getElementById('chat').dataset.chatState === 'connected'"
TEXTS = "() => [...document.querySelectorAll('.chat-line .chat-text')].map(e => e.textContent)"


@pytest.fixture
def people(chromium):
    """New browser contexts (own cookies), closed after the test."""
    contexts = []

    def person(site, user=None, *, viewport=None):
        context = chromium.new_context(viewport=viewport or {"width": 1400, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": site.url}]
            )
        return context

    yield person
    for context in contexts:
        context.close()


def open_chat(context, site, path: str = "/alice"):
    page = context.new_page()
    page.goto(site.url + path)
    page.wait_for_function(CONNECTED)
    return page


def say(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    # The box empties when the server acknowledges the message.
    page.wait_for_function("() => document.getElementById('chat-input').value === ''")


def shows(page, text: str, timeout: int = 10_000) -> None:
    page.wait_for_function(f"text => ({TEXTS})().includes(text)", arg=text, timeout=timeout)


def line_of(page, text: str):
    return page.locator(".chat-line", has=page.locator(".chat-text", has_text=text))


def test_history_loads_on_join_and_a_message_reaches_every_reader_live(
    asgi_site, people, room, talker
):
    for n in range(60):
        ChatMessage.objects.create(channel=room, author=talker, body=f"earlier {n}")
    reader = open_chat(people(asgi_site), asgi_site)
    writer = open_chat(people(asgi_site, talker), asgi_site)

    history = reader.evaluate(TEXTS)
    assert history == [f"earlier {n}" for n in range(10, 60)]
    assert reader.locator("#chat-input").count() == 0
    assert reader.get_by_role("link", name="Log in to chat").get_attribute("href") == (
        "/accounts/login/?next=/alice"
    )

    say(writer, "hello everyone")
    shows(reader, "hello everyone")
    shows(writer, "hello everyone")
    assert ChatMessage.objects.filter(body="hello everyone", author=talker).count() == 1


def test_user_text_is_text_links_are_nofollow_and_mentions_of_the_reader_stand_out(
    asgi_site, people, room, talker, other_talker
):
    charlie = open_chat(people(asgi_site, other_talker), asgi_site)
    bob = open_chat(people(asgi_site, talker), asgi_site)
    body = (
        '<img src=x onerror="window.pwned=1"> see https://example.org/a?b=1. '
        "or javascript:alert(1) @charlie"
    )
    say(bob, body)
    shows(charlie, body)

    line = line_of(charlie, "@charlie")
    assert line.locator("img").count() == 0
    assert charlie.evaluate("() => window.pwned") is None
    link = line.locator("a")
    assert link.count() == 1
    assert link.get_attribute("href") == "https://example.org/a?b=1"
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    assert link.get_attribute("target") == "_blank"
    assert "chat-line-mention" in line.get_attribute("class")
    assert line.locator(".chat-mention-me").inner_text() == "@charlie"
    # The author is not mentioned: the same line is plain for bob.
    assert "chat-line-mention" not in line_of(bob, "@charlie").get_attribute("class")


def test_the_streamer_deletes_a_message_and_it_disappears_for_everyone(
    asgi_site, people, room, alice, talker
):
    streamer = open_chat(people(asgi_site, alice), asgi_site)
    reader = open_chat(people(asgi_site), asgi_site)
    bob = open_chat(people(asgi_site, talker), asgi_site)
    say(bob, "buy cheap followers")
    say(bob, "sorry")
    shows(streamer, "sorry")
    shows(reader, "sorry")

    line_of(streamer, "buy cheap followers").locator(".chat-author").click()
    streamer.get_by_role("button", name="Delete message").click()
    for page in (streamer, reader, bob):
        page.wait_for_function(f"() => !({TEXTS})().includes('buy cheap followers')")
        assert "sorry" in page.evaluate(TEXTS)
    assert ChatMessage.objects.get(body="buy cheap followers").deleted_by == alice


def test_a_timed_out_viewer_sees_why_and_until_when_and_can_write_once_lifted(
    asgi_site, people, room, alice, talker
):
    streamer = open_chat(people(asgi_site, alice), asgi_site)
    bob_context = people(asgi_site, talker)
    bob = open_chat(bob_context, asgi_site)
    say(bob, "spam spam spam")
    shows(streamer, "spam spam spam")

    line_of(streamer, "spam spam spam").locator(".chat-author").click()
    streamer.get_by_label("Reason (shown to them)").fill("no spam, please")
    streamer.get_by_role("button", name="10 min").click()
    streamer.get_by_text("bob is timed out for 10 min.").wait_for()

    notice = bob.locator("[data-chat-notice]")
    notice.get_by_text("Reason: no spam, please").wait_for()
    assert "You are timed out until" in notice.inner_text()
    assert "min from now" in notice.inner_text()
    assert bob.locator("#chat-input").is_disabled()
    # A timeout hides the user's recent messages for everyone.
    streamer.wait_for_function(f"() => !({TEXTS})().includes('spam spam spam')")
    restriction = ChatRestriction.objects.get(user=talker)
    assert restriction.kind == "timeout" and restriction.reason == "no spam, please"

    # Coming back later, the page says the same from the start.
    again = open_chat(bob_context, asgi_site)
    assert "Reason: no spam, please" in again.locator("[data-chat-notice]").inner_text()
    assert again.locator("#chat-input").is_disabled()

    with off_the_browser_loop():
        services.restriction_lift(channel=room, user=talker, by=alice)
    again.wait_for_function("() => !document.getElementById('chat-input').disabled")
    say(again, "I'll behave")
    shows(streamer, "I'll behave")


def test_a_moderator_appointed_on_the_dashboard_can_ban(
    asgi_site, people, room, alice, talker, other_talker
):
    streamer = people(asgi_site, alice).new_page()
    streamer.goto(asgi_site.url + "/dashboard/")
    streamer.get_by_label("Appoint a moderator").fill("charlie")
    streamer.get_by_role("button", name="Appoint").click()
    streamer.get_by_text("charlie now moderates your chat.").wait_for()
    assert ChatModerator.objects.filter(channel=room, user=other_talker).exists()

    moderator = open_chat(people(asgi_site, other_talker), asgi_site)
    bob = open_chat(people(asgi_site, talker), asgi_site)
    say(bob, "rude words")
    shows(moderator, "rude words")
    line_of(moderator, "rude words").locator(".chat-author").click()
    moderator.get_by_role("button", name="Ban from chat").click()
    moderator.get_by_text("bob is banned from this chat.").wait_for()
    bob.locator("[data-chat-notice]").get_by_text("You are banned from this chat.").wait_for()

    streamer.goto(asgi_site.url + "/dashboard/")
    assert "banned" in streamer.locator(".dashboard-chat").inner_text()
    streamer.get_by_role("button", name="Lift for bob").click()
    streamer.get_by_text("bob may chat again.").wait_for()
    bob.wait_for_function("() => !document.getElementById('chat-input').disabled")


def test_slow_mode_switched_by_the_streamer_applies_to_viewers_at_once(
    asgi_site, people, room, alice, talker
):
    streamer = open_chat(people(asgi_site, alice), asgi_site)
    bob = open_chat(people(asgi_site, talker), asgi_site)
    streamer.get_by_role("button", name="Chat settings").click()
    streamer.get_by_label("Slow mode").select_option("30")
    bob.get_by_text("Slow mode: one message every 30 s").wait_for()

    say(bob, "first")
    bob.fill("#chat-input", "second")
    bob.press("#chat-input", "Enter")
    bob.locator("[data-chat-notice]").get_by_text("Slow mode: one message every 30 s.").wait_for()
    # Nothing typed is lost: the refused message is still in the box.
    assert bob.input_value("#chat-input") == "second"


def test_sending_too_fast_says_when_to_retry_and_keeps_the_text(asgi_site, people, room, talker):
    bob = open_chat(people(asgi_site, talker), asgi_site)
    for n in range(3):
        say(bob, f"message {n}")
    bob.fill("#chat-input", "one too many")
    bob.press("#chat-input", "Enter")
    notice = bob.locator("[data-chat-notice]")
    notice.get_by_text("You are sending too fast.").wait_for()
    assert "You can send again in 10 s." in notice.inner_text()
    assert bob.input_value("#chat-input") == "one too many"
    assert bob.locator("[data-chat-send]").is_disabled()


def test_auto_scroll_pauses_while_the_reader_scrolls_up(asgi_site, people, room, talker):
    for n in range(50):
        ChatMessage.objects.create(channel=room, author=talker, body=f"line {n} " + "x" * 80)
    reader = open_chat(people(asgi_site, viewport={"width": 1400, "height": 700}), asgi_site)
    at_bottom = "() => { const l = document.querySelector('.chat-log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2 }"
    reader.wait_for_function(at_bottom)
    reader.evaluate("() => { document.querySelector('.chat-log').scrollTop = 0 }")

    with off_the_browser_loop():
        services.message_send(channel=room, user=talker, body="while you read")
    shows(reader, "while you read")
    more = reader.get_by_role("button", name="More messages below")
    more.wait_for()
    assert reader.evaluate("() => document.querySelector('.chat-log').scrollTop") == 0

    more.click()
    reader.wait_for_function(at_bottom)
    assert more.is_hidden()


def test_chat_says_reconnecting_without_redis_and_fills_the_gap_when_it_returns(
    asgi_site, people, room, talker, redis_server
):
    reader = open_chat(people(asgi_site), asgi_site)
    redis_server.stop()
    # The room's hub misses its Redis ping and closes the connection (4503).
    reader.wait_for_function(
        "() => document.querySelector('[data-chat-status]').textContent === 'Reconnecting…'",
        timeout=20_000,
    )
    with off_the_browser_loop():
        services.message_send(channel=room, user=talker, body="said while Redis was away")
    redis_server.start()
    reader.wait_for_function(CONNECTED, timeout=40_000)
    shows(reader, "said while Redis was away")


def test_chat_is_beside_the_player_on_wide_screens_under_it_on_phones_and_collapsible(
    asgi_site, people, alice
):
    def boxes(page):
        return page.locator("#player").bounding_box(), page.locator("#chat").bounding_box()

    wide = open_chat(people(asgi_site), asgi_site)
    player, chat = boxes(wide)
    assert chat["x"] >= player["x"] + player["width"]
    assert chat["height"] > 300

    phone = open_chat(people(asgi_site, viewport={"width": 390, "height": 800}), asgi_site)
    player, chat = boxes(phone)
    assert chat["y"] >= player["y"] + player["height"]
    assert chat["width"] > 300

    wide.get_by_role("button", name="Hide chat").click()
    assert wide.locator("#chat").is_hidden()
    assert wide.locator("#player").bounding_box()["width"] > player["width"]
    wide.reload()
    wide.get_by_role("button", name="Show chat").wait_for()
    assert wide.locator("#chat").is_hidden()
    wide.get_by_role("button", name="Show chat").click()
    assert wide.locator("#chat").is_visible()


def test_the_chat_websocket_goes_through_nginx_on_the_page(asgi_site, people, alice):
    page = people(asgi_site).new_page()
    with page.expect_websocket() as opened:
        page.goto(asgi_site.url + "/alice")
    assert opened.value.url == asgi_site.ws_url("/ws/chat/alice/")
    page.wait_for_function(CONNECTED)


def test_a_busy_chat_with_the_moderator_tools_open_has_no_serious_accessibility_findings(
    asgi_site, people, room, alice, talker, other_talker
):
    ChatModerator.objects.create(channel=room, user=other_talker)
    for n in range(8):
        author = talker if n % 2 else other_talker
        body = f"message {n} for @alice, see https://example.org/{n}"
        ChatMessage.objects.create(channel=room, author=author, body=body)
    page = open_chat(people(asgi_site, alice), asgi_site)
    page.get_by_role("button", name="Chat settings").click()
    line_of(page, "message 7").locator(".chat-author").click()

    findings = serious_findings(page)
    assert not findings, "axe on the chat:\n" + "\n".join(findings)


def test_a_user_without_a_confirmed_address_reads_and_is_told_how_to_write(
    asgi_site, people, room, talker, charlie
):
    ChatMessage.objects.create(channel=room, author=talker, body="can you read this?")
    page = open_chat(people(asgi_site, charlie), asgi_site)

    shows(page, "can you read this?")
    notice = page.locator("[data-chat-notice]")
    assert "Confirm your e-mail address to chat." in notice.inner_text()
    assert notice.get_by_role("link").get_attribute("href") == "/accounts/email/"
    assert page.locator("#chat-input").is_disabled()
