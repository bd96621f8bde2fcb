from connectors.sdk import errors as connector_errors
from core import errors as core_errors
from scheduler.errors import translate


def test_connector_errors_become_core_errors_of_the_same_category() -> None:
    for source, target in [
        (
            connector_errors.ConfigError("bad path", field="path", hint="fix it"),
            core_errors.ConfigError,
        ),
        (connector_errors.TransientError("timeout"), core_errors.TransientError),
        (connector_errors.DataError("bad row"), core_errors.DataError),
    ]:
        translated = translate(source)
        assert isinstance(translated, target)
        assert translated.message == source.message
        assert translated.hint == source.hint
        assert translated.__cause__ is source


def test_bugs_stay_bugs() -> None:
    error = ZeroDivisionError("boom")
    assert translate(error) is error
