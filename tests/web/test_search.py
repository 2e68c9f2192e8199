"""Search by name and title, browsing by category, and the paths reserved for them."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.validators import validate_username_not_reserved
from streams.models import Channel


def set_channel(user: User, **fields) -> None:
    Channel.objects.filter(user=user).update(**fields)


# --- search ----------------------------------------------------------------------


def test_search_finds_a_channel_by_username_display_name_or_title(client, alice, bob, charlie):
    User.objects.filter(pk=alice.pk).update(display_name="Alice Parser")
    set_channel(bob, title="Parsing JSON by hand")

    by_username = client.get("/search/", {"q": "charl"}).content.decode()
    by_display_name = client.get("/search/", {"q": "PARSER"}).content.decode()
    by_title = client.get("/search/", {"q": "json"}).content.decode()

    assert 'href="/charlie"' in by_username and 'href="/alice"' not in by_username
    assert 'href="/alice"' in by_display_name and 'href="/bob"' not in by_display_name
    assert 'href="/bob"' in by_title and 'href="/charlie"' not in by_title


def test_search_lists_live_channels_first(client, alice, bob, go_live):
    set_channel(alice, title="Parsing, part 2")
    set_channel(bob, title="Parsing, part 1")
    go_live(bob)

    response = client.get("/search/", {"q": "parsing"})

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index('href="/bob"') < page.index('href="/alice"')
    assert "2 results" in page


def test_search_says_when_nothing_matches(client, alice):
    response = client.get("/search/", {"q": "zzz"})

    assert response.status_code == 200
    assert "No channels match “zzz”" in response.content.decode()


def test_search_without_a_query_shows_only_the_form(client, alice):
    response = client.get("/search/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="search-query"' in page and 'href="/alice"' not in page


def test_search_leaves_out_deactivated_users(client, alice):
    User.objects.filter(pk=alice.pk).update(is_active=False)

    response = client.get("/search/", {"q": "alice"})

    assert 'href="/alice"' not in response.content.decode()


def test_search_escapes_the_query(client, db):
    response = client.get("/search/", {"q": "<script>alert(1)</script>"})

    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_every_page_has_the_search_box(client, alice):
    for path in ("/", "/alice", "/search/"):
        page = client.get(path).content.decode()
        assert 'role="search"' in page and 'action="/search/"' in page, path


# --- categories ---------------------------------------------------------------------


def test_a_category_page_lists_only_its_live_channels(
    client, alice, bob, charlie, games, music, go_live
):
    set_channel(alice, category=games)
    set_channel(bob, category=music)
    set_channel(charlie, category=games)  # offline
    go_live(alice)
    go_live(bob)

    response = client.get("/c/games/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/alice"' in page
    assert 'href="/bob"' not in page and 'href="/charlie"' not in page
    assert "<h1>Games</h1>" in page


def test_the_category_query_parameter_filters_the_directory_too(client, alice, bob, games, go_live):
    set_channel(alice, category=games)
    go_live(alice)
    go_live(bob)

    page = client.get("/", {"category": "games"}).content.decode()

    assert 'href="/alice"' in page and 'href="/bob"' not in page


def test_the_directory_shows_category_chips_with_live_counts(
    client, alice, bob, games, music, go_live
):
    set_channel(alice, category=games)
    set_channel(bob, category=games)
    go_live(alice)
    go_live(bob)

    page = client.get("/").content.decode()

    assert 'href="/c/games/"' in page and 'href="/c/music/"' in page
    assert '<span class="chip-count">2<span class="visually-hidden"> live</span></span>' in page


def test_an_empty_category_says_so(client, games):
    response = client.get("/c/games/")

    assert response.status_code == 200
    assert "Nobody is live in Games right now" in response.content.decode()


def test_an_unknown_category_is_404(client, db):
    for response in (client.get("/c/nope/"), client.get("/", {"category": "nope"})):
        assert response.status_code == 404
        assert b"Nothing here" in response.content


# --- reserved names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["search", "following", "c", "thumbs", "thumbnails", "unsubscribe", "viewers"]
)
def test_the_new_top_level_paths_are_reserved_usernames(name):
    with pytest.raises(ValidationError):
        validate_username_not_reserved(name)
