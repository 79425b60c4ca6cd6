"""Webhook components built from Settings (in the API's lifespan and the worker's main)."""

from __future__ import annotations

from app.settings import Settings
from app.webhooks.address_policy import AddressPolicy
from app.webhooks.secret_box import SecretBox, secret_box


def address_policy(settings: Settings) -> AddressPolicy:
    return AddressPolicy(settings.webhook_allow_list)


def secrets_box(settings: Settings) -> SecretBox:
    keys = settings.webhook_secret_keys
    return secret_box(keys.get_secret_value() if keys else None, settings.data_dir.resolve())
