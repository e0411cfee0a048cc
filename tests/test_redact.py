from agent.redact import Redactor

CASES = {
    'curl -H "Authorization: Bearer abcdefghijklmnop1234"': "Bearer [REDACTED:bearer_token]",
    "postgres://app:hunter2@db:5432/x": "postgres://[REDACTED:url_password]@db",
    "key AKIAIOSFODNN7EXAMPLE used": "[REDACTED:aws_access_key]",
    "OPENAI_KEY sk-proj-abcdefghijklmnopqrstuv": "[REDACTED:api_key]",
    "slack xoxb-123456789012-abcdefabcdef": "[REDACTED:api_key]",
    "password=s3cret! user=x": "password=[REDACTED:key_value_secret] user=x",
    '{"api_key": "zzz123456"}': '"api_key": "[REDACTED:key_value_secret]"',
    "card 4111 1111 1111 1111 ok": "card [REDACTED:card_number] ok",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U": "[REDACTED:jwt]",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----": "[REDACTED:private_key]",
}


def test_secrets_are_redacted_and_counted():
    r = Redactor()
    for text, want in CASES.items():
        assert want in r(text), text
    assert r.counts["key_value_secret"] == 2 and r.counts["card_number"] == 1


def test_ordinary_telemetry_is_left_alone():
    r = Redactor()
    for text in ("GET /items/123 200 12ms", "order 1234567890123 failed", "auth failed for user bob",
                 "connect to token:8443 timed out after 1000ms", "trace 4bf92f3577b34da6a3ce929d0e0e4736"):
        assert r(text) == text
    assert not r.counts


def test_emails_only_when_asked():
    assert Redactor()("mail oncall@example.com") == "mail oncall@example.com"
    assert Redactor(emails=True)("mail oncall@example.com") == "mail [REDACTED:email]"
