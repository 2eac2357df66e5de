"""env.example documents every setting, so a deployment never has to read the code to configure."""
import re
from dataclasses import fields
from pathlib import Path

from config.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / "env.example"


def test_env_example_names_every_setting():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    settings = {f.name.upper() for f in fields(Settings) if f.name != "extra"}
    assert settings - documented == set(), "add these to env.example"
