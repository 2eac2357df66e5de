"""Text a user chose, in the mail the service sends: quoted, plain, inert, never the subject."""
import pytest

from tests.fakes.identity import Identity
from use_cases.identity.auth import ClientInfo
from use_cases.identity.mail_text import quoted

PHISHING = "Security team\r\nSubject: Reset now\nYour account is locked: go to https://evil.example"


@pytest.mark.parametrize("name, expected", [
    ("Ann B.", '"Ann B."'),
    ("  Ann \t\n  B.  ", '"Ann B."'),
    ('Say "hi" \\ bye', "\"Say 'hi' \\\\ bye\""),
    ("visit evil.example/x", '"visit evil[.]example/x"'),
    ("http://evil.example", '"http[:]//evil[.]example"'),
    ("<b>bold</b>", '"(b)bold(/b)"'),
    ("a\u202eb\u200bc\x00d", '"abcd"'),
    ("x" * 100, '"' + "x" * 59 + "…\""),
])
def test_user_text_is_one_inert_quoted_line(name, expected):
    assert quoted(name) == expected


def test_mail_never_opens_with_nor_is_titled_by_the_name():
    identity = Identity()
    identity.register("ann@example.com", name=PHISHING)
    identity.passwords.request_reset("ann@example.com", ClientInfo())
    for mail in identity.mailer.sent:
        assert mail.subject in ("Confirm your e-mail address", "Reset your password")
        assert mail.body.startswith("Hello,\n\n")
        assert "evil.example" not in mail.body and "https://" not in mail.body
        assert "\nSubject:" not in mail.body and "\r" not in mail.body
        assert '"Security team Subject: Reset now Your account is locked: go…"' in mail.body
