"""The CTCAE v5.0 catalogue: size, look-up, grade validation and the corrected organ classes."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from domain.ctcae import CtcaeCatalogue, CtcaeTerm
from domain.errors import InvalidInput


@pytest.fixture(scope="module")
def catalogue() -> CtcaeCatalogue:
    return CtcaeCatalogue.load()


def test_catalogue_has_all_837_terms(catalogue: CtcaeCatalogue) -> None:
    assert len(catalogue) == 837
    assert len(list(catalogue)) == 837
    assert all(isinstance(term, CtcaeTerm) for term in catalogue)


def test_load_is_cached() -> None:
    assert CtcaeCatalogue.load() is CtcaeCatalogue.load()


@pytest.mark.parametrize(
    "query",
    ["cpk increased", "CPK INCREASED", "  CPK increased\t", "10011268", " 10011268 "],
)
def test_lookup_by_any_case_term_or_meddra_code(catalogue: CtcaeCatalogue, query: str) -> None:
    assert catalogue.lookup(query) == CtcaeTerm(
        term="CPK increased", meddra_code="10011268", soc="Investigations", grades=(1, 2, 3, 4)
    )


@pytest.mark.parametrize(
    ("term", "code", "soc", "grades"),
    [
        ("Conjunctivitis", "10010741", "Eye disorders", (1, 2, 3, 4)),
        ("Keratitis", "10023332", "Eye disorders", (1, 2, 3, 4)),
        ("Blurred vision", "10005886", "Eye disorders", (1, 2, 3, 4)),
        ("Rash acneiform", "10037847", "Skin and subcutaneous tissue disorders", (1, 2, 3, 4, 5)),
        ("CPK increased", "10011268", "Investigations", (1, 2, 3, 4)),
        ("Alanine aminotransferase increased", "10001551", "Investigations", (1, 2, 3, 4)),
        ("Aspartate aminotransferase increased", "10003481", "Investigations", (1, 2, 3, 4)),
        ("Blood bilirubin increased", "10005364", "Investigations", (1, 2, 3, 4)),
        ("Neutrophil count decreased", "10029366", "Investigations", (1, 2, 3, 4)),
        ("Platelet count decreased", "10035528", "Investigations", (1, 2, 3, 4)),
        ("Febrile neutropenia", "10016288", "Blood and lymphatic system disorders", (3, 4, 5)),
        ("Nausea", "10028813", "Gastrointestinal disorders", (1, 2, 3)),
        ("Vomiting", "10047700", "Gastrointestinal disorders", (1, 2, 3, 4, 5)),
        ("Diarrhea", "10012727", "Gastrointestinal disorders", (1, 2, 3, 4, 5)),
        ("Conjunctivitis infective", "10010742", "Infections and infestations", (2, 3, 4)),
    ],
)
def test_terms_the_product_relies_on(
    catalogue: CtcaeCatalogue, term: str, code: str, soc: str, grades: tuple[int, ...]
) -> None:
    assert catalogue.lookup(term) == CtcaeTerm(term, code, soc, grades)
    assert catalogue.lookup(code).term == term


def test_conjunctivitis_correction_is_recorded() -> None:
    text = resources.files("domain").joinpath("data/ctcae_v5_terms.json").read_text("utf-8")
    corrections = json.loads(text)["_corrections"]
    assert [(c["term"], c["was"], c["now"]) for c in corrections] == [
        ("Conjunctivitis", "Infections and infestations", "Eye disorders")
    ]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Anemia", True),
        ("Febrile neutropenia", True),
        ("Disseminated intravascular coagulation", True),
        ("Neutrophil count decreased", True),
        ("Platelet count decreased", True),
        ("White blood cell decreased", True),
        ("Lymphocyte count decreased", True),
        ("CPK increased", False),
        ("Alanine aminotransferase increased", False),
        ("Rash acneiform", False),
        ("Conjunctivitis", False),
        ("Lymphocyte count increased", False),
    ],
)
def test_is_haematological(catalogue: CtcaeCatalogue, term: str, expected: bool) -> None:
    assert catalogue.lookup(term).is_haematological is expected


@pytest.mark.parametrize(
    ("term", "grade"),
    [("CPK increased", 4), ("Nausea", 3), ("nausea", 1), ("Febrile neutropenia", 5)],
)
def test_validate_grade_accepts_defined_grades(
    catalogue: CtcaeCatalogue, term: str, grade: int
) -> None:
    assert catalogue.validate_grade(term, grade) == catalogue.lookup(term)


@pytest.mark.parametrize(
    ("term", "grade", "message"),
    [
        (
            "CPK increased",
            5,
            "CPK increased has no grade 5 in CTCAE v5.0; allowed grades: 1, 2, 3, 4",
        ),
        ("Nausea", 4, "Nausea has no grade 4 in CTCAE v5.0; allowed grades: 1, 2, 3"),
        ("10028813", 0, "Nausea has no grade 0 in CTCAE v5.0; allowed grades: 1, 2, 3"),
        (
            "Febrile neutropenia",
            2,
            "Febrile neutropenia has no grade 2 in CTCAE v5.0; allowed grades: 3, 4, 5",
        ),
    ],
)
def test_validate_grade_refuses_undefined_grades(
    catalogue: CtcaeCatalogue, term: str, grade: int, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        catalogue.validate_grade(term, grade)
    assert refused.value.message == message
    assert refused.value.field == "grade"


@pytest.mark.parametrize("grade", [True, 2.0, "2"])
def test_validate_grade_refuses_non_integer_grades(
    catalogue: CtcaeCatalogue, grade: object
) -> None:
    with pytest.raises(InvalidInput) as refused:
        catalogue.validate_grade("Nausea", grade)  # type: ignore[arg-type]
    assert refused.value.field == "grade"


def test_unknown_term_is_refused_with_suggestions(catalogue: CtcaeCatalogue) -> None:
    with pytest.raises(InvalidInput) as refused:
        catalogue.validate_grade("Conjuntivitis", 2)
    assert refused.value.field == "term"
    assert "'Conjuntivitis' is not a CTCAE v5.0 term" in refused.value.message
    assert "did you mean 'Conjunctivitis'" in refused.value.message


@pytest.mark.parametrize("query", ["Xyzzy plugh", "", "99999999"])
def test_unknown_term_without_close_matches(catalogue: CtcaeCatalogue, query: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        catalogue.lookup(query)
    assert "did you mean" not in refused.value.message
    assert refused.value.field == "term"


def test_catalogue_refuses_duplicate_terms() -> None:
    term = CtcaeTerm("Nausea", "10028813", "Gastrointestinal disorders", (1, 2, 3))
    with pytest.raises(ValueError, match="duplicate"):
        CtcaeCatalogue([term, CtcaeTerm("NAUSEA", "1", "x", (1,))])
