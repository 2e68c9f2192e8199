from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from streams import services


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_every_user_a_channel(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        services.channel_create(user=instance)
