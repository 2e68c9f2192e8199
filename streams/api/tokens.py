"""API tokens: get one for a username and password, then see, replace or revoke it."""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams.api.serializers import CredentialsSerializer, TokenSerializer


@method_decorator(never_cache, name="dispatch")
class TokenObtain(APIView):
    """Your API token for a username and password; send it as `Authorization: Token <key>`."""

    # A stale token sent along must not stop a client from getting a new one.
    authentication_classes = []

    @extend_schema(request=CredentialsSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=credentials.validated_data["user"])
        return Response(TokenSerializer(token).data)


@method_decorator(never_cache, name="dispatch")
class OwnToken(APIView):
    """Your API token: see it, replace it (POST) or revoke it (DELETE)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TokenSerializer)
    def get(self, request: Request) -> Response:
        token = Token.objects.filter(user=request.user).first()
        if token is None:
            raise exceptions.NotFound("You have no API token: POST here to create one.")
        return Response(TokenSerializer(token).data)

    @extend_schema(request=None, responses={201: TokenSerializer})
    def post(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        token = Token.objects.create(user=request.user)
        return Response(TokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
