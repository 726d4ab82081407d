import re

import pytest
from pydantic import ValidationError

from cxml.serving.schemas import MAX_BATCH, BatchChurnRequest, ChurnRequest, ChurnResponse

pytestmark = pytest.mark.unit


def _locs(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str | int, ...]]:
    return [tuple(e["loc"]) for e in exc.value.errors()]


def test_customer_id_alone_is_valid_with_three_reasons_by_default():
    req = ChurnRequest.model_validate_json('{"customer_id": "C001"}')
    assert (req.customer_id, req.features, req.top_k) == ("C001", None, 3)


def test_feature_values_keep_their_json_types():
    req = ChurnRequest.model_validate_json('{"features": {"a": 1, "b": 1.5, "c": "gold", "d": true, "e": null}}')
    assert req.features == {"a": 1, "b": 1.5, "c": "gold", "d": True, "e": None}
    assert [type(v) for v in req.features.values()] == [int, float, str, bool, type(None)]


@pytest.mark.parametrize("body", ['{"customer_id": "C001", "features": {"a": 1}}', "{}", '{"top_k": 2}'])
def test_exactly_one_of_customer_id_and_features(body):
    with pytest.raises(ValidationError) as exc:
        ChurnRequest.model_validate_json(body)
    message = str(exc.value)
    assert "customer_id" in message and "features" in message


def test_unknown_field_is_rejected_by_name():
    with pytest.raises(ValidationError) as exc:
        ChurnRequest.model_validate_json('{"customer_id": "C001", "customerid": "C001"}')
    assert _locs(exc) == [("customerid",)]
    assert exc.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("top_k", ["-1", "11", "2.5", "true", '"3"'])
def test_top_k_is_an_integer_between_0_and_10(top_k):
    with pytest.raises(ValidationError) as exc:
        ChurnRequest.model_validate_json(f'{{"customer_id": "C001", "top_k": {top_k}}}')
    assert _locs(exc) == [("top_k",)]


@pytest.mark.parametrize("top_k", [0, 10])
def test_top_k_bounds_are_inclusive(top_k):
    assert ChurnRequest(customer_id="C001", top_k=top_k).top_k == top_k


@pytest.mark.parametrize("customer_id", ["42", '""', "null"])
def test_customer_id_must_be_a_non_empty_string(customer_id):
    with pytest.raises(ValidationError) as exc:
        ChurnRequest.model_validate_json(f'{{"customer_id": {customer_id}, "features": null}}')
    assert ("customer_id",) in _locs(exc) or "customer_id" in str(exc.value)


def test_a_nested_feature_value_is_rejected_naming_the_feature():
    with pytest.raises(ValidationError) as exc:
        ChurnRequest.model_validate_json('{"features": {"a": 1, "b": {"x": 1}}}')
    assert {loc[:2] for loc in _locs(exc)} == {("features", "b")}


def test_batch_names_the_bad_item():
    with pytest.raises(ValidationError) as exc:
        BatchChurnRequest.model_validate({"items": [{"customer_id": "C1"}, {"customer_id": "C2", "top_k": 50}]})
    assert _locs(exc) == [("items", 1, "top_k")]


@pytest.mark.parametrize("n", [0, MAX_BATCH + 1])
def test_batch_size_is_bounded(n):
    with pytest.raises(ValidationError) as exc:
        BatchChurnRequest.model_validate({"items": [{"customer_id": f"C{i}"} for i in range(n)]})
    assert _locs(exc) == [("items",)]


def test_batch_of_the_maximum_size_is_valid():
    assert len(BatchChurnRequest.model_validate({"items": [{"customer_id": "C"}] * MAX_BATCH}).items) == MAX_BATCH


@pytest.mark.parametrize("p", [-0.01, 1.01])
def test_response_probability_is_a_probability(p):
    with pytest.raises(ValidationError):
        ChurnResponse(customer_id="C1", probability=p, model_name="cxml.churn", model_version="1")


def test_openapi_schema_documents_fields_and_examples():
    schema = ChurnRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    for name in ("customer_id", "features", "top_k"):
        assert schema["properties"][name]["description"]
    assert schema["properties"]["customer_id"]["examples"] == ["C0000001"]
    assert "examples" not in schema  # BentoML's OpenAPI Schema accepts only the singular `example` at model level


def test_batch_table_form_is_valid_with_reasons_for_every_row():
    req = BatchChurnRequest.model_validate({"columns": ["a", "b"], "rows": [[1, None], [2.5, "x"]], "top_k": 2})
    assert req.items is None and req.rows == [[1, None], [2.5, "x"]] and req.top_k == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"columns": ["a", "b"], "rows": [[1, 2], [3]]}, "rows [1] do not have 2 values"),
        ({"columns": ["a"]}, "both 'columns' and 'rows'"),
        ({"items": [{"customer_id": "C1"}], "columns": ["a"], "rows": [[1]]}, "both given"),
        ({"items": [{"customer_id": "C1"}], "top_k": 2}, "per item"),
        ({}, "either 'items' or 'columns' and 'rows'"),
    ],
)
def test_batch_forms_are_exclusive_and_rows_match_the_columns(body, words):
    with pytest.raises(ValidationError, match=re.escape(words)):
        BatchChurnRequest.model_validate(body)


def _public_models():
    import inspect

    from pydantic import BaseModel

    from cxml.serving import schemas

    return [
        cls
        for name, cls in inspect.getmembers(schemas, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == schemas.__name__ and not name.startswith("_")
    ]


@pytest.mark.parametrize("model", _public_models(), ids=lambda m: m.__name__)
def test_every_field_is_described_with_an_example_that_is_a_valid_body(model):
    schema = model.model_json_schema()
    example = schema.get("example")
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{model.__name__}.{name} has no description"
        has_example = "examples" in prop or (example is not None and name in example)
        assert has_example or "default" in prop, f"{model.__name__}.{name} has no example"
    if example is not None:
        assert model.model_validate(example) is not None  # the documented example is a valid body
    for name, prop in schema["properties"].items():
        if any(branch.get("type") == "null" for branch in prop.get("anyOf", ())):
            assert prop.get("nullable") is True, f"{model.__name__}.{name} is optional but not nullable"
