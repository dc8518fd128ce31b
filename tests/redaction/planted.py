"""A planted set of fake secrets in realistic context, for tests and bench/redaction.py.

Every secret is generated from a seeded RNG in its provider's real format (prefix, length,
alphabet, checks such as a JWT's JSON parts), so none is a real credential and none is
committed to the repository as a literal. Each case is the text an agent would see (an env
dump, a curl command, a JSON config, a connection string, a PEM block, a tool result), the
secret(s) planted in it, and the kinds the marker may name.
"""

from __future__ import annotations

import base64
import json
import random
import string
import textwrap
from dataclasses import dataclass

__all__ = ("CASES", "KINDS_PLANTED", "Case", "cases")

UP = string.ascii_uppercase
LOW = string.ascii_lowercase
DIG = string.digits
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


@dataclass(frozen=True)
class Case:
    name: str
    kinds: frozenset[str]
    text: str
    secrets: tuple[str, ...]


def cases(seed: int = 1505) -> list[Case]:
    rng = random.Random(seed)

    def c(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def b64(n_bytes: int) -> str:
        return base64.b64encode(bytes(rng.randrange(256) for _ in range(n_bytes))).decode()

    def jwt() -> str:
        def part(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = part({"alg": "HS256", "typ": "JWT"})
        payload = part({"sub": str(rng.randrange(10**9)), "iat": 1736950000, "role": "admin"})
        return f"{header}.{payload}.{c(URLSAFE, 43)}"

    def pem(label: str, n_bytes: int, newline: str = "\n") -> str:
        body = b64(n_bytes)
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return newline.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])

    out: list[Case] = []

    def add(name: str, kinds: str, template: str, *secrets: str) -> None:
        out.append(Case(name, frozenset(kinds.split()), template.format(*secrets), secrets))

    aws_id, aws_secret = "AKIA" + c(UP + DIG, 16), c(ALNUM + "/+", 40)
    add(
        "env dump: AWS",
        "aws-access-key aws-secret-key secret",
        "$ env | grep AWS\nAWS_ACCESS_KEY_ID={0}\nAWS_SECRET_ACCESS_KEY={1}\nAWS_REGION=eu-west-1\n",
        aws_id,
        aws_secret,
    )
    add(
        "boto3 call",
        "aws-access-key aws-secret-key",
        's3 = boto3.client("s3", aws_access_key_id="{0}",\n    aws_secret_access_key="{1}")',
        "ASIA" + c(UP + DIG, 16),
        c(ALNUM + "/+", 40),
    )
    add(
        "anthropic env",
        "anthropic-api-key",
        "export ANTHROPIC_API_KEY={0}\nclaude --model claude-sonnet-4",
        "sk-ant-api03-" + c(URLSAFE, 93) + "AA",
    )
    add(
        "anthropic curl",
        "anthropic-api-key auth-header",
        'curl https://api.anthropic.com/v1/messages -H "x-api-key: {0}" '
        '-H "anthropic-version: 2023-06-01" -d @body.json',
        "sk-ant-api03-" + c(URLSAFE, 93) + "AA",
    )
    add(
        "openai project key in .env",
        "openai-api-key",
        'OPENAI_API_KEY="{0}"\nOPENAI_ORG=org-' + c(ALNUM, 24) + "\n",
        "sk-proj-" + c(URLSAFE, 74) + "T3BlbkFJ" + c(URLSAFE, 74),
    )
    add(
        "openai legacy key in code",
        "openai-api-key",
        'client = OpenAI(api_key="{0}")',
        "sk-" + c(ALNUM, 20) + "T3BlbkFJ" + c(ALNUM, 20),
    )
    add(
        "openai service account key",
        "openai-api-key",
        "Using key {0} for the batch job",
        "sk-svcacct-" + c(URLSAFE, 120),
    )
    add(
        "hugging face login",
        "huggingface-token",
        "$ huggingface-cli login --token {0}\nToken is valid (permission: write).",
        "hf_" + c(string.ascii_letters, 34),
    )
    add(
        "github classic token in a clone URL",
        "github-token basic-auth",
        "git clone https://{0}@github.com/acme/private-repo.git",
        "ghp_" + c(ALNUM, 36),
    )
    add(
        "github fine-grained token",
        "github-token",
        "gh auth login --with-token <<< {0}",
        "github_pat_" + c(ALNUM, 22) + "_" + c(ALNUM, 59),
    )
    add(
        "gitlab token header",
        "gitlab-token auth-header",
        'curl --header "PRIVATE-TOKEN: {0}" "https://gitlab.com/api/v4/projects?owned=true"',
        "glpat-" + c(URLSAFE, 20),
    )
    add(
        ".npmrc",
        "npm-token",
        "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={0}\n",
        "npm_" + c(ALNUM, 36),
    )
    add(
        ".pypirc",
        "pypi-token password",
        "[pypi]\n  username = __token__\n  password = {0}\n",
        "pypi-AgEIcHlwaS5vcmc" + c(URLSAFE, 130),
    )
    add(
        "slack bot token",
        "slack-token",
        "SLACK_BOT_TOKEN={0}\nSLACK_CHANNEL=#deploys",
        f"xoxb-{c(DIG, 11)}-{c(DIG, 13)}-{c(ALNUM, 24)}",
    )
    add(
        "slack webhook",
        "slack-webhook",
        "curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deployed\"}}' {0}",
        f"https://hooks.slack.com/services/T{c(UP + DIG, 8)}/B{c(UP + DIG, 10)}/{c(ALNUM, 24)}",
    )
    add(
        "stripe live key",
        "stripe-key",
        "stripe.api_key = '{0}'\ncharge = stripe.Charge.create(amount=2000, currency='eur')",
        "sk_live_" + c(ALNUM, 99),
    )
    add(
        "stripe webhook secret",
        "stripe-key",
        "STRIPE_WEBHOOK_SECRET={0}",
        "whsec_" + c(ALNUM, 32),
    )
    add(
        "google maps key in a URL",
        "google-api-key",
        "GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={0} 200 OK",
        "AIza" + c(URLSAFE, 35),
    )
    add(
        "google oauth client_secret.json",
        "google-oauth-secret secret",
        json.dumps(
            {
                "installed": {
                    "client_id": f"{c(DIG, 12)}-{c(LOW + DIG, 32)}.apps.googleusercontent.com",
                    "client_secret": "{0}",
                    "redirect_uris": ["http://localhost"],
                }
            },
            indent=2,
        )
        .replace("{", "{{")
        .replace("}", "}}")
        .replace("{{0}}", "{0}"),
        "GOCSPX-" + c(URLSAFE, 28),
    )
    add(
        "RSA private key file",
        "private-key",
        "$ cat ~/.ssh/deploy_key\n{0}\n",
        pem("RSA PRIVATE KEY", 600),
    )
    add(
        "OpenSSH private key",
        "private-key",
        "Here is the key the CI uses:\n\n{0}\n",
        pem("OPENSSH PRIVATE KEY", 400),
    )
    add(
        "service account JSON (escaped newlines)",
        "private-key secret",
        '{{"type": "service_account", "project_id": "acme-prod", "private_key_id": "{1}", '
        '"private_key": "{0}\\n", "client_email": "ci@acme-prod.iam.gserviceaccount.com"}}',
        pem("PRIVATE KEY", 900, "\\n"),
        c(HEX, 40),
    )
    add(
        "EC private key",
        "private-key",
        "{0}",
        pem("EC PRIVATE KEY", 120),
    )
    add(
        "JWT bearer in curl",
        "jwt auth-header",
        'curl -H "Authorization: Bearer {0}" https://api.internal/v1/orders',
        jwt(),
    )
    add(
        "JWT in a browser storage dump",
        "jwt",
        'localStorage.getItem("id_token")\n> "{0}"',
        jwt(),
    )
    add(
        "opaque bearer token",
        "auth-header",
        "GET /v2/invoices HTTP/1.1\nHost: billing.acme.io\nAuthorization: Bearer {0}\nAccept: */*",
        c(ALNUM, 40),
    )
    add(
        "basic auth header",
        "auth-header",
        "Authorization: Basic {0}",
        base64.b64encode(f"deploy:{c(ALNUM, 16)}".encode()).decode(),
    )
    add(
        "postgres URL",
        "basic-auth",
        "DATABASE_URL=postgres://app_user:{0}@db.prod.internal:5432/orders",
        c(ALNUM, 20),
    )
    add(
        "mongodb URL",
        "basic-auth",
        'mongoose.connect("mongodb+srv://admin:{0}@cluster0.x1y2z.mongodb.net/shop?retryWrites=true")',
        c(ALNUM, 16),
    )
    add(
        "redis URL without user",
        "basic-auth",
        "REDIS_URL=redis://:{0}@cache.internal:6379/0",
        c(ALNUM, 24),
    )
    add(
        "DB password in env",
        "password",
        "POSTGRES_USER=shop\nPOSTGRES_PASSWORD={0}\nPOSTGRES_DB=shop",
        c(ALNUM, 12) + "!",
    )
    add(
        "password in a JSON config",
        "password",
        '{{\n  "db": {{"host": "10.0.3.7", "user": "report", "password": "{0}"}}\n}}',
        c(ALNUM, 10) + "#" + c(DIG, 2),
    )
    add(
        "ADO.NET connection string",
        "password",
        "Server=tcp:sql-prod.acme.net,1433;Database=shop;User ID=shop;Password={0};Encrypt=True;",
        c(ALNUM, 14) + "$9",
    )
    add(
        "django SECRET_KEY",
        "secret high-entropy-string",
        "# settings.py\nSECRET_KEY = '{0}'\nDEBUG = False",
        "django-insecure-" + c(LOW + DIG + "!@#%^&*(-_=+)", 50),
    )
    add(
        "JWT signing secret in env",
        "secret",
        "JWT_SECRET={0}\nJWT_TTL=3600",
        c(ALNUM, 48),
    )
    add(
        "azure storage connection string",
        "azure-storage-key",
        "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={0};EndpointSuffix=core.windows.net",
        b64(64),
    )
    add(
        "sendgrid key",
        "sendgrid-key",
        "SENDGRID_API_KEY={0}",
        f"SG.{c(URLSAFE, 22)}.{c(URLSAFE, 43)}",
    )
    add(
        "mailchimp key",
        "mailchimp-key secret",
        "MAILCHIMP_API_KEY={0}",
        c(HEX, 32) + "-us21",
    )
    add(
        "twilio credentials",
        "twilio-key secret",
        'from twilio.rest import Client\naccount_sid = "{0}"\nauth_token = "{1}"\n'
        "client = Client(account_sid, auth_token)",
        "AC" + c(HEX, 32),
        c(HEX, 32),
    )
    add(
        "telegram bot URL",
        "telegram-bot-token",
        "requests.get('https://api.telegram.org/bot{0}/getUpdates')",
        f"{c(DIG, 10)}:{c(URLSAFE, 35)}",
    )
    add(
        "discord bot token",
        "discord-token",
        "# discord bot\nclient.run('{0}')",
        f"M{c(ALNUM, 25)}.{c(URLSAFE, 6)}.{c(URLSAFE, 27)}",
    )
    add(
        "digitalocean token",
        "digitalocean-token",
        "doctl auth init --access-token {0}",
        "dop_v1_" + c(HEX, 64),
    )
    add(
        "databricks token",
        "databricks-token",
        "[DEFAULT]\nhost = https://adb-123.azuredatabricks.net\ntoken = {0}",
        "dapi" + c(HEX, 32),
    )
    add(
        "docker hub token",
        "docker-hub-token",
        "echo {0} | docker login -u acme --password-stdin",
        "dckr_pat_" + c(URLSAFE, 27),
    )
    add(
        "groq key",
        "groq-api-key",
        "GROQ_API_KEY={0}",
        "gsk_" + c(ALNUM, 52),
    )
    add(
        "replicate token",
        "replicate-token",
        "export REPLICATE_API_TOKEN={0}",
        "r8_" + c(ALNUM, 37),
    )
    add(
        "shopify token header",
        "shopify-token auth-header secret",
        '{{"X-Shopify-Access-Token": "{0}", "Content-Type": "application/json"}}',
        "shpat_" + c(HEX, 32),
    )
    add(
        "hashicorp vault token",
        "vault-token",
        "VAULT_ADDR=https://vault.acme.io:8200\nVAULT_TOKEN={0}",
        "hvs." + c(URLSAFE, 90),
    )
    add(
        "square oauth secret",
        "square-oauth-secret",
        "SQUARE_APPLICATION_SECRET: {0}",
        "sq0csp-" + c(URLSAFE, 43),
    )
    add(
        "age key file",
        "age-secret-key",
        "# created: 2025-01-15T14:30:22Z\n# public key: age1" + c(LOW + DIG, 58) + "\n{0}",
        "AGE-SECRET-KEY-1" + c(UP + DIG, 58),
    )
    add(
        "random signing salt in code",
        "high-entropy-string",
        'const config = {{ cookieSigningSalt: "{0}", maxAge: 86400 }};',
        b64(33),
    )
    tool_env = textwrap.dedent(
        """\
        {{"stdout": "HOME=/home/dev\\nPATH=/usr/local/bin:/usr/bin\\nOPENAI_API_KEY={0}\\nSTRIPE_SECRET_KEY={1}\\nLANG=C.UTF-8\\n", "exit_code": 0}}"""
    )
    add(
        "tool result: env output as JSON",
        "openai-api-key stripe-key secret",
        tool_env,
        "sk-proj-" + c(URLSAFE, 74) + "T3BlbkFJ" + c(URLSAFE, 74),
        "sk_test_" + c(ALNUM, 99),
    )
    return out


CASES: list[Case] = cases()
KINDS_PLANTED: frozenset[str] = frozenset(k for case in CASES for k in case.kinds)
