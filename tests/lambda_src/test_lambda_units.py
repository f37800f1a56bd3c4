"""Unit behaviour of the preprocessing modules: configuration, decoding, registry, write-once puts."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from esm_harness import FakeLambdaContext, body_of, eventbridge_s3_object_created, sqs_lambda_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_support import LANDING_BUCKET, lambda_environment
from preprocessing.config import ConfigurationError, Settings
from preprocessing.events import SourceObject
from preprocessing.feature_sets import UnknownFeatureSetError, available_feature_sets, get_feature_set
from preprocessing.lineage import Lineage
from preprocessing.pipeline import transform
from preprocessing.readers import InputFormat, UnreadableObjectError, detect_format, read_rows
from preprocessing.storage import put_if_absent

LINEAGE = Lineage("b", "raw/transactions/x.csv", "v1", "e", "transactions", "1", "code")
HEADER = ",".join(get_feature_set("transactions").row_model.model_fields)


def test_settings_error_names_every_missing_variable() -> None:
    # GIVEN an environment without two required variables
    env = lambda_environment()
    del env["LANDING_BUCKET"], env["CODE_VERSION"]
    # WHEN validated, THEN the error names both
    with pytest.raises(ConfigurationError, match="LANDING_BUCKET, CODE_VERSION"):
        Settings.from_environ(env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FEATURE_PREFIX", "other/", "FEATURE_PREFIX"),
        ("QUARANTINE_PREFIX", "_quarantine/", "QUARANTINE_PREFIX"),
        ("MANIFEST_PREFIX", "transactions/_manifests", "MANIFEST_PREFIX"),
    ],
)
def test_settings_reject_prefixes_the_role_cannot_write(name: str, value: str, message: str) -> None:
    # GIVEN a prefix outside <feature-set>/ or without its trailing slash
    env = lambda_environment() | {name: value}
    # WHEN validated, THEN the offending variable is named
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_environ(env)


def test_gzip_is_detected_by_magic_bytes_and_json_lines_by_content() -> None:
    # GIVEN a gzip JSON Lines object whose key has no suffix at all
    payload = gzip.compress(b'{"a": 1}\n\n{"a": 2}\n', mtime=0)
    # WHEN decoded, THEN both rows come back with their line numbers (blank line skipped)
    assert detect_format("raw/transactions/upload-0001", payload) == (InputFormat.JSONL, True)
    fmt, rows = read_rows("raw/transactions/upload-0001", payload)
    assert fmt is InputFormat.JSONL
    assert [(r.row_number, r.line, r.data) for r in rows] == [(1, 1, {"a": 1}), (2, 3, {"a": 2})]


def test_csv_with_bom_quoted_commas_and_multiline_field_keeps_physical_line_numbers() -> None:
    # GIVEN a CSV with a UTF-8 BOM, a quoted comma and a quoted newline
    text = '\ufeffid,note\n1,"a, b"\n2,"line1\nline2"\n3,plain\n'
    _, rows = read_rows("x.csv", text.encode())
    # THEN the header is clean and each record knows the line it starts on
    assert [(r.row_number, r.line, r.data) for r in rows] == [
        (1, 2, {"id": "1", "note": "a, b"}),
        (2, 3, {"id": "2", "note": "line1\nline2"}),
        (3, 5, {"id": "3", "note": "plain"}),
    ]


def test_corrupt_gzip_makes_the_whole_object_unreadable() -> None:
    with pytest.raises(UnreadableObjectError, match="gzip"):
        read_rows("raw/x.csv.gz", b"\x1f\x8b\x08\x00garbage")


def test_registry_loads_feature_sets_by_name_and_lists_the_available_ones() -> None:
    assert get_feature_set("transactions").entity_key == "account_id"
    assert "transactions" in available_feature_sets()
    with pytest.raises(UnknownFeatureSetError, match=r"available: .*transactions"):
        get_feature_set("no_such_set")
    with pytest.raises(UnknownFeatureSetError, match="invalid"):
        get_feature_set("../etc")


def test_url_encoded_keys_are_also_tried_decoded() -> None:
    source = SourceObject("b", "raw/transactions/my+file%281%29.csv", None, "e", 1, None)
    assert source.key_candidates() == (
        "raw/transactions/my+file%281%29.csv",
        "raw/transactions/my file(1).csv",
    )


class _FakeS3:
    """Records puts; raises what it is told to on conditional puts."""

    def __init__(self, conditional_error: Exception | None) -> None:
        self.conditional_error = conditional_error
        self.puts: list[dict[str, Any]] = []

    def head_object(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "404"}}, "HeadObject")

    def put_object(self, **kwargs: Any) -> None:
        if "IfNoneMatch" in kwargs and self.conditional_error is not None:
            raise self.conditional_error
        self.puts.append(kwargs)


def test_put_if_absent_falls_back_when_botocore_lacks_if_none_match() -> None:
    # GIVEN an old botocore that rejects the IfNoneMatch parameter
    client = _FakeS3(ParamValidationError(report="Unknown parameter in input: IfNoneMatch"))
    # WHEN writing, THEN the object is written once without the condition (the head check guarded it)
    assert put_if_absent(client, "b", "k", b"x", content_type="t", metadata={}) is True  # type: ignore[arg-type]
    assert len(client.puts) == 1 and "IfNoneMatch" not in client.puts[0]


def test_put_if_absent_treats_412_as_already_written_and_raises_on_409() -> None:
    lost_race = _FakeS3(ClientError({"Error": {"Code": "PreconditionFailed"}}, "PutObject"))
    assert put_if_absent(lost_race, "b", "k", b"x", content_type="t", metadata={}) is False  # type: ignore[arg-type]
    in_flight = _FakeS3(ClientError({"Error": {"Code": "ConditionalRequestConflict"}}, "PutObject"))
    with pytest.raises(ClientError):
        put_if_absent(in_flight, "b", "k", b"x", content_type="t", metadata={})  # type: ignore[arg-type]


def test_unreadable_object_is_reported_for_retry(handler_module: Any, s3: Any) -> None:
    # GIVEN a landing object named .jsonl.gz that is not gzip-decodable
    put = s3.put_object(Bucket=LANDING_BUCKET, Key="raw/transactions/broken.jsonl.gz", Body=b"\x1f\x8bnot gzip")
    event = eventbridge_s3_object_created(
        LANDING_BUCKET,
        "raw/transactions/broken.jsonl.gz",
        version_id=put["VersionId"],
        etag=put["ETag"],
        size=10,
    )
    # WHEN handled, THEN the message is returned as a batch item failure
    response = handler_module.lambda_handler(
        {"Records": [sqs_lambda_record(body_of(event), message_id="m-broken")]}, FakeLambdaContext()
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-broken"}]}


_cell = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
_good_row = st.fixed_dictionaries(
    {
        "transaction_id": st.from_regex(r"t[0-9]{1,6}", fullmatch=True),
        "account_id": st.sampled_from(["a1", "a2", "a3"]),
        "amount": st.floats(min_value=0.01, max_value=10_000).map(lambda v: f"{v:.2f}"),
        "currency": st.sampled_from(["EUR", "usd", "GBP"]),
        "merchant_category": st.sampled_from(["5411", "7995"]),
        "merchant_country": st.sampled_from(["DE", "fr"]),
        "card_country": st.sampled_from(["DE", "US"]),
        "channel": st.sampled_from(["pos", "ECOM", "atm"]),
        "timestamp": st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)).map(
            lambda d: d.replace(tzinfo=UTC).isoformat()
        ),
    }
)
_any_row = st.one_of(_good_row, st.lists(_cell, min_size=0, max_size=11))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_any_row, max_size=25))
def test_every_input_row_is_either_written_or_quarantined(rows: list[Any]) -> None:
    # GIVEN any mix of valid rows, garbage rows and duplicates, as CSV
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    buf.write(HEADER + "\n")
    for row in rows:
        writer.writerow(list(row.values()) if isinstance(row, dict) else row)
    payload = buf.getvalue().encode()
    # WHEN transformed
    result = transform("x.csv", payload, get_feature_set("transactions"), LINEAGE, datetime(2024, 1, 1, tzinfo=UTC))
    # THEN no row is lost or duplicated
    _, decoded = read_rows("x.csv", payload)
    assert result.rows_input == len(decoded)
    assert result.rows_valid + len(result.quarantined) == len(decoded)
    assert len({q["row_number"] for q in result.quarantined}) == len(result.quarantined)
