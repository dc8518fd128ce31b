"""Token formats detect-secrets does not know: AI providers and developer tools.

Each is a prefix the provider puts on its keys (so the evidence is the format itself) and a
minimum length of token characters after it; the span is then widened over the whole
token. Sources: each provider's documentation of its key format, and gitleaks' rules.
"""

from __future__ import annotations

import re

from .rules import SPECIFIC, Rule, regex_finder

__all__ = ("PROVIDER_RULES",)

_B = r"(?<![A-Za-z0-9_\-])"  # not inside a longer token


def _rule(kind: str, pattern: str, *triggers: str, flags: int = 0) -> Rule:
    finder = regex_finder(re.compile(_B + pattern, flags))
    return Rule(kind, tuple(triggers), finder, SPECIFIC, in_tokens=True)


PROVIDER_RULES: tuple[Rule, ...] = (
    _rule("anthropic-api-key", r"sk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_\-]{20,}", "sk-ant-"),
    _rule(
        "openai-api-key",
        r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}",
        "sk-proj-",
        "sk-svcacct-",
        "sk-admin-",
        "sk-none-",
    ),
    _rule("openai-api-key", r"sk-[A-Za-z0-9]{48}(?![A-Za-z0-9_\-])", "sk-"),
    _rule("huggingface-token", r"(?:hf_|api_org_)[A-Za-z0-9]{30,}", "hf_", "api_org_"),
    _rule("github-token", r"github_pat_[A-Za-z0-9_]{40,}", "github_pat_"),
    _rule("github-token", r"gh[pousr]_[A-Za-z0-9]{30,}", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    _rule("npm-token", r"npm_[A-Za-z0-9]{36}", "npm_"),
    _rule("pypi-token", r"pypi-AgE[A-Za-z0-9_\-]{50,}", "pypi-age"),
    _rule("slack-token", r"xapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+", "xapp-"),
    _rule("slack-token", r"xox(?:e\.xox)?[abeoprs]-[A-Za-z0-9\-]{10,}", "xox"),
    _rule("stripe-key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", "k_live_", "k_test_"),
    _rule("stripe-key", r"whsec_[A-Za-z0-9]{24,}", "whsec_"),
    _rule("google-api-key", r"AIza[A-Za-z0-9_\-]{35}", "aiza"),
    _rule("google-oauth-secret", r"GOCSPX-[A-Za-z0-9_\-]{20,}", "gocspx-"),
    _rule("google-oauth-token", r"ya29\.[A-Za-z0-9_\-]{30,}", "ya29."),
    _rule("digitalocean-token", r"do[opr]_v1_[a-f0-9]{64}", "_v1_"),
    _rule(
        "shopify-token",
        r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
        "shpat_",
        "shpss_",
        "shpca_",
        "shppa_",
    ),
    _rule("databricks-token", r"dapi[a-f0-9]{32}(?:-\d)?", "dapi"),
    _rule("docker-hub-token", r"dckr_pat_[A-Za-z0-9_\-]{20,}", "dckr_pat_"),
    _rule("groq-api-key", r"gsk_[A-Za-z0-9]{40,}", "gsk_"),
    _rule("replicate-token", r"r8_[A-Za-z0-9]{30,}", "r8_"),
    _rule("xai-api-key", r"xai-[A-Za-z0-9]{60,}", "xai-"),
    _rule("perplexity-api-key", r"pplx-[A-Za-z0-9]{40,}", "pplx-"),
    _rule("linear-api-key", r"lin_api_[A-Za-z0-9]{32,}", "lin_api_"),
    _rule("supabase-token", r"sbp_[a-f0-9]{40}", "sbp_"),
    _rule("sentry-token", r"sntry[su]_[A-Za-z0-9+/=_\-]{40,}", "sntrys_", "sntryu_"),
    _rule("mailgun-key", r"key-[a-f0-9]{32}(?![A-Za-z0-9])", "key-"),
    _rule("postman-key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", "pmak-"),
    _rule("age-secret-key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", "age-secret-key-1"),
    _rule("vault-token", r"hv[sb]\.[A-Za-z0-9_\-]{24,}", "hvs.", "hvb."),
    _rule("terraform-token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,}", ".atlasv1."),
    _rule("atlassian-token", r"ATATT3[A-Za-z0-9_\-=]{100,}", "atatt3"),
    _rule("sendgrid-key", r"SG\.[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{40,}", "sg."),
    _rule("npm-token", r"(?<=_authToken=)[A-Za-z0-9_\-]{20,}", "_authtoken="),
)
