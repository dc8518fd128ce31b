"""Rules backed by Yelp's detect-secrets plugins: each runs a plugin's own `denylist`
pattern (and its checks: JWT validity, entropy), by position instead of by value.

detect-secrets' ad-hoc API (`scan_line` under `transient_settings`) returns the values it
found, not where they are, goes through global settings, and takes about 5 ms for a 1 KB
line here; a redactor needs positions in well under a millisecond. So the plugin classes
are used directly: their compiled patterns, imported on the first text that holds one of
the rule's trigger strings (detect-secrets and `requests`, which it imports, cost ~0.13 s
to import; text without a trigger never pays it).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from .rules import CONTEXT, SPECIFIC, Rule, regex_finder

__all__ = ("PLUGIN_RULES",)


def _pattern(module: str, cls: str, index: int) -> Callable[[], re.Pattern[str]]:
    def load() -> re.Pattern[str]:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls)
        pattern: re.Pattern[str] = list(plugin.denylist)[index]
        return pattern

    return load


def _jwt_valid(token: str) -> bool:
    from detect_secrets.plugins.jwt import JwtTokenDetector

    return bool(JwtTokenDetector.is_formally_valid(token)) and token.count(".") >= 2


def _mixed(token: str) -> bool:
    """Letters and digits both (cuts words and numbers out of loose patterns)."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _rule(
    kind: str,
    module: str,
    cls: str,
    index: int,
    triggers: tuple[str, ...],
    *,
    requires: tuple[str, ...] = (),
    check: Callable[[str], bool] | None = None,
    priority: int = SPECIFIC,
    extend: bool = True,
    in_tokens: bool = True,
) -> Rule:
    finder = regex_finder(_pattern(module, cls, index), check=check)
    return Rule(kind, triggers, finder, priority, extend, requires, in_tokens)


_GITLAB = (
    "glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-", "glimt-", "glptt-",
    "glagent-", "gloas-",
)  # fmt: skip

PLUGIN_RULES: tuple[Rule, ...] = (
    _rule("aws-access-key", "aws", "AWSKeyDetector", 0, ("akia", "asia", "abia", "acca", "a3t")),
    _rule(
        "aws-secret-key", "aws", "AWSKeyDetector", 1, ("aws",), priority=CONTEXT, in_tokens=False
    ),
    _rule("azure-storage-key", "azure_storage_key", "AzureStorageKeyDetector", 0, ("accountkey=",)),
    _rule(
        "basic-auth", "basic_auth", "BasicAuthDetector", 0, ("://",), requires=("@",), extend=False
    ),
    _rule(
        "discord-token",
        "discord",
        "DiscordBotTokenDetector",
        0,
        ("discord",),
        check=_mixed,
        in_tokens=False,
    ),
    _rule(
        "github-token",
        "github_token",
        "GitHubTokenDetector",
        0,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    *(_rule("gitlab-token", "gitlab_token", "GitLabTokenDetector", i, _GITLAB) for i in range(7)),
    _rule("jwt", "jwt", "JwtTokenDetector", 0, ("eyj",), check=_jwt_valid),
    _rule("mailchimp-key", "mailchimp", "MailchimpDetector", 0, ("-us",)),
    _rule("npm-token", "npm", "NpmDetector", 0, ("_authtoken",)),
    _rule("openai-api-key", "openai", "OpenAIDetector", 0, ("t3blbkfj",)),
    _rule("pypi-token", "pypi_token", "PypiTokenDetector", 0, ("pypi-ageichlwas5vcmc",)),
    _rule("pypi-token", "pypi_token", "PypiTokenDetector", 1, ("pypi-agendgvzdc5wexbplm9yzw",)),
    _rule("sendgrid-key", "sendgrid", "SendGridDetector", 0, ("sg.",)),
    _rule("slack-token", "slack", "SlackDetector", 0, ("xox",)),
    _rule("slack-webhook", "slack", "SlackDetector", 1, ("hooks.slack.com",), extend=False),
    _rule("square-oauth-secret", "square_oauth", "SquareOAuthDetector", 0, ("sq0csp-",)),
    _rule("stripe-key", "stripe", "StripeDetector", 0, ("k_live_",)),
    _rule(
        "telegram-bot-token",
        "telegram_token",
        "TelegramBotTokenDetector",
        0,
        ("bot", "telegram"),
        requires=(":",),
        check=_mixed,
    ),
    _rule(
        "twilio-key", "twilio", "TwilioKeyDetector", 0, ("twilio",), check=_mixed, in_tokens=False
    ),
    _rule(
        "twilio-key", "twilio", "TwilioKeyDetector", 1, ("twilio",), check=_mixed, in_tokens=False
    ),
)
