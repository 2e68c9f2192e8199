"""API tokens: /api/auth/token/ for a password, /api/me/token/ to see, replace, revoke."""

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from tests.api.clients import verified, with_session, with_token


def test_a_token_is_issued_for_the_right_password_and_works(anonymous, alice):
    verified(alice)

    response = anonymous.post(
        "/api/auth/token/", {"username": "alice", "password": "password"}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=alice).key == token
    # Asking again gives the same token.
    again = anonymous.post("/api/auth/token/", {"username": "alice", "password": "password"})
    assert again.json() == {"token": token}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/me/channel/").json()["name"] == "alice"


def test_a_stale_token_header_does_not_stop_getting_a_new_token(alice):
    verified(alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.post("/api/auth/token/", {"username": "alice", "password": "password"})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=alice).key}


def test_no_token_for_a_wrong_password(anonymous, alice):
    verified(alice)

    response = anonymous.post(
        "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.filter(user=alice).exists()


def test_no_token_without_username_and_password(anonymous, alice):
    response = anonymous.post("/api/auth/token/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_no_token_before_the_email_address_is_confirmed(anonymous, bob):
    response = anonymous.post("/api/auth/token/", {"username": "bob", "password": "password"})

    assert response.status_code == 400
    assert "Confirm your e-mail address" in response.json()["non_field_errors"][0]
    assert "bob@example.org" not in response.content.decode()
    assert not Token.objects.filter(user=bob).exists()


def test_no_token_for_a_deactivated_user(anonymous, charlie):
    verified(charlie)
    User.objects.filter(pk=charlie.pk).update(is_active=False)

    response = anonymous.post("/api/auth/token/", {"username": "charlie", "password": "password"})

    assert response.status_code == 400
    assert not Token.objects.filter(user=charlie).exists()


def test_a_deactivated_users_token_stops_working(charlie):
    client = with_token(charlie)
    User.objects.filter(pk=charlie.pk).update(is_active=False)

    response = client.get("/api/me/channel/")

    assert response.status_code == 401


def test_repeated_wrong_passwords_lock_the_username_out(anonymous, alice):
    verified(alice)
    for _ in range(5):
        response = anonymous.post("/api/auth/token/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 400

    response = anonymous.post("/api/auth/token/", {"username": "alice", "password": "password"})

    assert response.status_code == 429
    assert response.json() == {"detail": "Too many failed login attempts. Try again later."}
    assert not Token.objects.filter(user=alice).exists()


def test_my_token_can_be_seen_replaced_and_revoked(alice):
    client = with_session(alice)
    assert client.get("/api/me/token/").status_code == 404

    created = client.post("/api/me/token/")
    shown = client.get("/api/me/token/")
    replaced = client.post("/api/me/token/")

    assert created.status_code == 201
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    assert shown.json() == created.json()
    assert replaced.status_code == 201
    assert replaced.json()["token"] != created.json()["token"]
    assert Token.objects.get(user=alice).key == replaced.json()["token"]

    revoked = client.delete("/api/me/token/")

    assert revoked.status_code == 204
    assert not Token.objects.filter(user=alice).exists()


def test_a_revoked_token_stops_working(alice):
    client = with_token(alice)
    assert client.delete("/api/me/token/").status_code == 204

    response = client.get("/api/me/channel/")

    assert response.status_code == 401


def test_my_token_requires_authentication(anonymous, alice):
    assert anonymous.get("/api/me/token/").status_code == 401
    assert anonymous.post("/api/me/token/").status_code == 401
    assert anonymous.delete("/api/me/token/").status_code == 401
