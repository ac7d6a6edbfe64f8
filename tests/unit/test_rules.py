"""Dose-modification rules: every row of domain.md §5, ladder exhaustion, and properties."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ctcae import CtcaeCatalogue, CtcaeTerm
from domain.errors import InvalidInput
from domain.protocol import Protocol, template
from domain.rules import (
    CPK_NOT_RECOVERED,
    LADDER_EXHAUSTED_NOTE,
    AdverseEventFacts,
    DoseRecommendation,
    bcva_category,
    load_rule_set,
    recommend_dose,
    recommend_not_recovered,
    rule_set_for,
)
from domain.vision import VisualAcuity, parse_bcva

AVUTOMETINIB = "defactinib-avutometinib"
PEMBRO_GEM = "defactinib-pembrolizumab-gemcitabine"
PACLITAXEL = "defactinib-paclitaxel"
REGIMENS = (AVUTOMETINIB, PEMBRO_GEM, PACLITAXEL)
CATALOGUE = CtcaeCatalogue.load()
SEVERITY = {"continue": 0, "reduce": 1, "withhold": 2, "discontinue": 3}
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@dataclass(frozen=True)
class Case:
    """One adverse event as the investigator reports it."""

    term: str
    grade: int | None = None
    bcva: str | None = None
    baseline: str | None = None
    occurrence: int = 1
    intolerable: bool = False

    def facts(self) -> AdverseEventFacts:
        return facts(
            self.term,
            self.grade,
            bcva=self.bcva,
            baseline=self.baseline,
            occurrence=self.occurrence,
            intolerable=self.intolerable,
        )


def facts(
    term: str,
    grade: int | None,
    *,
    bcva: str | None = None,
    baseline: str | None = None,
    occurrence: int = 1,
    intolerable: bool = False,
) -> AdverseEventFacts:
    found = CATALOGUE.lookup(term)
    return AdverseEventFacts(
        term=found.term,
        grade=grade,
        haematological=found.is_haematological,
        occurrence=occurrence,
        intolerable=intolerable,
        bcva=None if bcva is None else parse_bcva(bcva),
        baseline_bcva=None if baseline is None else parse_bcva(baseline),
    )


def outcome(rec: DoseRecommendation) -> tuple[object, ...]:
    return (
        rec.action,
        rec.resume,
        rec.resume_when_grade_at_most,
        rec.within_days,
        rec.discontinue_all_agents,
        rec.rule,
    )


CONTINUE = ("continue", None, None, None, False)
RASH, CPK, BLURRED = "Rash acneiform", "CPK increased", "Blurred vision"
ALT = "Alanine aminotransferase increased"
VISION_WORSE = ("withhold", "same", None, None, False, "blurred-vision-worse")
VISION_20_200 = ("withhold", "reduced", None, None, False, "blurred-vision-20-200")

# (case, expected: action, resume, resume_when_grade_at_most, within_days,
#  discontinue_all_agents, rule) — one or more cases per row of the avutometinib table.
AVUTOMETINIB_ROWS = [
    (Case(RASH, 1), (*CONTINUE, "rash-g1")),
    (Case(RASH, 2), (*CONTINUE, "rash-g2")),
    (Case(RASH, 2, intolerable=True), ("reduce", None, None, None, False, "rash-g2-intolerable")),
    (Case(RASH, 3), ("withhold", "reduced", 1, None, False, "rash-g3")),
    (Case(RASH, 3, occurrence=2), ("withhold", "reduced", 1, None, False, "rash-g3")),
    (Case(RASH, 4), ("discontinue", None, None, None, True, "rash-g4")),
    (Case(RASH, 5), ("discontinue", None, None, None, True, "grade-5")),
    (Case(CPK, 1), (*CONTINUE, "otherwise-continue")),
    (Case(CPK, 2), (*CONTINUE, "otherwise-continue")),
    (Case(CPK, 3), ("withhold", "same", 1, 21, False, "cpk-g3")),
    (Case(CPK, 3, occurrence=2), ("withhold", "same", 1, 21, False, "cpk-g3")),
    (Case(CPK, 4), ("withhold", "reduced", 1, 21, False, "cpk-g4")),
    # Blurred vision given as BCVA against a 20/20 baseline.
    (Case(BLURRED, bcva="20/20", baseline="20/20"), (*CONTINUE, "blurred-vision-not-worse")),
    (Case(BLURRED, bcva="20/16", baseline="20/20"), (*CONTINUE, "blurred-vision-not-worse")),
    (Case(BLURRED, bcva="20/25", baseline="20/20"), VISION_WORSE),
    (Case(BLURRED, bcva="20/160", baseline="20/20"), VISION_WORSE),
    (Case(BLURRED, bcva="20/200", baseline="20/20"), VISION_20_200),
    (Case(BLURRED, bcva="20/400", baseline="20/40"), VISION_20_200),
    # A baseline already at 20/200 that has not worsened is not worse than baseline.
    (Case(BLURRED, bcva="20/200", baseline="20/200"), (*CONTINUE, "blurred-vision-not-worse")),
    # Blurred vision given as a grade.
    (Case(BLURRED, 1), (*CONTINUE, "blurred-vision-not-worse")),
    (Case(BLURRED, 2), VISION_WORSE),
    (Case(BLURRED, 3), VISION_WORSE),
    (Case(BLURRED, 4), VISION_20_200),
    (Case("Conjunctivitis", 1), (*CONTINUE, "otherwise-continue")),
    (Case("Conjunctivitis", 2), ("withhold", "same", 0, None, False, "conjunctivitis-g2")),
    (Case("Conjunctivitis", 3), ("withhold", "reduced", 0, None, False, "conjunctivitis-g3")),
    (Case("Keratitis", 1), (*CONTINUE, "otherwise-continue")),
    (Case("Keratitis", 2), ("withhold", "same", 0, None, False, "keratitis-g2")),
    (Case("Keratitis", 3), ("withhold", "reduced", 0, None, False, "keratitis-g3")),
    (Case("Keratitis", 4), ("discontinue", None, None, None, True, "keratitis-g4")),
    (Case("Nausea", 3), ("withhold", "same", 1, None, False, "other-g3-first")),
    (Case("Nausea", 3, occurrence=2), ("withhold", "reduced", 1, None, False, "other-g3-repeat")),
    (Case("Nausea", 3, occurrence=3), ("withhold", "reduced", 1, None, False, "other-g3-repeat")),
    (Case(ALT, 4), ("discontinue", None, None, None, True, "other-g4")),
    (Case("Nausea", 1), (*CONTINUE, "otherwise-continue")),
    (Case("Nausea", 2, intolerable=True), (*CONTINUE, "otherwise-continue")),
    (Case("Neutrophil count decreased", 4), (*CONTINUE, "haematological")),
    (Case("Febrile neutropenia", 3), (*CONTINUE, "haematological")),
    (Case("Anemia", 5), ("discontinue", None, None, None, True, "grade-5")),
]

WITHHOLD_REDUCED = ("withhold", "reduced", 1, None, False, "non-haematological-g3-g4")
DISCONTINUE_DEFACTINIB = ("discontinue", None, None, None, False)
# Table 2 applies to every regimen (domain.md §5): the 400 mg BID set differs from the
# avutometinib set only in reducing from the first G3 of another term.
FOUR_HUNDRED_ROWS = [
    (Case("Nausea", 3), WITHHOLD_REDUCED),
    (Case("Nausea", 3, occurrence=2), WITHHOLD_REDUCED),
    (Case(ALT, 3), WITHHOLD_REDUCED),
    (Case(ALT, 4), (*DISCONTINUE_DEFACTINIB, "other-g4")),
    (Case(RASH, 3), ("withhold", "reduced", 1, None, False, "rash-g3")),
    (Case(RASH, 4), (*DISCONTINUE_DEFACTINIB, "rash-g4")),
    (Case(CPK, 3), ("withhold", "same", 1, 21, False, "cpk-g3")),
    (Case(CPK, 4), ("withhold", "reduced", 1, 21, False, "cpk-g4")),
    (Case("Conjunctivitis", 2), ("withhold", "same", 0, None, False, "conjunctivitis-g2")),
    (Case("Conjunctivitis", 3), ("withhold", "reduced", 0, None, False, "conjunctivitis-g3")),
    (Case("Keratitis", 2), ("withhold", "same", 0, None, False, "keratitis-g2")),
    (Case("Keratitis", 3), ("withhold", "reduced", 0, None, False, "keratitis-g3")),
    (Case("Keratitis", 4), (*DISCONTINUE_DEFACTINIB, "keratitis-g4")),
    (Case(BLURRED, bcva="20/200", baseline="20/20"), VISION_20_200),
    (Case(BLURRED, bcva="20/50", baseline="20/20"), VISION_WORSE),
    (Case(BLURRED, bcva="20/40", baseline="20/20"), VISION_WORSE),
    (Case(BLURRED, bcva="20/20", baseline="20/25"), (*CONTINUE, "blurred-vision-not-worse")),
    (Case(BLURRED, 4), VISION_20_200),
    (Case("Nausea", 2), (*CONTINUE, "otherwise-continue")),
    (Case(RASH, 2, intolerable=True), (*CONTINUE, "otherwise-continue")),
    (Case("Neutrophil count decreased", 4), (*CONTINUE, "haematological")),
    (Case("Platelet count decreased", 3), (*CONTINUE, "haematological")),
    (Case(RASH, 5), ("discontinue", None, None, None, False, "grade-5")),
]


@pytest.mark.parametrize(("case", "expected"), AVUTOMETINIB_ROWS)
def test_avutometinib_table(case: Case, expected: tuple[object, ...]) -> None:
    rec = recommend_dose(template(AVUTOMETINIB), case.facts())
    assert outcome(rec) == expected
    assert (rec.rule_set, rec.rule_set_version) == ("avutometinib-combination", "1.0")


@pytest.mark.parametrize("regimen", [PEMBRO_GEM, PACLITAXEL])
@pytest.mark.parametrize(("case", "expected"), FOUR_HUNDRED_ROWS)
def test_400_mg_bid_table(regimen: str, case: Case, expected: tuple[object, ...]) -> None:
    rec = recommend_dose(template(regimen), case.facts())
    assert outcome(rec) == expected
    assert (rec.rule_set, rec.rule_set_version) == ("defactinib-400-bid", "2.0")


def test_every_rule_of_both_sets_is_exercised_by_the_tables() -> None:
    fired = {expected[-1] for _, expected in AVUTOMETINIB_ROWS + FOUR_HUNDRED_ROWS}
    for rule_set_id in ("avutometinib-combination", "defactinib-400-bid"):
        adverse_event_rules = {
            rule.id for rule in load_rule_set(rule_set_id).rules if rule.trigger == "adverse_event"
        }
        assert adverse_event_rules <= fired


def test_blurred_vision_withholds_until_bcva_is_back_to_baseline() -> None:
    protocol = template(AVUTOMETINIB)
    for case in (Case(BLURRED, bcva="20/80", baseline="20/20"), Case(BLURRED, 4)):
        rec = recommend_dose(protocol, case.facts())
        assert rec.resume_when_bcva_at_baseline
        assert rec.resume_when_grade_at_most is None


def test_rash_notes_give_the_supportive_care() -> None:
    protocol = template(AVUTOMETINIB)
    g1 = recommend_dose(protocol, Case(RASH, 1).facts()).note or ""
    g2 = recommend_dose(protocol, Case(RASH, 2).facts()).note or ""
    assert all(word in g1 for word in ("moisturiser", "sun avoidance", "topical corticosteroid"))
    assert all(word in g2 for word in ("topical corticosteroid", "doxycycline", "minocycline"))


def test_cpk_not_recovered_in_21_days_discontinues_both_drugs() -> None:
    protocol = template(AVUTOMETINIB)
    for fired in ("cpk-g3", "cpk-g4"):
        rec = recommend_not_recovered(protocol, fired)
        assert outcome(rec) == ("discontinue", None, None, None, True, CPK_NOT_RECOVERED)
    rule = rule_set_for(protocol).rule(CPK_NOT_RECOVERED)
    assert rule.protocol_default and rule.trigger == "recovery_deadline_passed"


def test_not_recovered_is_refused_for_a_rule_without_a_deadline() -> None:
    with pytest.raises(InvalidInput, match=r"rash-g3 .* sets no recovery deadline"):
        recommend_not_recovered(template(AVUTOMETINIB), "rash-g3")


def test_the_deadline_rule_never_fires_on_an_adverse_event() -> None:
    for grade in (1, 2, 3, 4):
        rec = recommend_dose(template(AVUTOMETINIB), Case(CPK, grade).facts())
        assert rec.rule != CPK_NOT_RECOVERED


def test_records_carry_every_field_and_json_exactly_seven() -> None:
    rec = recommend_dose(template(AVUTOMETINIB), Case(CPK, 4).facts())
    assert list(rec.as_json()) == [
        "action",
        "resume",
        "resume_when_grade_at_most",
        "within_days",
        "discontinue_all_agents",
        "rule_set",
        "rule",
    ]
    assert rec.as_record() == {
        "action": "withhold",
        "resume": "reduced",
        "resume_when_grade_at_most": 1,
        "resume_when_bcva_at_baseline": False,
        "within_days": 21,
        "discontinue_all_agents": False,
        "rule_set": "avutometinib-combination",
        "rule_set_version": "1.0",
        "rule": "cpk-g4",
        "note": None,
    }


# ------------------------------------------------------------------ ladder exhaustion

EXHAUSTED_AVUTOMETINIB = [
    (Case(RASH, 2, intolerable=True), "rash-g2-intolerable"),
    (Case(RASH, 3), "rash-g3"),
    (Case(CPK, 4), "cpk-g4"),
    (Case(BLURRED, bcva="20/200", baseline="20/20"), "blurred-vision-20-200"),
    (Case(BLURRED, 4), "blurred-vision-20-200"),
    (Case("Conjunctivitis", 3), "conjunctivitis-g3"),
    (Case("Keratitis", 3), "keratitis-g3"),
    (Case("Nausea", 3, occurrence=2), "other-g3-repeat"),
]


@pytest.mark.parametrize(("case", "rule"), EXHAUSTED_AVUTOMETINIB)
def test_bottom_of_the_avutometinib_ladder_discontinues_both_drugs(case: Case, rule: str) -> None:
    rec = recommend_dose(template(AVUTOMETINIB), case.facts(), can_reduce=False)
    assert outcome(rec) == ("discontinue", None, None, None, True, rule)
    assert not rec.resume_when_bcva_at_baseline
    assert rec.note == LADDER_EXHAUSTED_NOTE


@pytest.mark.parametrize("regimen", [PEMBRO_GEM, PACLITAXEL])
@pytest.mark.parametrize(
    ("case", "rule"),
    [
        (Case("Nausea", 3), "non-haematological-g3-g4"),
        (Case(RASH, 3), "rash-g3"),
        (Case(CPK, 4), "cpk-g4"),
        (Case(BLURRED, bcva="20/200", baseline="20/20"), "blurred-vision-20-200"),
    ],
)
def test_bottom_of_the_400_mg_ladder_discontinues_defactinib_only(
    regimen: str, case: Case, rule: str
) -> None:
    rec = recommend_dose(template(regimen), case.facts(), can_reduce=False)
    assert outcome(rec) == ("discontinue", None, None, None, False, rule)
    assert rec.note == LADDER_EXHAUSTED_NOTE


@pytest.mark.parametrize("regimen", [PEMBRO_GEM, PACLITAXEL])
@pytest.mark.parametrize("case", [Case(RASH, 4), Case("Keratitis", 4), Case(ALT, 4)])
def test_400_mg_regimens_discontinue_at_grade_4_rash_keratitis_or_other(
    regimen: str, case: Case
) -> None:
    # Version 1.0 of the set let these resume one rung lower (domain.md §5 replaced that).
    for can_reduce in (True, False):
        rec = recommend_dose(template(regimen), case.facts(), can_reduce=can_reduce)
        assert (rec.action, rec.resume, rec.note) == ("discontinue", None, None)


@pytest.mark.parametrize("regimen", [PEMBRO_GEM, PACLITAXEL])
def test_400_mg_cpk_not_recovered_in_21_days_discontinues_defactinib(regimen: str) -> None:
    for fired in ("cpk-g3", "cpk-g4"):
        rec = recommend_not_recovered(template(regimen), fired)
        assert outcome(rec) == ("discontinue", None, None, None, False, CPK_NOT_RECOVERED)


@pytest.mark.parametrize(
    "case",
    [Case(CPK, 3), Case(BLURRED, 2), Case("Keratitis", 2), Case("Nausea", 3), Case(RASH, 2)],
)
def test_same_dose_recommendations_ignore_the_ladder(case: Case) -> None:
    protocol = template(AVUTOMETINIB)
    assert recommend_dose(protocol, case.facts(), can_reduce=False) == recommend_dose(
        protocol, case.facts()
    )


# ------------------------------------------------------------------ haematological AEs

HAEMATOLOGICAL = [
    (term.term, grade)
    for term in CATALOGUE
    if term.is_haematological
    for grade in term.grades
    if grade < 5
]


@pytest.mark.parametrize("regimen", REGIMENS)
def test_haematological_adverse_events_below_grade_5_never_trigger_action(regimen: str) -> None:
    assert len(HAEMATOLOGICAL) > 40
    protocol = template(regimen)
    for term, grade in HAEMATOLOGICAL:
        for can_reduce in (True, False):
            for occurrence in (1, 2):
                case = Case(term, grade, occurrence=occurrence, intolerable=True)
                rec = recommend_dose(protocol, case.facts(), can_reduce=can_reduce)
                assert outcome(rec) == (*CONTINUE, "haematological"), (term, grade)
                assert rec.note == "no automatic action; investigator review; counts toward DLTs"


# ------------------------------------------------------------------ facts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"term": BLURRED, "grade": None}, "needs a CTCAE grade"),
        ({"term": "Nausea", "grade": None, "bcva": VisualAcuity(0.3)}, "only blurred vision"),
        ({"term": BLURRED, "grade": None, "bcva": VisualAcuity(0.3)}, "baseline BCVA"),
        ({"term": "Nausea", "grade": 0}, "1-5"),
        ({"term": "Nausea", "grade": 6}, "1-5"),
        ({"term": "Nausea", "grade": True}, "1-5"),
        ({"term": "Nausea", "grade": 2, "occurrence": 0}, "at least 1|>= 1"),
    ],
)
def test_adverse_event_facts_refuse_incomplete_input(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        AdverseEventFacts(haematological=False, **kwargs)  # type: ignore[arg-type]


def test_bcva_category_boundaries() -> None:
    twenty = parse_bcva("20/20")
    assert bcva_category(parse_bcva("20/20"), twenty) == "not_worse"
    assert bcva_category(parse_bcva("20/25"), twenty) == "worse"
    assert bcva_category(parse_bcva("20/160"), twenty) == "worse"
    assert bcva_category(parse_bcva("20/200"), twenty) == "20/200_or_worse"
    assert bcva_category(parse_bcva("6/60"), twenty) == "20/200_or_worse"
    assert bcva_category(parse_bcva("20/400"), parse_bcva("20/400")) == "not_worse"


# ------------------------------------------------------------------ properties


@st.composite
def adverse_events(draw: st.DrawFn) -> tuple[CtcaeTerm, int, int, bool]:
    term = draw(st.sampled_from(list(CATALOGUE)))
    grade = draw(st.sampled_from(term.grades))
    return term, grade, draw(st.integers(1, 4)), draw(st.booleans())


def _facts(term: CtcaeTerm, grade: int, occurrence: int, intolerable: bool) -> AdverseEventFacts:
    return AdverseEventFacts(
        term=term.term,
        grade=grade,
        haematological=term.is_haematological,
        occurrence=occurrence,
        intolerable=intolerable,
    )


def _protocol(regimen: str) -> Protocol:
    return template(regimen)


def _well_formed(rec: DoseRecommendation, protocol: Protocol) -> None:
    assert rec.rule in {rule.id for rule in rule_set_for(protocol).rules}
    assert (rec.resume is not None) == (rec.action == "withhold")
    assert rec.within_days is None or rec.action == "withhold"
    assert not rec.discontinue_all_agents or rec.action == "discontinue"


@PROPERTY_SETTINGS
@given(event=adverse_events(), regimen=st.sampled_from(REGIMENS), can_reduce=st.booleans())
def test_every_adverse_event_gets_exactly_one_well_formed_recommendation(
    event: tuple[CtcaeTerm, int, int, bool], regimen: str, can_reduce: bool
) -> None:
    protocol = _protocol(regimen)
    rec = recommend_dose(protocol, _facts(*event), can_reduce=can_reduce)
    assert isinstance(rec, DoseRecommendation)
    _well_formed(rec, protocol)
    if rec.action == "discontinue":
        assert rec.discontinue_all_agents == (regimen == AVUTOMETINIB)


@PROPERTY_SETTINGS
@given(event=adverse_events(), regimen=st.sampled_from(REGIMENS))
def test_discontinue_iff_grade_5_or_grade_4_non_haematological(
    event: tuple[CtcaeTerm, int, int, bool], regimen: str
) -> None:
    term, grade, _, _ = event
    rec = recommend_dose(_protocol(regimen), _facts(*event))
    withheld_at_g4 = term.term in (CPK, BLURRED)
    # Table 2 applies to every regimen: G4 non-haematological discontinues in all of them.
    expected = grade == 5 or (grade == 4 and not term.is_haematological and not withheld_at_g4)
    assert (rec.action == "discontinue") == expected


def _severity(rec: DoseRecommendation) -> tuple[int, int]:
    # Within withhold, resuming at a reduced dose is harsher than at the same dose.
    return SEVERITY[rec.action], int(rec.resume == "reduced")


@PROPERTY_SETTINGS
@given(
    event=adverse_events(),
    regimen=st.sampled_from(REGIMENS),
    can_reduce=st.booleans(),
)
def test_a_higher_grade_is_never_milder_for_the_same_term(
    event: tuple[CtcaeTerm, int, int, bool], regimen: str, can_reduce: bool
) -> None:
    term, _, occurrence, intolerable = event
    protocol = _protocol(regimen)
    severities = [
        _severity(
            recommend_dose(
                protocol, _facts(term, grade, occurrence, intolerable), can_reduce=can_reduce
            )
        )
        for grade in term.grades
    ]
    assert severities == sorted(severities), (term.term, severities)


@PROPERTY_SETTINGS
@given(
    baseline=st.integers(-30, 200),
    a=st.integers(-30, 300),
    b=st.integers(-30, 300),
    regimen=st.sampled_from(REGIMENS),
)
def test_a_worse_bcva_is_never_milder(baseline: int, a: int, b: int, regimen: str) -> None:
    better, worse = sorted((a, b))
    protocol = _protocol(regimen)

    def rec(logmar_hundredths: int) -> DoseRecommendation:
        return recommend_dose(
            protocol,
            AdverseEventFacts(
                term=BLURRED,
                grade=None,
                haematological=False,
                bcva=VisualAcuity(logmar_hundredths / 100),
                baseline_bcva=VisualAcuity(baseline / 100),
            ),
        )

    assert _severity(rec(better)) <= _severity(rec(worse))
