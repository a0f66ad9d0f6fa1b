import pytest
from memory_switch import Switch


@pytest.fixture
def switch():
    return Switch({"alice": "secret", "bob": "builder"})
