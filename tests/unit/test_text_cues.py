"""Tests for the scam-cue extractor: what it finds, where, what it leaves alone, and that it stays fast.

Positive examples are realistic scam messages (ads, SMS/WhatsApp, call transcripts) in Dutch and English.
The extractor reports vocabulary, not intent, so a genuine bank warning that names the pincode still shows a
code_credential_request cue; negatives are therefore ordinary texts that share words with the patterns
("ik kom direct na het werk") rather than warnings about scams.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.text import cues as cues_module
from service.text.cues import CUE_KINDS, Cue, cue_kinds, find_cues

# (language, text) per kind: at least three Dutch and three English messages each.
POSITIVES: dict[str, list[tuple[str, str]]] = {
    "return_promise": [
        ("nl", "Met ons platform krijgt u gegarandeerd rendement, elke maand weer."),
        ("nl", "Verdien €500 per dag vanuit huis, zonder risico!"),
        ("nl", "Wij bieden 10% per week op uw inleg. Dubbel je geld binnen een maand."),
        ("nl", "Garantie op winst: onze experts beleggen voor u."),
        ("en", "Earn $1,000 a day with our proven system."),
        ("en", "Guaranteed returns of 30% every month, risk-free profit for everyone."),
        ("en", "Build passive income and double your money in 30 days."),
    ],
    "urgency": [
        ("nl", "Reageer vandaag nog, anders wordt uw rekening geblokkeerd."),
        ("nl", "U moet binnen 24 uur actie ondernemen."),
        ("nl", "Neem direct contact met ons op via het nummer hieronder."),
        ("nl", "Laatste kans! Alleen vandaag 50% korting op deelname."),
        ("nl", "U moet het bedrag nu meteen overmaken."),
        ("en", "Act now: your account will be blocked within 24 hours."),
        ("en", "Please verify immediately, this offer expires today."),
        ("en", "Last chance to join, limited spots left."),
    ],
    "celebrity_endorsement": [
        ("nl", "Linda de Mol onthult haar geheim: zo verdient ze bij met crypto."),
        ("nl", "Bekend van RTL: Martin Garrix heeft geïnvesteerd in dit platform."),
        ("nl", "Zoals gezien op televisie. Mark Rutte investeert ook!"),
        ("en", "As seen on Dragons' Den: the secret of his success."),
        ("en", "Elon Musk has invested in this new trading app."),
        ("en", "Endorsed by Bill Gates and featured on BBC."),
    ],
    "crypto_trading_bot": [
        ("nl", "Onze handelsrobot handelt automatisch in bitcoin voor u."),
        ("nl", "Met AI-trading en Quantum AI verdient u terwijl u slaapt."),
        ("nl", "Meld je aan voor onze forex signalen en cryptomunten."),
        ("en", "Our trading bot uses AI to trade crypto 24/7."),
        ("en", "Join Bitcoin Era today and let the algorithm work."),
        ("en", "Immediate Edge is the most profitable automated trading platform."),
    ],
    "safe_account_transfer": [
        ("nl", "Uw geld is niet veilig. We zetten het op een veilige rekening."),
        ("nl", "Maak uw spaargeld over naar de kluisrekening van de bank."),
        ("nl", "U moet uw geld veiligstellen door het over te boeken naar een tijdelijke rekening."),
        ("en", "We need to move your savings to a safe account today."),
        ("en", "Please transfer your money to the secure account I give you."),
        ("en", "To protect your funds, move your money to a holding account."),
    ],
    "code_credential_request": [
        ("nl", "Geef mij de verificatiecode die u per sms ontvangt."),
        ("nl", "Vul uw pincode en inlogcode in op de pagina."),
        ("nl", "Scan de QR-code met uw bankapp. Een koerier komt uw bankpas ophalen."),
        ("nl", "Log in met DigiD en bevestig met uw wachtwoord."),
        ("en", "Please give me the code we just sent to your phone."),
        ("en", "Enter your one-time password and security code below."),
        ("en", "Read out the OTP and your card number so I can verify you."),
    ],
    "payment_link": [
        ("nl", "Betaal de verzendkosten via deze link: https://postnl-bezorging.top/betalen"),
        ("nl", "Stuur me een Tikkie, of klik op de link hieronder."),
        ("nl", "Ga naar www.ing-veilig.nl en voer uw gegevens in."),
        ("en", "Click the link to pay: bit.ly/3xYzAbC"),
        ("en", "Pay via this link before midnight: secure-pay.xyz/invoice"),
        ("en", "Complete your payment at http://royalmail-fee.info."),
    ],
    "impersonation": [
        ("nl", "Goedemiddag, u spreekt met Peter van de fraudeafdeling van de ING."),
        ("nl", "Ik bel namens de Rabobank over verdachte transacties."),
        ("nl", "Hoi mam, dit is mijn nieuwe nummer. Mijn telefoon is kapot."),
        ("en", "Hello, this is Mark from your bank's fraud department."),
        ("en", "I'm calling on behalf of HMRC about your tax return."),
        ("en", "Hi mum, my phone broke, this is my new number."),
    ],
}

# (kind that must NOT appear, ordinary text that shares words with that kind's patterns).
HARD_NEGATIVES: list[tuple[str, str]] = [
    ("urgency", "Ik kom direct na het werk naar huis."),
    ("urgency", "The direct train to Utrecht leaves at nine."),
    ("urgency", "We took a direct flight and arrived early."),
    ("urgency", "Ik bel je meteen terug als ik thuis ben."),
    ("urgency", "De vergadering is morgen om tien uur in zaal 3."),
    ("payment_link", "Ik ging naar huis.De volgende dag was het mooi weer."),
    ("payment_link", "Mail me at info@example.nl tomorrow."),
    ("payment_link", "Het is 3.5 graden en het regent, zie bijv. pagina 12 e.v. voor details."),
    ("code_credential_request", "De pinautomaat op het station was kapot."),
    ("code_credential_request", "She wore a hair pin in the wedding photo."),
    ("crypto_trading_bot", "Cryptografie beschermt je berichten onderweg."),
    ("crypto_trading_bot", "De handelsbalans van Nederland verbeterde in het derde kwartaal."),
    ("safe_account_transfer", "Mijn salaris komt elke maand op mijn rekening."),
    ("safe_account_transfer", "She opened a savings account for her daughter."),
    ("safe_account_transfer", "Ik maak het geld morgen over naar je rekening."),
    ("return_promise", "Het rendement op staatsobligaties was vorig jaar 3% per jaar."),
    ("return_promise", "We earned a lot of goodwill with the new service."),
    ("impersonation", "Ik bel vanavond even met oma."),
    ("impersonation", "This is the best pizza in town."),
    ("celebrity_endorsement", "Jan ging gisteren naar de markt om kaas te kopen."),
]

# Ordinary news and chat: no cue of any kind.
CLEAN_TEXTS = [
    "Het KNMI verwacht morgen in het hele land zon en temperaturen rond de twintig graden.",
    "De trein naar Amsterdam Centraal rijdt vanaf maandag weer volgens de normale dienstregeling.",
    "The council approved the new cycling lanes after a long debate on Tuesday evening.",
    "Zullen we zaterdag samen boodschappen doen? Ik neem wel brood mee.",
    "Thanks for dinner last night, the pasta was great and the kids loved it.",
    "Het geheim van de smid blijft goed bewaard, zoals bekend in het dorp.",
    "The Bank of England kept interest rates unchanged on Thursday.",
    "I am writing from the library, there is no risk of rain today.",
    "Avoid direct contact with the skin and call a doctor if needed.",
]


def _assert_offsets(text: str, cues: list[Cue]) -> None:
    for cue in cues:
        assert 0 <= cue.start < cue.end <= len(text)
        assert cue.text == text[cue.start : cue.end]
        assert cue.kind in CUE_KINDS


def _positive_cases() -> list[tuple[str, str, str]]:
    return [(kind, lang, text) for kind, examples in POSITIVES.items() for lang, text in examples]


@pytest.mark.parametrize(("kind", "lang", "text"), _positive_cases())
def test_positive_examples_show_their_cue(kind: str, lang: str, text: str) -> None:
    cues = find_cues(text)
    assert kind in cue_kinds(cues), f"{lang}: {text!r} -> {cues}"
    _assert_offsets(text, cues)


@pytest.mark.parametrize("kind", CUE_KINDS)
def test_every_kind_has_three_dutch_and_three_english_examples(kind: str) -> None:
    langs = [lang for lang, _ in POSITIVES[kind]]
    assert langs.count("nl") >= 3 and langs.count("en") >= 3


@pytest.mark.parametrize(("kind", "text"), HARD_NEGATIVES)
def test_hard_negatives_do_not_show_the_cue(kind: str, text: str) -> None:
    cues = find_cues(text)
    assert kind not in cue_kinds(cues), cues
    _assert_offsets(text, cues)


@pytest.mark.parametrize("text", CLEAN_TEXTS)
def test_ordinary_texts_show_no_cues(text: str) -> None:
    assert find_cues(text) == []


def test_a_genuine_warning_still_shows_the_vocabulary() -> None:
    # Decision: the extractor reports vocabulary, not intent; weighing "nooit" is the model's job.
    text = "Let op: wij vragen nooit om uw pincode of inlogcode."
    cues = find_cues(text)
    assert cue_kinds(cues) == ["code_credential_request"]
    assert [c.text for c in cues] == ["pincode", "inlogcode"]


def test_spans_are_exact() -> None:
    text = "Goedemiddag, u spreekt met Peter van de fraudeafdeling. Uw rekening wordt binnen 24 uur geblokkeerd."
    assert [(c.kind, c.text) for c in find_cues(text)] == [
        ("impersonation", "u spreekt met Peter van de fraudeafdeling"),
        ("urgency", "Uw rekening wordt binnen 24 uur geblokkeerd"),
    ]


def test_direct_is_urgency_only_in_urgency_phrases() -> None:
    for text in ("direct overmaken", "Neem direct contact op", "Betaal direct", "direct actie", "per direct"):
        assert "urgency" in cue_kinds(find_cues(text)), text
    for text in ("direct", "een directe verbinding", "de directeur", "ik kom direct", "direct debit"):
        assert "urgency" not in cue_kinds(find_cues(text)), text


def test_a_bare_url_is_a_payment_link() -> None:
    for text, url in [
        ("zie https://example.com/a?b=1.", "https://example.com/a?b=1"),
        ("(www.voorbeeld.nl)", "www.voorbeeld.nl"),
        ("Ga naar ING-VEILIG.NL nu", "ING-VEILIG.NL"),
        ("track: bpost.be/track/123", "bpost.be/track/123"),
        ("via tinyurl.com/abc of t.co/xyz", "tinyurl.com/abc"),
    ]:
        cues = [c for c in find_cues(text) if c.kind == "payment_link"]
        assert cues and cues[0].text == url, (text, cues)


def test_overlapping_matches_of_one_kind_merge() -> None:
    # "Bitcoin" and "Bitcoin Era" both match; one cue covers both.
    cues = find_cues("Probeer Bitcoin Era vandaag.")
    crypto = [c for c in cues if c.kind == "crypto_trading_bot"]
    assert [c.text for c in crypto] == ["Bitcoin Era"]


def test_cues_are_sorted_and_kinds_may_overlap() -> None:
    text = "Maak het bedrag direct over naar de veilige rekening, klik op de link: https://x.top/pay"
    cues = find_cues(text)
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    kinds = cue_kinds(cues)
    assert {"urgency", "safe_account_transfer", "payment_link"} <= set(kinds)
    urgency = next(c for c in cues if c.kind == "urgency")
    transfer = next(c for c in cues if c.kind == "safe_account_transfer")
    assert urgency.start < transfer.end and transfer.start < urgency.end  # different kinds are not merged


def test_cue_kinds_is_sorted_and_unique() -> None:
    cues = find_cues("bitcoin, crypto, pincode, wachtwoord, bitcoin")
    assert cue_kinds(cues) == ["code_credential_request", "crypto_trading_bot"]
    assert cue_kinds([]) == []


def test_empty_and_whitespace_text() -> None:
    assert find_cues("") == []
    assert find_cues(" \n\t ") == []


def test_non_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        find_cues(None)  # type: ignore[arg-type]


def test_cue_to_dict_and_validation() -> None:
    cue = find_cues("Scan de QR-code")[0]
    assert cue.to_dict() == {"kind": "code_credential_request", "start": 0, "end": 15, "text": "Scan de QR-code",
                             "quoted": False}
    with pytest.raises(ValueError):
        Cue("phishing", 0, 1, "x")
    with pytest.raises(ValueError):
        Cue("urgency", 5, 2, "")


# ---- offsets on non-ASCII text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🚀🚀💰 Investeer in bitcoin!", "bitcoin"),
        ("Café René: gegarandeerd rendement", "gegarandeerd rendement"),
        ("Één kans: Martin Garrix heeft geïnvesteerd", "Martin Garrix heeft geïnvesteerd"),
        ("Financiële vrijheid dankzij ons systeem", "Financiële vrijheid"),
        ("Tiësto gebruikt dit", "Tiësto"),
        ("👨‍👩‍👧 gezin — Linda de Mol onthult haar geheim", "Linda de Mol onthult haar geheim"),
        ("Ｂｉｔｃｏｉｎ verdubbelt", "Ｂｉｔｃｏｉｎ"),
        ("Koop nu bit\u200bcoin", "bit\u200bcoin"),
        ("Met e\u0301e\u0301n klik: gegarandeerd rendement", "gegarandeerd rendement"),
        ("Ze zegt: geı\u0308nvesteerd? Ge\u0301garandeerde\u0301 winst", "Ge\u0301garandeerde\u0301 winst"),
        ("ﬁnanciële vrijheid…", "ﬁnanciële vrijheid"),
        ("Straße, dann: risk\u2011free profit", "risk\u2011free"),
        ("Het is ‘Dragons’ Den’ waard", "Dragons’ Den"),
    ],
)
def test_offsets_point_into_the_original_text(text: str, expected: str) -> None:
    cues = find_cues(text)
    _assert_offsets(text, cues)
    assert expected in [c.text for c in cues], cues


def test_offsets_after_many_expanding_and_dropped_characters() -> None:
    prefix = "ﬁ\u200b…ß\u0301😀é" * 50
    text = prefix + " Uw rekening wordt geblokkeerd"
    cues = find_cues(text)
    _assert_offsets(text, cues)
    assert [c.text for c in cues] == ["Uw rekening wordt geblokkeerd"]
    assert cues[0].start == len(prefix) + 1


# ---- speed and adversarial input -------------------------------------------------------------------------

_SCAM_1000 = (
    "Goedemiddag, u spreekt met Peter van de fraudeafdeling van de ING. Uw rekening wordt binnen 24 uur "
    "geblokkeerd. Maak uw spaargeld direct over naar een kluisrekening en geef mij de code die u ontvangt. "
    "Linda de Mol heeft geïnvesteerd in Bitcoin Era: verdien €500 per dag, gegarandeerd rendement! "
    "Klik op de link: https://ing-veilig.top/login 🚀 This is Mark from your bank. Transfer your savings to "
    "a safe account immediately and read me the one-time password. "
) * 3


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        " " * 100_000,
        "a " * 50_000,
        "a." * 50_000,
        "nl." * 33_333,
        "1" * 100_000,
        "1.0" * 33_333,
        "%" * 100_000,
        "http://" * 14_285,
        "www." * 25_000,
        "a@b.nl " * 14_285,
        "\u0301" * 100_000,
        "é" * 100_000,
        "\u200b" * 100_000,
        "u spreekt met " * 7_142,
        "hoi mam " * 12_500,
        "verdien " * 12_500,
        "Jan Smit " * 11_111,
        "uw " * 33_333,
        "-" * 100_000,
        "bitcoin" * 14_285,
        ("x" * 99_000) + ".nl",
    ],
    ids=lambda text: repr(text[:12]),
)
def test_adversarial_input_does_not_backtrack_catastrophically(text: str) -> None:
    # Catastrophic backtracking takes minutes to hours on 100k characters; linear matching takes well under a
    # second. The bound is that gap, not a performance target (those live in benchmarks/).
    start = time.perf_counter()
    cues = find_cues(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 20.0, f"{elapsed:.2f} s"
    _assert_offsets(text, cues[:1000])


# ---- properties --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_gives_valid_sorted_cues(text: str) -> None:
    cues = find_cues(text)
    _assert_offsets(text, cues)
    assert [c.start for c in cues] == sorted(c.start for c in cues)
    for kind in CUE_KINDS:
        same = [c for c in cues if c.kind == kind]
        assert all(a.end <= b.start for a, b in zip(same, same[1:], strict=False)), "same-kind cues must not overlap"


def test_rule_table_covers_every_kind() -> None:
    assert tuple(cues_module._RULES) == CUE_KINDS
    assert {entry[0] for entry in cues_module._PATTERNS} == set(CUE_KINDS)
    assert all(rule.kind == kind for kind, rules in cues_module._RULES.items() for rule in rules)


def test_a_space_before_a_quantifier_is_rejected() -> None:
    # In rule sources a space means \s+, so "veilig ?stellen" would silently demand a space.
    with pytest.raises(ValueError):
        cues_module._rule("urgency", r"\bveilig ?stellen\b")


# ---- obfuscated cues: found on the normalised text, reported in the original ---------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Maak uw geld over naar een vеіlіgе rеkеnіng", "safe_account_transfer", "vеіlіgе rеkеnіng"),  # Cyrillic
        ("Koop vandaag b.i.t.c.o.i.n", "crypto_trading_bot", "b.i.t.c.o.i.n"),
        ("G E G A R A N D E E R D  R E N D E M E N T!", "return_promise",
         "G E G A R A N D E E R D  R E N D E M E N T"),
        ("Geef uw p\u200bi\u200bn\u200bc\u200bo\u200bd\u200be", "code_credential_request",
         "p\u200bi\u200bn\u200bc\u200bo\u200bd\u200be"),
        ("Read us the one-time pаsswоrd", "code_credential_request", "one-time pаsswоrd"),
        ("Transfer your savings to a \u202esafe\u202c account", "safe_account_transfer",
         "Transfer your savings"),
        ("Transfer your savings to a \u202esafe\u202c account", "safe_account_transfer",
         "safe\u202c account"),
        ("𝐆𝐞𝐠𝐚𝐫𝐚𝐧𝐝𝐞𝐞𝐫𝐝 𝐫𝐞𝐧𝐝𝐞𝐦𝐞𝐧𝐭", "return_promise", "𝐆𝐞𝐠𝐚𝐫𝐚𝐧𝐝𝐞𝐞𝐫𝐝 𝐫𝐞𝐧𝐝𝐞𝐦𝐞𝐧𝐭"),
    ],
)
def test_obfuscated_cues_are_found_with_spans_in_the_original(text: str, kind: str, expected: str) -> None:
    cues = find_cues(text)
    _assert_offsets(text, cues)
    assert expected in [c.text for c in cues if c.kind == kind], cues


def test_obfuscated_scam_shows_the_same_cue_kinds_as_the_plain_one() -> None:
    plain = "Uw rekening wordt vandaag geblokkeerd. Maak uw spaargeld over naar een veilige rekening."
    cyrillic = plain.translate(str.maketrans({"e": "е", "o": "о", "a": "а", "i": "і", "c": "с", "p": "р"}))
    spaced = "  ".join(" ".join(word) if len(word) > 3 else word for word in plain.split(" "))
    for text in (cyrillic, spaced, plain.upper(), "\u200b".join(plain)):
        cues = find_cues(text)
        _assert_offsets(text, cues)
        assert cue_kinds(cues) == cue_kinds(find_cues(plain)), text


def test_genuine_cyrillic_text_shows_no_cues() -> None:
    assert find_cues("Москва — столица России. Он сказал: а я? Сор и рой.") == []


def test_a_given_normalisation_must_be_of_the_same_text() -> None:
    from service.text.normalize import normalize

    text = "Koop b.i.t.c.o.i.n"
    assert find_cues(text, normalized=normalize(text)) == find_cues(text)
    with pytest.raises(ValueError):
        find_cues(text, normalized=normalize("iets anders"))


# ---- quoted: a warning that quotes a scam vs the scam itself -------------------------------------------------

_SCAM_NL = "Uw rekening wordt geblokkeerd, maak uw spaargeld over naar een veilige rekening"
_SCAM_EN = "your account is blocked, transfer your savings to a safe account"


def test_the_scam_itself_is_not_quoted() -> None:
    for text in (_SCAM_NL + ".", "Hello, " + _SCAM_EN + " immediately."):
        cues = find_cues(text)
        assert cues and not any(c.quoted for c in cues), cues


@pytest.mark.parametrize(
    "text",
    [
        f'Let op: oplichters sturen berichten als "{_SCAM_NL}". Trap er niet in!',
        f"De bank waarschuwt voor sms'jes met de tekst „{_SCAM_NL}”.",
        f"Hij schreef: “{_SCAM_NL}”",
        f"Hij schreef: «{_SCAM_NL}»",
        f"Hij schreef: ‘{_SCAM_NL}’ en meer niet.",
        f"Hij schreef: '{_SCAM_NL}' en dat was het.",
        f'Beware: scammers send texts like "{_SCAM_EN}".',
        f"Fraudsters may say {_SCAM_EN}; report it to your bank.",
        "Wij zullen u nooit vragen om uw pincode of om geld over te maken naar een veilige rekening.",
        "We will never ask for your PIN or ask you to move money to a safe account.",
        "Pas op voor berichten over een kluisrekening of een tikkie.",
    ],
)
def test_cues_in_a_quoted_warning_are_quoted(text: str) -> None:
    cues = find_cues(text)
    _assert_offsets(text, cues)
    assert cues and all(c.quoted for c in cues), [(c.text, c.quoted) for c in cues]


def test_only_the_warning_sentence_or_the_quote_is_quoted() -> None:
    text = f'Pas op voor "{_SCAM_NL}". Gegarandeerd rendement bij ons, vandaag nog!'
    quoted = {c.text: c.quoted for c in find_cues(text)}
    assert quoted["veilige rekening"] is True
    assert quoted["Gegarandeerd rendement"] is False and quoted["vandaag nog"] is False


def test_apostrophes_inside_words_do_not_make_quotes() -> None:
    text = "Zo'n auto's en m'n geld: maak het over naar een veilige rekening, 's avonds."
    assert not any(c.quoted for c in find_cues(text))


@pytest.mark.parametrize(
    "text",
    ["." * 100_000, "!" * 100_000, "!)" * 50_000, '"' * 100_000, "'a" * 50_000, " 'a" * 33_333, "‘" * 100_000,
     "“a" * 50_000, "„" * 100_000, "а" * 100_000, "аb " * 33_333, "Ва Пр " * 16_666, "а " + "b" * 100_000,
     "\u200b" + "G " * 50_000, "LET OP " * 14_285],
    ids=lambda text: repr(text[:12]),
)
def test_normalisation_and_quotes_stay_linear_on_adversarial_input(text: str) -> None:
    start = time.perf_counter()
    cues = find_cues(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 20.0, f"{elapsed:.2f} s"
    _assert_offsets(text, cues[:1000])
