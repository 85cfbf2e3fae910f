from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings

from .models import Task


class RouterDownTests(TestCase):
    @override_settings(SWITCHBOARD_HTTP="http://127.0.0.1:9")  # nothing listens there
    def test_save_succeeds_and_logs_when_the_router_is_down(self):
        user = get_user_model().objects.create_user("carol", password="x")
        with self.assertLogs("board.realtime", level="WARNING") as logs:
            with self.captureOnCommitCallbacks(execute=True):
                Task.objects.create(title="offline", created_by=user)
        self.assertEqual(Task.objects.filter(title="offline").count(), 1)
        self.assertIn("realtime publish to app.board.tasks failed", logs.output[0])

    def test_auth_webhook_refuses_without_a_session(self):
        r = self.client.post("/realtime/auth", data='{"transport": {"headers": {}}}', content_type="application/json")
        self.assertEqual(r.status_code, 401)

    def test_rpc_refuses_unsigned_calls(self):
        r = self.client.post("/realtime/rpc/count", data='{"caller": {"authid": "x"}}', content_type="application/json")
        self.assertEqual(r.status_code, 401)
