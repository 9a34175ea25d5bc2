"""Turn off two-factor sign-in for someone who lost both their phone and their recovery codes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviewapp.accounts.services import two_factor_remove
from reviewapp.core.audit import Actor


class Command(BaseCommand):
    help = "Remove a person's authenticator and recovery codes (audited, by the operator)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        two_factor_remove(user=user, actor=Actor.system("manage.py two_factor_reset"))
        self.stdout.write(f"Two-factor sign-in is off for {username}.")
