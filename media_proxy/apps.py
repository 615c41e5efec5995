from django.apps import AppConfig


class MediaProxyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "media_proxy"
