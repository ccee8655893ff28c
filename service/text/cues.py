"""Scam-cue extraction: which typical scam phrases a text contains, and exactly where.

The model's score is the decision; this module only explains it. A reviewer (or the end user) gets a list of
character spans such as "gegarandeerd rendement" (return_promise) or "kluisrekening" (safe_account_transfer),
so a high score can be checked against the text instead of trusted blindly. Because it is an explanation and
not a classifier, the extractor reports *vocabulary*, not intent: a genuine bank warning "wij vragen nooit om
uw pincode" still shows a code_credential_request cue, and judging the sentence as a whole is the model's job.
Likewise any URL or bare domain ("ing-veilig.nl", "bit.ly/x") is a payment_link cue on its own: in a scam
message every link leads to a payment, login or contact funnel, and which one is not visible in the text.

Design:

* One table, `_RULES`, maps each cue kind to a tuple of rules, each written as a commented regex source. In
  those sources a literal space means "one or more whitespace characters" (see `_rule`), so phrases read as
  phrases and still match across line breaks and double spaces. Each kind's rules are compiled into one
  alternation (`_PATTERNS`), so a text is scanned once per kind, in C: about 1.5 ms for 1,000 characters.
* Matching runs on a *folded* copy of the text: diacritics stripped (geïnvesteerd -> geinvesteerd),
  compatibility forms unified (full-width letters, curly quotes, non-breaking spaces) and zero-width
  characters dropped (a common filter-evasion trick). Patterns are therefore written without diacritics.
  An index map sends every match back to the ORIGINAL string, so `cue.text == text[cue.start:cue.end]`.
* Case: most rules run on the lower-cased folded text (so they are case-insensitive, Unicode-aware). A few are
  `cased` and run on the case-preserving folded text where case carries the meaning: the acronym PIN, a
  capitalised personal name, a domain's TLD ("ing.nl" or "ING.NL" but not "gedaan.Com").
* Obfuscation: the patterns also run on `service.text.normalize`'s normalised text (the text the model
  reads: look-alike letters folded, letter-spaced words joined, shouting lower-cased), and what they find there
  is mapped back to the original text, so "rеkеning" with Cyrillic "е" or "b.i.t.c.o.i.n" is still a cue
  whose span indexes the submitted text. Both passes' spans are merged per kind.
* Quoted: a text that warns about, reports or quotes a scam is not a scam, so every cue says whether it is
  `quoted`: inside quotation marks ("...", '...', “...”, ‘...’, „...“, «...») or in a sentence with a warning or
  report marker ("let op", "pas op", "waarschuwt", "oplichters", "trap er niet in", "nooit", "warns",
  "never ask", "scammers", "beware", "be careful", "fraudsters", "report", ...). A heuristic, by design: a
  scam ad's quoted fake testimonial is quoted too, and a marker can sit in a scam ("nooit meer geldzorgen").
  The flag tells a reviewer where the words stand; it does not change the score.
* Safety against adversarial input: no nested unbounded quantifiers and every gap between words is bounded
  (`(?:\\w+ ){0,3}?`, `[\\s\\S]{0,80}?`, DNS labels of at most 63 characters, at most six of them), so each
  attempt is linear in what it reads; the tests check 100k-character adversarial strings.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from service.text.normalize import NormalizedText, normalize

__all__ = ["CUE_KINDS", "Cue", "cue_kinds", "find_cues"]

CUE_KINDS: tuple[str, ...] = (
    "return_promise",
    "urgency",
    "celebrity_endorsement",
    "crypto_trading_bot",
    "safe_account_transfer",
    "code_credential_request",
    "payment_link",
    "impersonation",
)

_KIND_ORDER = {kind: i for i, kind in enumerate(CUE_KINDS)}


@dataclass(frozen=True)
class Cue:
    """One scam cue: its kind and its span [start, end) in the original, unfolded input text. `quoted` is true
    when the cue stands in quotation marks or in a sentence that warns about or reports a scam (a heuristic;
    see the module docstring)."""

    kind: str
    start: int
    end: int
    text: str
    quoted: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KIND_ORDER:
            raise ValueError(f"unknown cue kind {self.kind!r}; expected one of {CUE_KINDS}")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid cue span [{self.start}, {self.end})")

    def to_dict(self) -> dict[str, str | int | bool]:
        """JSON-ready form, so the API can return cues beside the score without knowing this class."""
        return {"kind": self.kind, "start": self.start, "end": self.end, "text": self.text, "quoted": self.quoted}


# --------------------------------------------------------------------------------------------------------
# Rules: regex sources in a table, one compiled alternation per kind
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """A rule source with options; a plain string in the table means `_Spec(source)`."""

    source: str
    # Run on the case-preserving folded text; the source itself says where case does not matter (`(?i:...)`).
    cased: bool = False


@dataclass(frozen=True)
class _Rule:
    kind: str
    source: str  # spaces already turned into \s+; lower-cased unless `cased`
    cased: bool


def _lower_source(src: str) -> str:
    """Lower-case a regex source's literals while keeping escapes such as `\\W`, `\\S` and `\\D` intact."""
    out: list[str] = []
    i = 0
    while i < len(src):
        if src[i] == "\\":
            out.append(src[i : i + 2])
            i += 2
        else:
            out.append(src[i].lower())
            i += 1
    return "".join(out)


def _rule(kind: str, spec: str | _Spec) -> _Rule:
    """One table entry; each literal space in the source becomes `\\s+`."""
    if isinstance(spec, str):
        spec = _Spec(spec)
    if re.search(r" [?*+{]", spec.source):
        raise ValueError(f"a space means \\s+ in rule sources; write \\s? or \\s* instead: {spec.source!r}")
    source = spec.source.replace(" ", r"\s+")
    return _Rule(kind, source if spec.cased else _lower_source(source), spec.cased)


def _compile(kind: str, *specs: str | _Spec) -> tuple[_Rule, ...]:
    return tuple(_rule(kind, spec) for spec in specs)


def _alt(*phrases: str) -> str:
    """A non-capturing alternation of phrases (which may themselves contain regex syntax)."""
    return "(?:" + "|".join(phrases) + ")"


# Amounts: "500", "1.000", "1,000", "2.500,50". One bounded character class, so no backtracking blow-up.
_NUM = r"\d[\d.,]{0,12}"
_CURRENCY = r"(?:[€$£]|euros?\b|eur\b|usd\b|dollars?\b|pounds?\b|gbp\b)"
# "per dag", "a day", "/week", "in een maand".
_PER = r"(?:per|a|an|each|every|elke|iedere|p/|/|in een|in a|op een)"
_PERIOD = r"(?:dag|week|maand|uur|jaar|day|month|hour|year)\b"

# Organisations scammers claim to call or write on behalf of (banks, government, carriers, tech companies).
_BRANDS = _alt(
    r"ING",
    r"Rabo(?:bank)?",
    r"ABN(?:[\s-]?AMRO)?",
    r"SNS(?: Bank)?",
    r"ASN(?: Bank)?",
    r"RegioBank",
    r"Bunq",
    r"Knab",
    r"Triodos(?: Bank)?",
    r"Revolut",
    r"Van Lanschot",
    r"ICS",
    r"International Card Services",
    r"Belastingdienst",
    r"Toeslagen",
    r"PostNL",
    r"DHL",
    r"DPD",
    r"GLS",
    r"UPS",
    r"FedEx",
    r"politie",
    r"police",
    r"CJIB",
    r"DigiD",
    r"KPN",
    r"Ziggo",
    r"Vodafone",
    r"Odido",
    r"T-Mobile",
    r"Microsoft",
    r"Apple",
    r"Google",
    r"Amazon",
    r"PayPal",
    r"Marktplaats",
    r"Fraudehelpdesk",
    r"Betaalvereniging",
    r"DNB",
    r"AFM",
    r"UWV",
    r"SVB",
    r"DUO",
    r"deurwaarder",
    r"HMRC",
    r"IRS",
    r"HSBC",
    r"Barclays",
    r"Lloyds",
    r"NatWest",
    r"Santander",
    r"Nationwide",
    r"Monzo",
    r"Halifax",
    r"Chase",
    r"Wells Fargo",
    r"Bank of America",
    r"Royal Mail",
    r"Europol",
    r"Interpol",
    r"FBI",
    r"Coinbase",
    r"Binance",
)
# Generic organisation nouns: "uw bank", "de fraudeafdeling", "the fraud department", "tech support".
_ORG_NOUN = _alt(
    r"\w{0,20}?(?:bank|fraudeafdeling|veiligheidsafdeling|beveiligingsafdeling|veiligheidsdienst"
    r"|klantenservice|helpdesk)\b",
    r"(?:fraud|security|technical|tech|customer) (?:department|team|support|service|desk|unit)\b",
    r"\w{0,12}?politie\b",
)
_ORG = _alt(r"\b" + _BRANDS + r"\b", _ORG_NOUN)

# Public figures whose faces and names are used in fake news-article ads ("Linda de Mol onthult...").
# Written without diacritics: matching runs on folded text, so "René" and "Tiësto" match too.
_CELEBRITIES = _alt(
    # Dutch and Flemish television, music, sport and politics.
    r"Linda de Mol",
    r"Martin Garrix",
    r"Mark Rutte",
    r"Dick Schoof",
    r"Johan Derksen",
    r"Rene van der Gijp",
    r"Wilfred Genee",
    r"Humberto Tan",
    r"Eva Jinek",
    r"Jeroen Pauw",
    r"Matthijs van Nieuwkerk",
    r"Chantal Janzen",
    r"Arjen Lubach",
    r"Andre Hazes",
    r"Jan Smit",
    r"Marco Borsato",
    r"Armin van Buuren",
    r"Tiesto",
    r"Max Verstappen",
    r"Doutzen Kroes",
    r"Frans Bauer",
    r"Beau van Erven Dorens",
    r"Carlo Boszhard",
    r"Gordon Heuckeroth",
    r"Fred van Leer",
    r"Sven Kramer",
    r"Frans Timmermans",
    r"Geert Wilders",
    r"Gert Verhulst",
    r"Bart De Wever",
    r"Jeroen Meus",
    r"Philippe Geubels",
    # International business people, presenters and stars.
    r"Elon Musk",
    r"Bill Gates",
    r"Jeff Bezos",
    r"Warren Buffett?",
    r"Mark Zuckerberg",
    r"Richard Branson",
    r"Martin Lewis",
    r"Oprah(?: Winfrey)?",
    r"Cristiano Ronaldo",
    r"Lionel Messi",
    r"Keanu Reeves",
    r"Donald Trump",
    r"Christine Lagarde",
    r"Peter Jones",
    r"Deborah Meaden",
    r"Gordon Ramsay",
    r"Jeremy Clarkson",
    r"Holly Willoughby",
)
# Any capitalised personal name, Dutch particles allowed ("Jan Smit", "Frans van der Berg"), for cased rules:
# only with capitals is it a name. Both repeats are bounded.
_PERSON_NAME = (
    r"\b[A-Z][a-z]{1,20}(?: (?:van der |van den |van de |van |de |der |den |ter |ten |te )?[A-Z][a-z'-]{1,20}){1,2}"
)

# Bare-domain TLDs. Lower- or upper-case only ("ing.nl", "ING.NL"), never capitalised like a sentence start,
# so "gedaan.Com" from a missing space after a full stop does not count.
_TLDS_LIST = (
    "nl", "com", "net", "org", "eu", "uk", "io", "ai", "xyz", "top", "info", "online", "site", "ru", "app",
    "shop", "store", "club", "live", "cc", "biz", "link", "click", "icu", "vip", "tk", "ml", "ga", "cf", "gq",
    "pw", "su", "cn", "win", "bid", "loan", "support", "services", "finance", "money", "trade", "exchange",
    "digital", "cloud", "tech", "pro", "website", "buzz", "cyou", "sbs", "monster", "bond", "cfd", "lat",
    "mobi", "asia",
)  # fmt: skip
# TLDs that are also everyday words or abbreviations ("de", "be", "me", "to", "in"): only with a path.
_AMBIGUOUS_TLDS_LIST = (
    "be", "de", "me", "to", "co", "ly", "gd", "at", "in", "it", "is", "us", "fr", "es", "ch", "se", "no",
    "ws", "la", "ms", "st", "tv", "gl",
)  # fmt: skip


def _tld_group(tlds: tuple[str, ...], *, upper: bool = True) -> str:
    lower = "|".join(sorted(tlds, key=len, reverse=True))
    return f"(?:{lower}|{lower.upper()})" if upper else f"(?:{lower})"


# Up to six DNS labels of at most 63 characters each, so every attempt is bounded. A domain starts at a word
# boundary not preceded by "@" (the domain of an e-mail address), "." or "-" (the middle of a longer name).
_LABELS = r"\b(?<![@.-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.){1,6}"
_URL_CHAR = r"[^\s<>\"'()\[\]{}]"
# A URL path never ends in sentence punctuation: "ga naar ing.nl/login." must not take the full stop.
_URL_TAIL = _URL_CHAR + r"*[^\s<>\"'()\[\]{}.,;:!?]"

# Dutch actions that turn a following-up "direct"/"meteen" into urgency ("direct overmaken", "meteen betalen").
_URGENT_ACTS_NL = _alt(
    r"overmaken",
    r"overboeken",
    r"overzetten",
    r"betalen",
    r"actie",
    r"contact op(?:nemen)?",  # not the English "direct contact"
    r"reageren",
    r"(?:terug)?bellen",
    r"handelen",
    r"inloggen",
    r"ingrijpen",
    r"beginnen",
    r"starten",
    r"investeren",
    r"instappen",
    r"aanmelden",
    r"registreren",
    r"verifi\w{0,8}",
    r"bevestigen",
    r"storten",
    r"downloaden",
    r"installeren",
)
_ACCOUNT_NL = r"(?:\w+ )?(?:rekening|bankrekening|account|pas|bankpas|betaalpas|creditcard|digid|toegang|app)"
_BLOCKED_NL = (
    r"(?:geblokkeerd|afgesloten|opgeschort|bevroren|verwijderd|beeindigd|gedeactiveerd|stopgezet|opgeheven)\b"
)
_ACCOUNT_EN = r"(?:\w+ )?(?:account|card|access|profile|wallet)s?"
_BLOCKED_EN = r"(?:blocked|suspended|closed|locked|frozen|terminated|deactivated|restricted|disabled|cancell?ed)\b"

# --------------------------------------------------------------------------------------------------------
# The table: cue kind -> compiled patterns
# --------------------------------------------------------------------------------------------------------

_RULES: dict[str, tuple[_Rule, ...]] = {
    "return_promise": _compile(
        "return_promise",
        # "gegarandeerd rendement", "gegarandeerde winst", "gegarandeerd hoog rendement".
        r"\bgegarandeerde? (?:\w+ )?(?:rendement(?:en)?|winst(?:en)?|inkomsten|inkomen|opbrengst(?:en)?"
        r"|uitbetaling(?:en)?)\b",
        # "rendement gegarandeerd", "profits guaranteed".
        r"\b(?:rendement|winst|opbrengst|returns?|profits?|income) (?:\w+ )?(?:gegarandeerd|guaranteed)\b",
        # "garantie op winst", "winstgarantie".
        r"\bgarantie op (?:\w+ )?(?:winst|rendement|opbrengst|resultaat)\b",
        r"\b(?:winst|rendements?)garantie\b",
        # "guaranteed returns", "guaranteed monthly income".
        r"\bguaranteed (?:\w+ )?(?:returns?|profits?|income|payouts?|earnings|gains|results|winnings)\b",
        # "verdien €500 per dag", "earn $1,000 a day", "make up to 2.500 euro per week".
        r"\b(?:verdien(?:en|t|de)?|earn(?:s|ing|ed)?|mak(?:e|es|ing)|ontvang(?:en|t)?|receive|krijg|get) "
        r"(?:[^\W\d]+ ){0,3}?(?:" + _CURRENCY + r"\s?)?" + _NUM + r"(?:\s?k\b)?(?:\s?" + _CURRENCY + r")?"
        r"\s?" + _PER + r"\s?" + _PERIOD,
        # "tot €1.000 per dag", "up to $500 a day" without an earning verb.
        r"\b(?:tot|up to|wel|ruim|over|more than|meer dan) (?:" + _CURRENCY + r"\s?" + _NUM + r"|" + _NUM
        + r"(?:\s?k\b)?\s?" + _CURRENCY + r")\s?" + _PER + r"\s?" + _PERIOD,
        # "10% per week", "2% a day", "30% rendement per maand" (yearly rates are ordinary finance, left out).
        _Spec(
            r"\b\d{1,4}(?:[.,]\d{1,2})?\s?%\s?(?:rendement |winst |return |profit |interest |rente )?" + _PER
            + r"\s?(?:dag|week|maand|day|month)\b",
        ),
        # "rendement van 30%", "returns of 200%".
        r"\b(?:rendement|winst|returns?|profits?) (?:van|of) (?:wel |tot |up to |over )?\d{1,4}(?:[.,]\d{1,2})?\s?%",
        # "dubbel je geld", "verdubbel uw inleg", "double your money".
        r"\b(?:ver)?dubbel (?:je|uw|jouw) (?:\w+ )?(?:geld|inleg|investering|inzet|vermogen|spaargeld|winst)\b",
        r"\bdouble (?:your|their|my) (?:\w+ )?(?:money|investment|deposit|savings|crypto|bitcoin|income|capital)\b",
        r"\b(?:geld|inleg|investering|vermogen) (?:\w+ )?(?:verdubbelen|verdubbeld|verdrievoudigen)\b",
        r"\b(?:money|investment|deposit) (?:\w+ )?(?:doubled|tripled)\b",
        # "passief inkomen", "passive income", "financiële vrijheid", "financial freedom".
        r"\bpassie(?:f|ve) inkomen\b",
        r"\bpassive income\b",
        r"\bfinanciele (?:vrijheid|onafhankelijkheid)\b",
        r"\bfinancial (?:freedom|independence)\b",
        # "zonder risico", "risicoloos", "risk-free", "no risk".
        r"\bzonder (?:enig |enige )?risico'?s?\b",
        r"\brisico(?:loos|loze|vrij|vrije)\b",
        r"\brisk[\s-]?free\b",
        r"\b(?:no|zero|without any|without) risks?\b(?! of\b)",  # not "no risk of rain"
        # "100% veilig", "100% guaranteed".
        r"\b100\s?% (?:veilig|zeker|gegarandeerd|safe|guaranteed|risk[\s-]?free|winst|profit)\b",
        # "snel rijk", "rijk worden", "get rich quick", "make money fast", "easy money".
        r"\b(?:snel|makkelijk|gemakkelijk) (?:rijk|geld verdienen)\b",
        r"\brijk worden\b",
        r"\bget rich\b",
        r"\b(?:make|earn) (?:easy |quick |fast )?money (?:fast|quickly|from home|online|while you sleep)\b",
        r"\b(?:easy|quick|fast) money\b",
        r"\bgeld verdienen (?:vanuit huis|thuis|online|terwijl je slaapt)\b",
        # "hoog rendement", "enorme winsten", "huge returns".
        r"\b(?:hoog|hoge|enorme?|extreme?|extreem|gigantische?|high|huge|massive|enormous) (?:\w+ )?"
        r"(?:rendement(?:en)?|returns|profits?|winst(?:en)?)\b",
    ),
    "urgency": _compile(
        "urgency",
        # "vandaag nog", "nog vandaag", "alleen vandaag".
        r"\bvandaag nog\b",
        r"\bnog vandaag\b",
        r"\balleen (?:vandaag|nu|deze week|dit weekend)\b",
        # "binnen 24 uur", "binnen twee dagen".
        r"\bbinnen (?:\d{1,3}|een|twee|drie|vier|vijf) (?:uur|minuten|min|dagen|werkdagen)\b",
        # "nu meteen", "per direct", "onmiddellijk".
        r"\b(?:nu|nou) (?:meteen|direct|onmiddellijk|gelijk)\b",
        r"\bper direct\b",
        r"\bonmiddellijke?\b",
        # "direct" or "meteen" only as urgency when an action follows: "direct overmaken", "meteen betalen".
        r"\b(?:direct|meteen) " + _URGENT_ACTS_NL + r"\b",
        # ... or an imperative precedes: "betaal direct", "neem direct contact op", "bel ons meteen".
        # Not after "ik"/"we": "ik bel je meteen terug" is a promise, not pressure.
        r"\b(?<!\bik\s)(?<!\bwe\s)(?:betaal|maak|boek|reageer|bel|neem|handel|klik|log|meld|verifieer|bevestig"
        r"|stort|investeer|registreer|installeer|download) (?:\w+ ){0,2}?(?:direct|meteen|onmiddellijk)\b",
        # "zo snel mogelijk", "z.s.m.".
        r"\bzo (?:snel|spoedig) mogelijk\b",
        r"\bz\.?s\.?m\b",
        # "laatste kans", "laatste waarschuwing".
        r"\blaatste (?:kans|waarschuwing|herinnering|aanmaning|oproep|mogelijkheid)\b",
        # Scarcity: "beperkt aantal plaatsen", "nog maar 3 plekken vrij", "op=op".
        r"\bbeperkte? (?:aantal (?:plaatsen|plekken)|tijd|aanbod|beschikbaarheid|plaatsen)\b",
        r"\bnog (?:maar |slechts |enkele |een paar )?(?:\d{1,4} )?(?:plaatsen|plekken|spots) "
        r"(?:vrij|beschikbaar|over)\b",
        r"\bop\s?=\s?op\b",
        # Deadlines: "verloopt vandaag", "eindigt om middernacht", "tijdelijk aanbod".
        r"\b(?:verloopt|vervalt|eindigt|sluit) (?:\w+ )?(?:vandaag|vanavond|morgen|binnenkort|om middernacht"
        r"|over \d{1,3} (?:uur|minuten|dagen))\b",
        r"\b(?:tijdelijke?|eenmalige?) (?:aanbod|aanbieding|actie|kans)\b",
        # "spoed", "dringend", "urgent" (also English).
        r"\b(?:spoed(?:eisend|geval|opdracht)?|dringende?|urgent(?:ly)?)\b",
        r"\b(?:wacht niet (?:langer|te lang)|niet langer wachten)\b",
        r"\bvoordat het te laat is\b",
        # Threats: "uw rekening wordt geblokkeerd", "anders wordt uw rekening binnen 24 uur geblokkeerd".
        r"\b(?:uw|je|jouw) " + _ACCOUNT_NL + r" (?:wordt|is|zal|worden|word|gaat) (?:\w+ ){0,3}?" + _BLOCKED_NL,
        r"\b(?:anders |zo niet,? )?(?:wordt|worden|zal|zullen|gaat) (?:uw|je|jouw) " + _ACCOUNT_NL
        + r" (?:\w+ ){0,3}?" + _BLOCKED_NL,
        # English: "act now", "immediately", "immediate action".
        r"\bact (?:now|fast|quickly|immediately|today)\b",
        r"\bimmediately\b",
        r"\bimmediate (?:action|response|payment|attention|transfer)\b",
        # "within 24 hours", "expires today", "today only", "last chance", "final notice".
        r"\bwithin (?:\d{1,3}|one|two|three) (?:hours?|hrs?|minutes?|mins?|days?)\b",
        r"\b(?:expires?|expiring|ends|closes) (?:\w+ )?(?:today|tonight|tomorrow|soon|at midnight"
        r"|in \d{1,3} (?:hours?|minutes?|days?))\b",
        r"\b(?:today|tonight) only\b",
        r"\blast chance\b",
        r"\bfinal (?:notice|warning|reminder|chance|call)\b",
        # Scarcity: "limited time", "only 3 spots left", "don't miss out".
        r"\blimited[\s-]time\b",
        r"\blimited (?:spots|places|seats|offer|availability)\b",
        r"\bonly \d{1,4} (?:spots|places|seats|slots|positions) (?:left|remaining|available)\b",
        r"\bdon'?t miss (?:out|this)\b",
        r"\btime is running out\b",
        r"\bbefore it'?s too late\b",
        r"\b(?:do not|don'?t) delay\b",
        r"\bas soon as possible\b",
        r"\basap\b",
        # "your account will be blocked", "your bank account has been suspended".
        r"\byour " + _ACCOUNT_EN + r" (?:will be|has been|have been|is being|is|was|gets|will get) "
        r"(?:\w+ ){0,2}?" + _BLOCKED_EN,
    ),
    "celebrity_endorsement": _compile(
        "celebrity_endorsement",
        # Curated names of people abused in fake endorsements.
        r"\b" + _CELEBRITIES + r"(?!\w)",
        # A capitalised name followed by an investing / revealing verb: "Jan Smit heeft geïnvesteerd".
        _Spec(
            _PERSON_NAME + r" (?i:heeft|has|had) (?:\w+ ){0,2}?(?i:geinvesteerd|belegd|invested|onthuld|revealed"
            r"|aanbevolen|endorsed)\b",
            cased=True,
        ),
        _Spec(
            _PERSON_NAME + r" (?i:investeert|belegt|onthult|verklapt|reveals|invests|endorses|zweert bij"
            r"|swears by)\b",
            cased=True,
        ),
        # "zoals gezien op", "as seen on", "bekend van RTL" (not "zoals bekend", which just means "as known").
        r"\bzoals gezien (?:op|bij|in)\b",
        r"\bas (?:seen|featured|heard) (?:on|in)\b",
        r"\bbekend van (?:de )?(?:tv|televisie|radio|rtl\w{0,12}|sbs\w{0,3}|npo\w{0,3}|net5|veronica|jinek|op1"
        r"|shark tank|dragon'?s'? den)\b",
        r"\b(?:endorsed by|aangeprezen door)\b",
        # The TV formats whose logos appear in investment ads.
        r"\bdragon'?s'? den\b",
        r"\bshark tank\b",
        # "investeert ook", "onthult haar geheim", "reveals his secret", "het geheim van Linda".
        r"\b(?:investeert|investeerde|belegt|belegde) ook\b",
        r"\b(?:onthult|onthulde|deelt|verklapt|verklapte|reveals|revealed|shares|shared|exposes|exposed) "
        r"(?:zijn|haar|hun|his|her|their|het|the|this) (?:\w+ )?(?:geheim|secret)\w{0,2}",
        r"\b(?:het )?geheim (?:van|achter) (?:zijn |haar |het )?(?:succes|rijkdom|vermogen|fortuin|miljoenen)\b",
        _Spec(r"\b[gG]eheim (?:van|achter) [A-Z][a-z]{1,20}\b", cased=True),
        r"\bsecret (?:of|behind) (?:his |her |their )?(?:success|wealth|fortune|millions)\b",
        # "bekende Nederlander", "BN'er", "celebrities".
        r"\bbekende nederlanders?\b",
        r"\bBN'?ers?\b",
        r"\bcelebrit(?:y|ies)\b",
        r"\bberoemdhe(?:id|den)\b",
    ),
    "crypto_trading_bot": _compile(
        "crypto_trading_bot",
        # Coins and exchanges: "bitcoin", "crypto", "cryptomunten", "ethereum", "USDT".
        r"\bbitcoins?\b",
        r"\bcrypto(?!gra)\w{0,20}",
        r"\b(?:btc|usdt|ethereum|dogecoin|litecoin|tether|solana|altcoins?|memecoins?|blockchain|binance"
        r"|coinbase)\b",
        # Robots and automation: "trading bot", "handelsrobot", "AI-trading", "automatisch handelen".
        r"\btrading[\s-]?(?:bot|robot|algoritme|algorithm|software|app|platform|signal)s?\b",
        r"\bhandels(?:robot|bot|platform|software|algoritme)s?\b",
        r"\b(?:ai|a\.i\.)[\s-]?(?:trading|handel|trader|bot|robot|belegg\w{0,6}|invest\w{0,8})",
        r"\bauto(?:matisch|matic|mated)?[\s-]?(?:handelen|trading|traden|trade|beleggen|investing)\b",
        # "forex", "forex signalen".
        r"\bforex(?: (?:signalen|signals|trading|handel|bot|robot))?\b",
        r"\bcloud[\s-]?mining\b",
        # Fake platforms named in ads: "Quantum AI", "Bitcoin Era", "Immediate Edge".
        r"\b(?:quantum (?:ai|prime|code|system|trading)|immediate (?:edge|connect|momentum|fortune|matrix|peak"
        r"|\d{2,4}\w{0,4})|bitcoin (?:era|code|prime|up|superstar|trader|revolution|evolution|profit|loophole"
        r"|360)|crypto (?:engine|genius|boom)|ethereum code|profit revolution|bit\s?(?:alpha|qt) ai|yuan pay"
        r"|oil profit|nft profit|finance phantom)\b",
    ),
    "safe_account_transfer": _compile(
        "safe_account_transfer",
        # "veilige rekening", "beveiligde spaarrekening", "tijdelijke rekening".
        r"\b(?:veilige|beveiligde|tijdelijke|afgeschermde|beschermde|speciale|gecontroleerde) "
        r"(?:spaar|bank|tussen|reserve)?rekening\w{0,8}",
        # "kluisrekening", "veiligheidsrekening".
        r"\b(?:kluis|veiligheids|tussen|buffer)rekening\w{0,8}",
        # "safe account", "secure holding account".
        r"\b(?:safe|secure|secured|protected|holding|temporary|safety|safeguard|ring[\s-]?fenced) "
        r"(?:bank |savings )?accounts?\b",
        # "overboeken naar (de veilige rekening)", "overmaken op".
        r"\bover(?:boeken|maken|zetten|schrijven|geboekt|gemaakt|gezet) (?:naar|op)\b"
        r"(?: (?:een|de|het|uw|je) (?:\w+ )?(?:rekening|account|kluis)\w{0,8})?",
        # "door het over te boeken naar", "om het over te maken op".
        r"\bover te (?:boeken|maken|zetten|schrijven) (?:naar|op)\b",
        # "maak uw spaargeld over naar", "zet je geld over op"; not "ik maak het geld morgen over naar je".
        r"\b(?<!\bik\s)(?<!\bwe\s)(?:maak|boek|zet|schrijf) (?:\w+ ){0,4}?over (?:naar|op)\b",
        # "uw geld veiligstellen", "je spaargeld in veiligheid brengen".
        r"\b(?:uw|je|jouw|het|al uw|al je) (?:geld|spaargeld|saldo|vermogen|tegoed|centen|pensioen) "
        r"(?:\w+ ){0,2}?(?:veilig\s?(?:te )?stellen|veiliggesteld|in veiligheid (?:te )?brengen|beschermen"
        r"|overzetten|overboeken|overmaken|verplaatsen)\b",
        r"\b(?:veilig\s?(?:te )?stellen|veiliggesteld)\b",
        # "transfer your money to", "move your savings", "protect your funds".
        r"\b(?:transfer|move|send|wire|shift|relocate) (?:all )?(?:of )?your (?:\w+ )?"
        r"(?:money|savings|funds|balance|pension|deposits?|cash)\b",
        r"\b(?:protect|secure|safeguard) (?:your|the) (?:\w+ )?(?:money|savings|funds|balance)\b",
        r"\bkeep (?:your|the) (?:money|savings|funds) safe\b",
    ),
    "code_credential_request": _compile(
        "code_credential_request",
        # "pincode", "pin-code", "PIN" (upper case only: "pin" is also a hair pin), "uw pin".
        r"\bpin[\s-]?codes?\b",
        _Spec(r"\bPIN\b", cased=True),
        r"\b(?:uw|je|jouw|your) pin\b",
        # "inlogcode", "verificatiecode", "sms-code", "identificatiecode", "eenmalige code".
        r"\b(?:inlog|verificatie|bevestigings|beveiligings|sms|activatie|activerings|identificatie|toegangs"
        r"|respons|transactie|herstel|controle|koppel|eenmalige)[\s-]?codes?\b",
        # "security code", "one-time password", "OTP", "2FA".
        r"\b(?:security|verification|authentication|authori[sz]ation|auth|login|log[\s-]?in|access|sms|text"
        r"|2fa|two[\s-]factor|confirmation|activation|one[\s-]?time) codes?\b",
        r"\bone[\s-]?time (?:password|passcode|pin|pass)\b",
        r"\bpasscodes?\b",
        r"\b(?:otp|2fa|mfa)s?\b",
        # "DigiD", "wachtwoord", "password", "inloggegevens", "login details".
        r"\bdigid\b",
        r"\bwachtwoord\w{0,4}",
        r"\bpasswords?\b",
        r"\b(?:inlog|log[\s-]?in|login|bank|account|rekening|pas|kaart|card)[\s-]?(?:gegevens|details|credentials)\b",
        r"\b(?:cvv|cvc)2?\b",
        r"\bcard number\b",
        # Bank tokens: "e.dentifier", "Rabo Scanner".
        r"\be\.?dentifier\d?\b",
        r"\brabo\s?scanner\b",
        # "scan de QR-code", "QR-code scannen", "scan this QR code".
        r"\bscan (?:\w+ ){0,2}?qr[\s-]?codes?\b",
        r"\bqr[\s-]?codes? (?:\w+ ){0,2}?(?:scannen|scan)\b",
        # Card hand-over: "bankpas ophalen", "pas opsturen", "uw pas doorknippen", "courier will collect".
        r"\b(?:(?:bank|betaal|credit|debit|pin)pas(?:je|sen)?|(?:uw|je|jouw) (?:bank)?pas(?:je)?) (?:\w+ ){0,3}?"
        r"(?:opsturen|opgestuurd|op te sturen|ophalen|opgehaald|op te halen|inleveren|ingeleverd|afgeven"
        r"|afgegeven|meegeven|versturen|verstuurd|doorknippen|doorgeknipt|knippen|overhandigen)\b",
        r"\bpas(?:je)? (?:opsturen|ophalen|inleveren|afgeven|doorknippen)\b",
        r"\b(?:send|give|hand over|post|mail|collect) (?:\w+ ){0,2}?(?:bank|debit|credit|payment) cards?\b",
        r"\b(?:courier|koerier) (?:\w+ ){0,4}?(?:bank|debit|credit|betaal)?(?:pas|passen|cards?|kaart)\b",
        # Asking for the code outright: "geef me de code", "give me the code", "read out the code".
        r"\b(?:geef|noem|lees|stuur|deel|vertel|zeg|typ|tik|give|tell|read|send|share|forward|text) "
        r"(?:\w+ ){0,3}?(?:codes?|pin)\b",
        r"\bcode (?:die|dat) (?:u|je|jij) (?:\w+ ){0,3}?(?:ontvangt|ontvangen|krijgt|gekregen|binnenkrijgt|ziet)\b",
        r"\bcode (?:that |which )?(?:we|i) (?:just )?(?:sent|texted)\b",
        r"\bcode (?:you|u) (?:just )?(?:received|got|receive|get)\b",
        # Wallet secrets: "seed phrase", "herstelzin", "private key".
        r"\b(?:seed|recovery|herstel)[\s-]?(?:phrase|zin|woorden|words)\b",
        r"\bprivate keys?\b",
        r"\bprivesleutels?\b",
        # Remote-access apps that hand over the banking session: "AnyDesk", "TeamViewer", "schermdelen".
        r"\b(?:anydesk|teamviewer|quick\s?support|rustdesk|ultraviewer)\b",
        r"\b(?:scherm\s?delen|screen\s?shar(?:e|ing))\b",
        # Identity documents: "BSN", "kopie van uw paspoort", "photo of your ID".
        r"\b(?:bsn|burgerservicenummer)\b",
        r"\b(?:kopie|foto|scan) van (?:uw|je|jouw) (?:id\b|identiteitsbewijs|paspoort|rijbewijs|id-kaart|id-bewijs)",
        r"\b(?:copy|photo|picture|scan) of your (?:id\b|passport|driving licen[cs]e|driver'?s licen[cs]e|identity)",
    ),
    # A URL on its own counts as a payment_link cue: in a scam message every link leads to a payment, login or
    # contact funnel, and the extractor cannot tell which. Scoring that is the model's job.
    "payment_link": _compile(
        "payment_link",
        # Full URLs, also defanged "hxxp://".
        r"\bh(?:tt|xx)ps?://" + _URL_TAIL,
        # "www.example.nl/...".
        r"\bwww\d{0,3}\." + _URL_TAIL,
        # Bare domains with a common (or scam-favourite) TLD: "ing-veilig.nl", "bonus-crypto.xyz/claim".
        _Spec(
            _LABELS + _tld_group(_TLDS_LIST) + r"\b(?!\.\w)(?:/" + _URL_TAIL + r")?",
            cased=True,
        ),
        # Ambiguous TLDs count only with a path: "bpost.be/track" yes, a typo "huis.de volgende" no.
        _Spec(
            _LABELS + _tld_group(_AMBIGUOUS_TLDS_LIST) + r"/" + _URL_TAIL,
            cased=True,
        ),
        # Link shorteners and chat deep links: "bit.ly/3xYz", "tinyurl.com/...", "wa.me/316...".
        r"\b(?<![@.-])(?:bit\.ly|tinyurl\.com|t\.co|is\.gd|goo\.gl|ow\.ly|cutt\.ly|rb\.gy|shorturl\.at|s\.id"
        r"|tiny\.cc|rebrand\.ly|bl\.ink|wa\.me|t\.me)\b(?:/" + _URL_TAIL + r")?",
        # Payment requests: "Tikkie", "betaalverzoek", "betaallink", "payment link", "iDEAL".
        r"\btikkies?\b",
        r"\bbetaalverzoek\w{0,3}\b",
        r"\bbetaallinks?\b",
        r"\bpayment (?:link|request)s?\b",
        _Spec(r"\b(?:iDEAL|IDEAL)\b", cased=True),
        # "betaal via deze link", "pay via this link", "klik op de link", "click the link", "klik hier".
        r"\b(?:betaal|betalen|pay|paying) (?:\w+ ){0,2}?(?:via|through|using|met|with) (?:deze|de|die"
        r"|onderstaande|this|the|that|below|following) (?:\w+ )?link\b",
        r"\b(?:klik|click|tap|tik|druk|open|gebruik|use|follow|volg) (?:\w+ ){0,3}?link\b",
        r"\b(?:klik|click|tap|tik|druk) (?:hier|here)\b",
        r"\bvia (?:deze|de|onderstaande|this|the) (?:betaal)?link\b",
    ),
    "impersonation": _compile(
        "impersonation",
        # "namens de ING", "namens uw bank", "namens de Belastingdienst", "namens de politie".
        r"\bnamens (?:de |het |uw |je )?" + _ORG,
        # "ik bel (u) van/namens de Rabobank", "ik bel vanuit de fraudeafdeling".
        r"\bik bel (?:u |je |jou )?(?:namens|van|vanuit) (?:de |het |uw |je )?(?:\w+ ){0,2}?" + _ORG,
        # "u spreekt met Peter van de fraudeafdeling van ING".
        r"\bu spreekt met (?:\w+ ){0,4}?van (?:de |het |uw )?(?:\w+ ){0,2}?" + _ORG,
        # "met Jan van de veiligheidsdienst", "ik ben Sandra van de fraudeafdeling".
        r"\b(?:met|hier is|dit is|ik ben) (?:\w+ ){0,3}?van (?:de |het )?(?:fraude|veiligheids|beveiligings"
        r"|security|klantenservice)\w{0,12}",
        # Department names scammers claim to be: "fraudeafdeling", "veiligheidsdienst", "fraud department".
        r"\b(?:fraude|veiligheids|beveiligings)[\s-]?(?:afdeling|team|dienst|desk|specialist|medewerker)\w{0,2}",
        r"\bfraud (?:department|team|prevention(?: (?:team|department|unit))?|unit|investigations? team"
        r"|specialist|analyst)s?\b",
        r"\bsecurity (?:team|department)\b",
        # "medewerker van de Rabobank", "bankmedewerker", "bank employee".
        r"\bmedewerker van (?:de |het |uw )?" + _ORG,
        r"\bbankmedewerkers?\b",
        r"\bbank (?:employee|official|representative|officer)s?\b",
        # "this is Mark from your bank", "I'm calling from the fraud department", "on behalf of HMRC".
        r"\b(?:this is|my name is|i'?m|i am|it'?s) (?:\w+ ){0,3}?(?:calling )?from (?:the |your )?(?:\w+ ){0,2}?"
        + _ORG,
        r"\b(?:calling|contacting you|writing to you|we are|we'?re) (?:you )?(?:from|on behalf of) "
        r"(?:the |your )?(?:\w+ ){0,2}?" + _ORG,
        r"\bon behalf of (?:the |your )?" + _ORG,
        # Family-member scam: "Hoi mam, dit is mijn nieuwe nummer", "Hi mum, my phone broke".
        r"\b(?:hoi|hey|hallo|hi|hee|hello|dag|ha) (?:mam|pap|mama|papa|mamma|pappa|moeder|vader|mum|mom|mummy"
        r"|mommy|dad|daddy)\b[\s\S]{0,80}?\b(?:nummer|telefoon|mobiel|number|phone|mobile)\b",
        r"\b(?:mijn )?nieuwe? (?:telefoon|mobiele )?nummer\b",
        r"\bnew (?:phone |mobile )?number\b",
        r"\bmijn (?:telefoon|mobiel|gsm) is (?:kapot|stuk|gevallen|gestolen|in het water gevallen|kwijt|verloren)\b",
        r"\bmy phone (?:is broken|broke|is dead|died|fell|was stolen|got stolen|is damaged|is lost|got wet)\b",
    ),
}

assert tuple(_RULES) == CUE_KINDS, "every cue kind needs exactly one rule table, in CUE_KINDS order"


def _kind_patterns() -> tuple[tuple[str, bool, re.Pattern[str], tuple[re.Pattern[str], ...]], ...]:
    """Per kind and case mode: one alternation to find where matches start (the regex engine scans the text
    once per kind, in C) and the single rules, to take the longest match there rather than the first
    alternative's ("Bitcoin Era", not "Bitcoin")."""
    patterns = []
    for kind, rules in _RULES.items():
        for cased in (False, True):
            sources = [rule.source for rule in rules if rule.cased == cased]
            if sources:
                combined = re.compile("|".join(f"(?:{src})" for src in sources))
                patterns.append((kind, cased, combined, tuple(re.compile(src) for src in sources)))
    return tuple(patterns)


_PATTERNS = _kind_patterns()


# --------------------------------------------------------------------------------------------------------
# Folding: diacritics, compatibility forms and zero-width characters, with a map back to the original
# --------------------------------------------------------------------------------------------------------

# Characters NFKD leaves alone but that should match their ASCII look-alikes in patterns.
_SPECIAL_FOLDS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": ".",  # an ellipsis is common in chat; one character keeps offsets 1:1 (NFKD would give three)
    # Latin letters NFKD does not decompose.
    "\u0131": "i", "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u0127": "h", "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
}  # fmt: skip
# Invisible characters inserted to split words past keyword filters ("bit\u200bcoin").
_DROPPED = frozenset("\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """Fold one non-ASCII character; may return "" (dropped) or several characters (ligatures)."""
    special = _SPECIAL_FOLDS.get(ch)
    if special is not None:
        return special
    if ch in _DROPPED:
        return ""
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))


def _fold(text: str) -> tuple[str, list[int] | None]:
    """Return the folded text and, when lengths differ, the original index of every folded character."""
    if text.isascii():
        return text, None
    changed = {ch: folded for ch in set(text) if ch >= "\x80" and (folded := _fold_char(ch)) != ch}
    if not changed:  # e.g. only emoji
        return text, None
    if all(len(folded) == 1 for folded in changed.values()):  # 1:1, offsets unchanged
        if len(changed) <= 16:  # a few accented letters: str.replace beats translate's per-character lookups
            for ch, folded in changed.items():
                text = text.replace(ch, folded)
            return text, None
        return text.translate({ord(ch): folded for ch, folded in changed.items()}), None
    positions = sorted(i for ch in changed for i in _find_all(text, ch))
    pieces: list[str] = []
    index: list[int] = []
    last = 0
    for i in positions:
        pieces.append(text[last:i])
        index.extend(range(last, i))
        folded = changed[text[i]]
        pieces.append(folded)
        index.extend([i] * len(folded))
        last = i + 1
    pieces.append(text[last:])
    index.extend(range(last, len(text)))
    return "".join(pieces), index


def _find_all(text: str, ch: str) -> Iterator[int]:
    i = text.find(ch)
    while i >= 0:
        yield i
        i = text.find(ch, i + 1)


def _original_span(start: int, end: int, index: list[int] | None, text: str) -> tuple[int, int]:
    if index is None:
        return start, end
    orig_start = index[start]
    orig_end = index[end - 1] + 1
    # Keep combining marks that belong to the last matched letter ("e" + U+0301 stays whole).
    while orig_end < len(text) and unicodedata.combining(text[orig_end]):
        orig_end += 1
    return orig_start, orig_end


# --------------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------------

def _matches(folded: str, lowered: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of every rule match, in folded-text offsets; overlaps are merged by the caller.

    Case-insensitive rules are lower-cased sources run on the lower-cased text, which is cheaper than
    re.IGNORECASE; cased rules run on the case-preserving folded text.
    """
    for kind, cased, combined, singles in _PATTERNS:
        haystack = folded if cased else lowered
        for m in combined.finditer(haystack):
            start = m.start()
            ends = [found.end() for single in singles if (found := single.match(haystack, start)) is not None]
            end = max(ends, default=m.end())
            if end > start:
                yield kind, start, end


# --------------------------------------------------------------------------------------------------------
# Quoted and warning context
# --------------------------------------------------------------------------------------------------------

# Quoted passages: straight or curly, double or single quotes, Dutch/German „...“ and guillemets. Each body is
# bounded, so an unpaired quote costs a bounded look-ahead. A straight or curly single quote opens only before
# a word and closes only after one; apostrophes inside words ("auto's", "don't") do not end the quote.
_QUOTED = re.compile(
    "|".join((
        r'"[^"]{1,600}"',
        r"\u201c[^\u201c\u201d]{1,600}[\u201d\u201c]",  # “...” (and “...“)
        r"\u201e[^\u201e\u201c\u201d]{1,600}[\u201c\u201d]",  # „...“ and „...”
        r"\u00ab[^\u00ab\u00bb]{1,600}\u00bb",  # «...»
        r"\u00bb[^\u00ab\u00bb]{1,600}\u00ab",  # »...«
        r"\u2039[^\u2039\u203a]{1,600}\u203a",  # ‹...›
        r"\u2018(?:[^\u2018\u2019]|\u2019(?=\w)){1,600}\u2019(?!\w)",  # ‘...’
        r"(?<!\w)'(?=\S)(?:[^'\n]|(?<=\w)'(?=\w)){1,600}'(?!\w)",  # '...'
    ))
)
# Words that make a sentence a warning about, or a report of, a scam rather than the scam itself.
_WARNING = re.compile(
    r"\b(?:"
    # Dutch
    r"let op|pas op|opgelet|waarschuw\w*|oplicht\w*|opgelicht|fraudeurs?|criminelen|trap er niet in"
    r"|nooit|nep(?:bericht|mail|sms|telefoontje)\w*|valse (?:berichten|mails|sms)|phishing\w*|wees alert"
    r"|wees voorzichtig|meld (?:dit|het) bij|ik kreeg|ik ontving"
    # English
    r"|warn\w*|never (?:ask|share|give|send|request|call)\w*|will never|scammers?|fraudsters?|beware"
    r"|be careful|report(?:s|ed|ing)?|i (?:got|received) (?:a|an|this)"
    r")\b",
    re.IGNORECASE,
)
# A sentence ends at . ! ? or … (with closing quotes or brackets) before whitespace, or at a line break.
# Only the first of a run of marks may start a match, and possessive repeats never give back, so a long run of
# "!!!!" costs one pass, not one per character.
_SENTENCE_BREAK = re.compile(r"(?<![.!?\u2026])[.!?\u2026]++[\"'\u201d\u2019)\]]*+\s+|\n\s*")


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _QUOTED.finditer(text)]


def _is_quoted(
    start: int, end: int, quotes: list[tuple[int, int]], sentence_starts: list[int], warning_sentences: set[int]
) -> bool:
    """Inside a quoted passage, or in (or across) a sentence with a warning or report marker."""
    if any(q_start <= start and end <= q_end for q_start, q_end in quotes):
        return True
    first = bisect_right(sentence_starts, start) - 1
    last = bisect_right(sentence_starts, max(start, end - 1)) - 1
    return any(i in warning_sentences for i in range(first, last + 1))


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------


def _spans(text: str) -> dict[str, list[tuple[int, int]]]:
    """Every rule match per kind, as spans of `text` (not yet merged)."""
    folded, index = _fold(text)
    lowered = folded.lower()
    if len(lowered) != len(folded):  # pragma: no cover - only U+0130 lower-cases to two characters; folded away
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in folded)
    spans: dict[str, list[tuple[int, int]]] = {}
    for kind, start, end in _matches(folded, lowered):
        spans.setdefault(kind, []).append(_original_span(start, end, index, text))
    return spans


def find_cues(text: str, *, normalized: NormalizedText | None = None) -> list[Cue]:
    """Every scam cue in `text`, sorted by start; overlapping matches of one kind merge into one cue.

    The patterns run on `text` and on its normalised form (pass `normalized` if you have it already), so
    obfuscated cues are found too. Offsets index the original string, so `text[cue.start:cue.end] == cue.text`
    even when the text holds accents, emoji, zero-width or look-alike characters. A cue marks vocabulary, not
    intent (see the module docstring); `quoted` says when it stands in quotes or in a warning.
    """
    if not isinstance(text, str):
        raise TypeError(f"find_cues expects str, got {type(text).__name__}")
    if not text:
        return []
    spans = _spans(text)
    if normalized is None:
        normalized = normalize(text)
    elif normalized.original != text:
        raise ValueError("normalized was made from another text")
    # Collapsed whitespace alone changes nothing for the patterns (a space in them is \s+): skip that pass.
    if normalized.changed and normalized.text != " ".join(text.split()):
        for kind, kind_spans in _spans(normalized.text).items():
            spans.setdefault(kind, []).extend(normalized.to_original(s, e) for s, e in kind_spans)
    quotes = _quoted_spans(text)
    sentence_starts = [0, *(m.end() for m in _SENTENCE_BREAK.finditer(text))]
    warning_sentences = {bisect_right(sentence_starts, m.start()) - 1 for m in _WARNING.finditer(text)}

    def cue(kind: str, start: int, end: int) -> Cue:
        quoted = _is_quoted(start, end, quotes, sentence_starts, warning_sentences)
        return Cue(kind, start, end, text[start:end], quoted)

    cues: list[Cue] = []
    for kind, kind_spans in spans.items():
        kind_spans.sort()
        cur_start, cur_end = kind_spans[0]
        for start, end in kind_spans[1:]:
            if start < cur_end:
                cur_end = max(cur_end, end)
            else:
                cues.append(cue(kind, cur_start, cur_end))
                cur_start, cur_end = start, end
        cues.append(cue(kind, cur_start, cur_end))
    cues.sort(key=lambda c: (c.start, c.end, _KIND_ORDER[c.kind]))
    return cues


def cue_kinds(cues: list[Cue]) -> list[str]:
    """The distinct kinds present, sorted, for a compact summary beside the score."""
    return sorted({cue.kind for cue in cues})
