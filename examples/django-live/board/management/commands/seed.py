from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo users alice and bob (password: the username + '-password')."

    def handle(self, *args, **options):
        User = get_user_model()
        for name in ("alice", "bob"):
            if not User.objects.filter(username=name).exists():
                User.objects.create_user(name, password=f"{name}-password")
        self.stdout.write("users: alice, bob")
