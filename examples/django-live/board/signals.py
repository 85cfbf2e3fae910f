"""Saving a model publishes it, once the transaction commits."""
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import realtime
from .models import Notification, Task


@receiver(post_save, sender=Task)
def task_saved(sender, instance, created, **kwargs):
    if created:
        transaction.on_commit(lambda: realtime.publish(
            "app.board.tasks", {"id": instance.id, "title": instance.title, "by": instance.created_by.username}))


@receiver(post_save, sender=Notification)
def notification_saved(sender, instance, created, **kwargs):
    if created:
        # Per-user topic: the router lets only this user subscribe to it.
        transaction.on_commit(lambda: realtime.publish(
            f"app.user.{instance.user.username}.notifications", {"text": instance.text}))
