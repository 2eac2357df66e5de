"""File names as stored and served: no paths, no control characters, bounded length."""
import pytest

from entities.file import MAX_FILENAME_LENGTH, extension_of, normalise_tags, safe_filename


@pytest.mark.parametrize(("raw", "safe"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\ana\\Desktop\\cv.docx", "cv.docx"),
    ("..", "unnamed"),
    ("", "unnamed"),
    (".bashrc.txt", "bashrc.txt"),
    ("tab\there\x00\x1b.txt", "tabhere.txt"),
    ("invoice\u202efdp.exe.txt", "invoicefdp.exe.txt"),  # a bidi override hides the real end
    ('a<b>c:d"e|f?g*h;.txt', "a_b_c_d_e_f_g_h_.txt"),
    ("  spaced   out  .md ", "spaced out .md"),
    ("CON.txt", "_CON.txt"),
    ("Relatório de ação.pdf", "Relatório de ação.pdf"),
])
def test_names_are_made_safe(raw, safe):
    assert safe_filename(raw) == safe


def test_long_names_are_capped_and_keep_their_extension():
    name = safe_filename("x" * 1000 + ".pdf")

    assert len(name) == MAX_FILENAME_LENGTH and name.endswith(".pdf")


def test_the_extension_is_the_lower_case_last_suffix():
    assert extension_of("Archive.TAR.GZ") == ".gz"
    assert extension_of("README") == ""
    assert extension_of(".txt") == ""


def test_tags_are_trimmed_and_unique_regardless_of_case():
    assert normalise_tags([" Finance ", "finance", "", "2026", "q1  plan"]) == [
        "Finance", "2026", "q1 plan"]
