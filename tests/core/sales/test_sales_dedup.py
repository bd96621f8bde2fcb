import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sales.dedup import (
    WEIGHTS,
    Candidate,
    DedupRecord,
    MatchReason,
    candidates,
    company_key,
    email_key,
    match_score,
    record_keys,
)
from core.sales.phones import Phone

USCC_A = "91310000132200821H"  # check characters from core.model.uscc.check_character
USCC_B = "91110000100000000R"
USCC_BAD = "91310000132200821J"  # wrong check character


def lead(id_: str = "L1", **fields: object) -> DedupRecord:
    return DedupRecord(id=id_, kind="lead", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("上海汽车(集团)有限公司", "上海汽车集团有限公司"),
        ("上海汽车（集团）股份有限公司", "上海汽车有限公司"),
        ("上海汽车集团股份有限公司", "上海汽车"),
        ("华为技术有限公司", "华为技术"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴有限公司"),
        ("Huawei Technologies Co., Ltd.", "HUAWEI TECHNOLOGIES CO LTD"),
        ("Shanghai Auto (Group) Co., Ltd.", "Shanghai Auto Limited"),
    ],
)
def test_company_spellings_share_a_key(one: str, other: str) -> None:
    assert company_key(one) == company_key(other) is not None


def test_branches_in_brackets_keep_different_keys() -> None:
    assert company_key("腾讯科技（深圳）有限公司") != company_key("腾讯科技（北京）有限公司")


@pytest.mark.parametrize("name", [None, "", "  ", "()"])
def test_empty_company_names_give_no_key(name: str | None) -> None:
    assert company_key(name) is None


def test_a_name_that_is_only_a_group_marker_is_kept() -> None:
    assert company_key("集团") == "集团"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" John.Doe@Gmail.COM ", "john.doe@gmail.com"),
        ("mailto:Sales@Example.cn", "sales@example.cn"),
        ("<wang@qq.com>", "wang@qq.com"),
        ("ｗａｎｇ＠ｑｑ．ｃｏｍ", "wang@qq.com"),  # full-width
        ("a.b+crm@gmail.com", "a.b+crm@gmail.com"),  # dots and +tags are kept
        ("a@b", None),
        ("a b@c.com", None),
        ("a@@c.com", None),
        ("@c.com", None),
        ("", None),
        (None, None),
    ],
)
def test_email_keys_are_lower_case_and_keep_dots(raw: str | None, expected: str | None) -> None:
    assert email_key(raw) == expected


def test_gmail_dot_variants_are_not_merged() -> None:
    assert (
        match_score(lead(emails=("johndoe@gmail.com",)), lead(emails=("john.doe@gmail.com",)))[0]
        == 0
    )


def test_record_keys_drop_unusable_values() -> None:
    keys = record_keys(
        lead(
            uscc=USCC_BAD,
            emails=("nope", "A@B.CN"),
            phones=("12345", "138 0013 8000"),
        )
    )
    assert keys.uscc is None
    assert keys.emails == frozenset({"a@b.cn"})
    assert keys.phones == frozenset({Phone("+8613800138000", "mobile")})


def test_record_keys_accept_a_lower_case_uscc() -> None:
    assert record_keys(lead(uscc=" " + USCC_A.lower())).uscc == USCC_A


def test_equal_uscc_scores_100() -> None:
    score, reasons = match_score(lead(uscc=USCC_A), lead("L2", uscc=USCC_A.lower()))
    assert score == 100
    assert reasons == (MatchReason("uscc", USCC_A, 100),)


@pytest.mark.parametrize(
    ("a", "b", "score", "signal"),
    [
        (
            lead(emails=("Wang.Wei@Example.cn",)),
            lead("L2", emails=("wang.wei@example.cn ",)),
            90,
            "email",
        ),
        (lead(phones=("13800138000",)), lead("L2", phones=("+86 138-0013-8000",)), 80, "phone"),
        (
            lead(company_name="上海汽车(集团)有限公司"),
            lead("L2", company_name="上海汽车集团有限公司"),
            70,
            "company_name",
        ),
    ],
)
def test_single_signals_score_their_weight(
    a: DedupRecord, b: DedupRecord, score: int, signal: str
) -> None:
    got, reasons = match_score(a, b)
    assert got == score == WEIGHTS[signal]  # type: ignore[index]
    assert [reason.signal for reason in reasons] == [signal]


def test_combinations_are_capped_at_100() -> None:
    a = lead(company_name="Acme Co., Ltd.", emails=("x@acme.com",), phones=("010-12345678",))
    b = lead("L2", company_name="ACME LIMITED", emails=("X@acme.com",), phones=("1012345678",))
    score, reasons = match_score(a, b)
    # 90 (email) + 80 (phone) + 70 (name) = 240 → capped at 100
    assert score == 100
    assert [(r.signal, r.value, r.points) for r in reasons] == [
        ("email", "x@acme.com", 90),
        ("phone", "+861012345678", 80),
        ("company_name", "acme", 70),
    ]


def test_a_signal_counts_once_however_many_values_match() -> None:
    a = lead(phones=("13800138000", "021-55556666"))
    b = lead("L2", phones=("+8613800138000", "+86 21 5555 6666"))
    score, reasons = match_score(a, b)
    assert score == 80  # one phone signal, not 80 + 80
    assert reasons == (MatchReason("phone", "+8613800138000", 80),)  # smallest E.164


def test_phone_extensions_must_agree_when_both_are_given() -> None:
    switchboard = lead(phones=("010-12345678",))
    ext_123 = lead("L2", phones=("010-12345678转123",))
    ext_456 = lead("L3", phones=("010-12345678 ext 456",))
    assert match_score(switchboard, ext_123)[0] == 80  # one side has no extension
    assert match_score(ext_123, ext_456)[0] == 0  # two desks behind one switchboard


def test_different_usccs_cancel_the_company_name() -> None:
    a = lead(company_name="上海汽车有限公司", uscc=USCC_A, emails=("li@saic.cn",))
    b = lead("L2", company_name="上海汽车(集团)有限公司", uscc=USCC_B, emails=("li@saic.cn",))
    score, reasons = match_score(a, b)
    assert score == 90  # email only: the names are equal but the legal persons differ
    assert [r.signal for r in reasons] == ["email"]


def test_an_invalid_uscc_neither_matches_nor_cancels() -> None:
    a = lead(company_name="华为技术有限公司", uscc=USCC_BAD)
    b = lead("L2", company_name="华为技术", uscc=USCC_B)
    assert match_score(a, b)[0] == 70  # name only; the bad code is ignored


def test_nothing_shared_scores_zero() -> None:
    assert match_score(lead(company_name="甲"), lead("L2", company_name="乙")) == (0, ())
    assert match_score(lead(), lead("L2")) == (0, ())


def test_candidates_rank_by_score_then_kind_then_id() -> None:
    new = lead(
        "L0",
        company_name="深圳市星辰科技有限公司",
        emails=("chen@xingchen.cn",),
        phones=("0755-88889999",),
    )
    account = DedupRecord("A9", "account", company_name="深圳市星辰科技", uscc=USCC_A)
    contact = DedupRecord("C1", "contact", emails=("CHEN@xingchen.cn",), phones=("075588889999",))
    old_lead = lead("L7", phones=("+86 755 8888 9999",))
    same_name_lead = lead("L5", company_name="深圳市星辰科技股份有限公司")
    stranger = lead("L8", company_name="Other Ltd.", phones=("13800138000",))
    found = candidates(new, [stranger, old_lead, same_name_lead, account, contact, new])
    assert [(c.record.id, c.score) for c in found] == [
        ("C1", 100),  # email 90 + phone 80 = 170 → 100
        ("L7", 80),  # phone
        ("A9", 70),  # company name; account sorts before lead at equal score
        ("L5", 70),  # company name
    ]  # the lead itself (L0) and the stranger are left out


def test_candidates_threshold_filters() -> None:
    new = lead("L0", company_name="Acme", phones=("13800138000",))
    others = [lead("L1", company_name="ACME Inc."), lead("L2", phones=("8613800138000",))]
    assert [c.record.id for c in candidates(new, others, threshold=75)] == ["L2"]
    assert [c.record.id for c in candidates(new, others, threshold=0)] == ["L2", "L1"]
    assert candidates(new, [lead("L3")], threshold=0) == []  # no evidence is never a match


def test_candidates_keep_the_record_and_reasons() -> None:
    other = lead("L2", emails=("a@b.cn",))
    assert candidates(lead(emails=("A@B.cn",)), [other]) == [
        Candidate(other, 90, (MatchReason("email", "a@b.cn", 90),))
    ]


def test_a_contact_with_the_lead_id_is_not_the_lead_itself() -> None:
    new = lead("X1", emails=("a@b.cn",))
    contact = DedupRecord("X1", "contact", emails=("a@b.cn",))
    assert [c.record for c in candidates(new, [contact])] == [contact]


@pytest.mark.parametrize("threshold", [-1, 101])
def test_threshold_outside_0_to_100_is_refused(threshold: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        candidates(lead(), [], threshold=threshold)


_names = st.sampled_from(
    ["上海汽车(集团)有限公司", "上海汽车有限公司", "Acme Co., Ltd.", "ACME", "华为技术", None]
)
_usccs = st.sampled_from([USCC_A, USCC_B, USCC_BAD, None])
_emails = st.lists(st.sampled_from(["a@b.cn", "A@B.cn", "a.b@b.cn", "bad"]), max_size=2)
_phones = st.lists(
    st.sampled_from(
        ["13800138000", "+86 138-0013-8000", "010-12345678", "010-12345678转1", "010-12345678转2"]
    ),
    max_size=2,
)
_records = st.builds(
    DedupRecord,
    id=st.sampled_from(["1", "2"]),
    kind=st.sampled_from(["lead", "account", "contact"]),
    company_name=_names,
    uscc=_usccs,
    emails=_emails.map(tuple),
    phones=_phones.map(tuple),
)


@given(_records, _records)
def test_match_score_is_symmetric_and_within_0_to_100(a: DedupRecord, b: DedupRecord) -> None:
    forward = match_score(a, b)
    assert forward == match_score(b, a)
    assert 0 <= forward[0] <= 100
    assert forward[0] == min(100, sum(reason.points for reason in forward[1]))


@given(_records)
def test_a_record_with_any_key_matches_itself(record: DedupRecord) -> None:
    keys = record_keys(record)
    score, _ = match_score(record, record)
    has_key = bool(keys.uscc or keys.company or keys.emails or keys.phones)
    assert (score > 0) == has_key


@given(st.text(max_size=40), st.text(max_size=40))
def test_arbitrary_text_never_breaks_scoring(name: str, other: str) -> None:
    a = lead(company_name=name, uscc=name, emails=(name,), phones=(name,))
    b = lead("L2", company_name=other, uscc=other, emails=(other,), phones=(other,))
    score, _ = match_score(a, b)
    assert 0 <= score <= 100
    assert score == match_score(b, a)[0]
