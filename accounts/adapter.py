from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username, shallow=False):
        # Channel names are lowercase; accept "Alice" as "alice" rather than refuse it.
        return super().clean_username(username.strip().lower(), shallow=shallow)
