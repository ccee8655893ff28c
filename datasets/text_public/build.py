#!/usr/bin/env python3
"""Rebuild the JSONL files of datasets/text_public/ from git snapshots of public repositories.

A plain script, run by hand; the project never imports it and nothing here downloads anything. It reads bare git
snapshots (one `<owner>+<name>/repo` git directory per repository, as the search tool's `fetch` lays them out under
/work/.mirror) with `git show`, so the exact commit each file comes from is pinned below and checked.

    python datasets/text_public/build.py /work/.mirror            # writes datasets/text_public/*.jsonl
    python datasets/text_public/build.py /work/.mirror --out /tmp/x --check   # also verify pinned commits

See README.md beside this file for the sources, their licences and the cleaning rules.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

csv.field_size_limit(10**9)

# repo -> commit the published files were built from (HEAD of the snapshot used)
PINNED = {
    "daiviknambiar/usaa-fraud-project": "5664125c8bd017321944aed0766574402218f45a",
    "alundy98/USDA-Fraud-Project": "f665564da00a8855ab8db09b66b9ea63f6d8d967",
    "PolyAI-LDN/task-specific-datasets": "57ec275d8078af65b7731c2a98be812d844a6d6b",
    "mainlp/xsid": "761d926c3f2e9f6bea13192d2f39cec1d04d9777",
    "UniversalDependencies/UD_Dutch-LassySmall": "7880e0bc4c8138607c8e9724db2294dc89d4e2b5",
    "UniversalDependencies/UD_Dutch-Alpino": "95e374a608d114ec6c6b32f0fbd5f324d29ef286",
    "statengeneraal/laws-markdown": "91556a80a25a3da4234c8039945c6aeef4108d00",
    "pennersr/django-allauth": "20f4bded2fd2e12d0d172d1321626a94c17ac97e",
    "tigrish/devise-i18n": "6bc267898c3873b82a7463925160d5dbf85ee04d",
}

MIN_LEN, MAX_LEN = 20, 2000
PARA_MIN, PARA_MAX = 200, 1500


# ----------------------------------------------------------------------------------------------- git access


class Repo:
    def __init__(self, mirror: Path, name: str, check: bool):
        self.name = name
        self.gitdir = mirror / name.replace("/", "+") / "repo"
        if not self.gitdir.is_dir():
            raise SystemExit(f"{self.gitdir}: no snapshot of {name} (fetch github:{name} first)")
        self.rev = PINNED[name]
        head = self._git("rev-parse", "HEAD").strip()
        full = self._git("rev-parse", self.rev).strip()
        if head != full:
            msg = f"{name}: snapshot HEAD is {head}, build pinned to {full}; reading the pinned commit"
            if check:
                raise SystemExit(msg)
            print("warning:", msg, file=sys.stderr)
        self.rev = full

    def _git(self, *args: str, binary: bool = False):
        out = subprocess.run(["git", f"--git-dir={self.gitdir}", *args], capture_output=True, check=True)
        return out.stdout if binary else out.stdout.decode("utf-8", errors="replace")

    def show(self, path: str, rev: str | None = None) -> str:
        return self._git("show", f"{rev or self.rev}:{path}")

    def ls(self, rev: str | None = None) -> list[str]:
        return self._git("ls-tree", "-r", "--name-only", "-z", rev or self.rev).split("\0")[:-1]

    def history(self, path: str) -> list[str]:
        """Commits (oldest first, up to the pinned one) that touched `path`."""
        return self._git("log", "--format=%H", "--reverse", self.rev, "--", path).split()

    def cat_many(self, paths: list[str]) -> dict[str, str]:
        """Many blobs at the pinned commit through one `git cat-file --batch` (light on CPU)."""
        spec = "".join(f"{self.rev}:{p}\n" for p in paths).encode()
        out = subprocess.run(["git", f"--git-dir={self.gitdir}", "cat-file", "--batch"], input=spec,
                             capture_output=True, check=True).stdout
        res, pos = {}, 0
        for p in paths:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split()
            pos = nl + 1
            if len(header) < 3 or header[1] == b"missing":
                continue
            size = int(header[2])
            res[p] = out[pos:pos + size].decode("utf-8", errors="replace")
            pos += size + 1
        return res


# ----------------------------------------------------------------------------------------------- text helpers

_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|info|biz|co\.uk|uk|in|ly|me|nl|be|io)\b(?:/\S*)?",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Same near-duplicate key as training/text/corpora.py: lower case, links as one token, digits as 0."""
    text = _URL.sub(" URL ", html.unescape(text).lower())
    text = re.sub(r"\d", "0", text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def h(s: str, n: int = 12) -> str:
    return hashlib.sha1(s.encode()).hexdigest()[:n]


def clean(text: str) -> str:
    text = html.unescape(text).replace("\u00a0", " ").replace("\u200b", "")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return text.strip()


_SENT = re.compile(r"(?<=[.!?;:])\s+(?=[\"'“‘(]?[A-Z0-9ÀÁÂÄÈÉÊËÌÍÎÏÒÓÔÖÙÚÛÜ])")


def split_paragraphs(text: str, lo: int = PARA_MIN, hi: int = PARA_MAX) -> list[str]:
    """Article -> chunks of lo..hi characters: paragraphs merged while short, long ones cut at sentence ends."""
    paras = [p.strip() for p in re.split(r"\n+", text) if p.strip()]
    pieces: list[str] = []
    for p in paras:
        if len(p) <= hi:
            pieces.append(p)
            continue
        cur = ""
        for s in _SENT.split(p):
            if cur and len(cur) + 1 + len(s) > hi:
                pieces.append(cur)
                cur = s
            else:
                cur = f"{cur} {s}".strip()
        if cur:
            pieces.append(cur)
    out, cur = [], ""
    for p in pieces:
        if not cur:
            cur = p
        elif len(cur) < lo and len(cur) + 1 + len(p) <= hi:
            cur = f"{cur}\n{p}"
        else:
            out.append(cur)
            cur = p
    if cur:
        if out and len(cur) < lo and len(out[-1]) + 1 + len(cur) <= hi:
            out[-1] = f"{out[-1]}\n{cur}"
        else:
            out.append(cur)
    return [o[:MAX_LEN] for o in out if len(o) >= MIN_LEN]


def row(source: str, text: str, kind: str, lang: str, channel: str, family: str, label: str = "legit") -> dict:
    return {"text": text, "label": label, "kind": kind, "lang": lang, "channel": channel, "source": source,
            "family": family}


def pick(items: list, k: int, salt: str) -> list:
    """Deterministic subset of k items (hash order), kept in the original order."""
    if len(items) <= k:
        return items
    keep = set(sorted(range(len(items)), key=lambda i: h(f"{salt}:{i}:{items[i]}"))[:k])
    return [x for i, x in enumerate(items) if i in keep]


# ----------------------------------------------------------------------------------------------- sources


def _json_records(s: str) -> list[dict]:
    s = s.strip()
    if not s:
        return []
    try:
        d = json.loads(s)
        return d if isinstance(d, list) else [d]
    except json.JSONDecodeError:
        pass
    recs = []
    for line in s.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith("{") and line.endswith("}"):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if recs:
        return recs
    dec, i, res = json.JSONDecoder(), 0, []  # several JSON arrays written one after the other
    while i < len(s):
        while i < len(s) and s[i] in " \r\n\t,":
            i += 1
        if i >= len(s):
            break
        o, i = dec.raw_decode(s, i)
        res += o if isinstance(o, list) else [o]
    return res


_FTC_BOILER = re.compile(r"^(More|Más|Read more|Share this page|Facebook|Twitter|LinkedIn|Tags?:.*|Article|"
                         r"Related Items?.*|Topics?:.*|Search Terms.*|Last Updated.*|Contact Information.*|"
                         r"Media Contact.*|Staff Contact.*|Office of Public Affairs.*|\(\d{3}\) \d{3}-\d{4})$", re.I)
_FRAUDISH_EN = re.compile(r"scam|fraud|decept|impersonat|phish|crypto|romance|tech support|robocall|"
                          r"identity theft|gift card|pyramid|ponzi|sweepstake|lottery|bogus|fake", re.I)


def ftc(mirror: Path, check: bool) -> list[dict]:
    """FTC consumer alerts, data spotlights and press releases scraped by usaa-fraud-project (US public domain)."""
    repo = Repo(mirror, "daiviknambiar/usaa-fraud-project", check)
    files = {  # path -> (kind, channel)
        "data/ftc_consumer_scams.jsonl": ("government_warning", "web"),
        "src/data2/ftc_data_spotlight_scrapy.json": ("government_warning", "web"),
        "src/data2/ftc_press_releases_scrapy.json": ("court_report", "news"),
        "data/11-13_ftc_press_releases_scrapy.json": ("court_report", "news"),
        "data/ftc_press_releases.jsonl": ("court_report", "news"),
        "data/ftc_legal_search_fraud.jsonl": ("court_report", "web"),
    }
    articles: dict[str, tuple[str, str, str, str]] = {}  # url -> (title, body, kind, channel)
    for path, (kind, channel) in files.items():
        for commit in repo.history(path):
            try:
                recs = _json_records(repo.show(path, commit))
            except (subprocess.CalledProcessError, json.JSONDecodeError, ValueError):
                continue
            for r in recs:
                url = r.get("url") or r.get("link") or ""
                body = r.get("full_text") or r.get("body") or r.get("text") or ""
                if not url or len(body) < 200:
                    continue
                if url not in articles or len(body) > len(articles[url][1]):
                    articles[url] = (r.get("title") or "", body, kind, channel)
    rows = []
    for url, (title, body, kind, channel) in sorted(articles.items()):
        if kind == "court_report" and not _FRAUDISH_EN.search(f"{title} {body[:800]}"):
            continue  # merger reviews, competition cases: not about consumer fraud
        lines = [ln for ln in clean(body).split("\n") if not _FTC_BOILER.match(ln.strip())]
        text = "\n".join(lines)
        if "consumer-alerts" in url or "data-spotlight" in url or "data-visualizations" in url:
            kind = "government_warning"
        fam = "ftc:" + h(url)
        for p in split_paragraphs(text):
            rows.append(row("ftc_gov", p, kind, "en", channel, fam))
    return rows


_OIG_KEEP = re.compile(r"scam|fraud|phish|romance|elder|imperson|investment|crypto|identity|wire|launder|"
                       r"embezzl|ponzi|check kit|stolen|forged|counterfeit", re.I)


_OIG_CREDITS = re.compile(r"made the announcement|announced (?:the|today)|investigated (?:the|this) case|"
                          r"prosecut(?:ed|ing) (?:the|this) case|Special Agent in Charge|is prosecuting|"
                          r"investigated by|are prosecuting|praised the work|thanked", re.I)


def fdic_oig(mirror: Path, check: bool) -> list[dict]:
    """FDIC Office of Inspector General investigation press releases (US public domain), first paragraphs."""
    repo = Repo(mirror, "alundy98/USDA-Fraud-Project", check)
    recs = list(csv.DictReader(io.StringIO(repo.show("outputs_new_prompt/fdic_oig_investigations_dataset.csv"))))
    rows, seen = [], set()
    for r in recs:
        url, body = r.get("url", ""), r.get("text", "")
        if not url or url in seen or len(body) < 300 or not _OIG_KEEP.search(body[:3000]):
            continue
        seen.add(url)
        body = re.sub(r"(?m)^\s*(###|Contact:|Press Release|Source:).*$", "", body)
        paras = [p for p in split_paragraphs(clean(body)) if not _OIG_CREDITS.search(p)]
        for p in paras[:2]:  # the lead paragraphs carry the story; the rest is boilerplate and agency credits
            rows.append(row("fdic_oig", p, "court_report", "en", "news", "fdicoig:" + h(url)))
    return rows


_B77_FRAUD_INTENTS = {
    "compromised_card", "card_payment_not_recognised", "cash_withdrawal_not_recognised",
    "direct_debit_payment_not_recognised", "lost_or_stolen_card", "lost_or_stolen_phone", "verify_my_identity",
    "why_verify_identity", "unable_to_verify_identity", "passcode_forgotten", "pin_blocked", "declined_transfer",
    "declined_card_payment", "transfer_not_received_by_recipient", "request_refund", "cancel_transfer",
    "beneficiary_not_allowed", "wrong_amount_of_cash_received", "verify_source_of_funds", "transaction_charged_twice",
    "pending_transfer", "failed_transfer", "reverted_card_payment?", "card_swallowed", "get_disposable_virtual_card",
    "activate_my_card", "change_pin", "transfer_timing", "verify_top_up", "top_up_reverted",
}


def banking77(mirror: Path, check: bool) -> list[dict]:
    """Banking77 customer-service queries (CC BY 4.0); a capped, intent-balanced subset."""
    repo = Repo(mirror, "PolyAI-LDN/task-specific-datasets", check)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for path in ("banking_data/train.csv", "banking_data/test.csv"):
        for r in csv.DictReader(io.StringIO(repo.show(path))):
            t = clean(r["text"])
            if MIN_LEN <= len(t) <= MAX_LEN:
                by_intent[r["category"]].append(t)
    rows = []
    for intent in sorted(by_intent):
        k = 25 if intent in _B77_FRAUD_INTENTS else 10
        for t in pick(by_intent[intent], k, "b77"):
            rows.append(row("banking77", t, "other_legit", "en", "web", "b77:" + intent))
    return rows


def xsid_nl(mirror: Path, check: bool) -> list[dict]:
    """xSID Dutch dev/test utterances to a digital assistant (CC BY-SA 4.0)."""
    repo = Repo(mirror, "mainlp/xsid", check)
    rows = []
    for split in ("valid", "test"):
        for line in repo.show(f"data/xSID-0.7/nl.{split}.conll").splitlines():
            if line.startswith("# text = "):
                t = clean(line[len("# text = "):])
                if len(t) >= MIN_LEN:
                    rows.append(row("xsid_nl", t, "everyday_chat", "nl", "web", "xsid:" + h(normalise(t))))
    return rows


def _ud_paragraphs(conllu: str) -> dict[str, list[str]]:
    """sent_id `doc.p.N.s.M` -> paragraphs (doc.p.N) of running text."""
    paras: dict[str, list[str]] = defaultdict(list)
    sid = None
    for line in conllu.splitlines():
        if line.startswith("# sent_id = "):
            sid = line[len("# sent_id = "):].strip().split("\\")[-1]
        elif line.startswith("# text = ") and sid:
            key = re.sub(r"\.s\.\d+(?:\.\d+)?$", "", sid)
            paras[key].append(line[len("# text = "):].strip())
    return paras


def ud_dutch(mirror: Path, check: bool) -> list[dict]:
    """Dutch UD treebanks (CC BY-SA 4.0): Wikipedia (LassySmall) and newspaper (Alpino) paragraphs, dev+test."""
    rows = []
    for name, files, source, channel in (
        ("UniversalDependencies/UD_Dutch-LassySmall", ("nl_lassysmall-ud-dev.conllu", "nl_lassysmall-ud-test.conllu"),
         "ud_lassysmall", "web"),
        ("UniversalDependencies/UD_Dutch-Alpino", ("nl_alpino-ud-dev.conllu", "nl_alpino-ud-test.conllu"),
         "ud_alpino", "news"),
    ):
        repo = Repo(mirror, name, check)
        for f in files:
            for key, sents in _ud_paragraphs(repo.show(f)).items():
                doc = re.sub(r"\.p\.\d+$", "", key)
                text = clean(" ".join(sents).replace(",,", "\u201e").replace("''", "\u201d"))
                text = re.sub(r" ([,.;:!?)])", r"\1", text)
                if len(text) >= 40:
                    for p in split_paragraphs(text, lo=40):
                        rows.append(row(source, p, "other_legit", "nl", channel, f"{source}:{doc}"))
    return rows


_NL_FRAUD = re.compile(r"\w*fraude\w*|\boplicht\w*|\bphishing|\bwitwas\w*|valsheid in geschrift|\bskimming|"
                       r"\bheling\b|computervredebreuk|identiteitsfraude|\bmisleid\w*|\bcybercrim\w*|\bgeldezel|"
                       r"\bkatvanger|\bbedrieg\w*|\bafpersing|\boneerlijke handelspraktijk\w*", re.I)
_NL_FINANCE = re.compile(r"\bbelegg\w*|\bbetaaldienst\w*|\bconsumentenkrediet\w*|\bbetaalrekening\w*|"
                         r"\bbetaalpas\w*|\bfinanciële dienstverlen\w*|\bfinancieel product\w*", re.I)

_LAW_BOILER = re.compile(r"^(Wij [A-Z][\w-]+, bij de gratie Gods|Op de voordracht|Gelet op|Regeling van de Minister|"
                         r"Besluit van |Allen, die deze|De Minister van|De Staatssecretaris van)")


def nl_laws(mirror: Path, check: bool) -> list[dict]:
    """Dutch laws, decrees and prosecution guidelines mirrored as Markdown (no copyright: art. 11 Auteurswet)."""
    repo = Repo(mirror, "statengeneraal/laws-markdown", check)
    paths = [p for p in repo.ls() if p.endswith("README.md") and "/BWBR" in p]
    texts = repo.cat_many(paths)
    per_doc: dict[str, list[str]] = {}
    for path, md in texts.items():
        bwb = re.search(r"(BWBR\d+)", path).group(1)
        md = re.sub(r"<[^>]+>", " ", md)
        md = re.sub(r"(?m)^\s*#+\s*", "", md)
        md = re.sub(r"(?m)^\|.*\|\s*$", "", md)  # tables (sentencing grids) are not prose
        md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)  # Markdown links -> their text
        md = md.replace("**", "").replace("*", "")
        paras = [p for p in split_paragraphs(clean(md)) if len(p) >= 120 and "Materieel uitgewerkt" not in p
                 and not _LAW_BOILER.match(p)]
        fraud = [p for p in paras if _NL_FRAUD.search(p)]
        finance = [p for p in paras if not _NL_FRAUD.search(p) and _NL_FINANCE.search(p)]
        if fraud or finance:
            per_doc[bwb] = (per_doc.get(bwb, ([], []))[0] + fraud, per_doc.get(bwb, ([], []))[1] + finance)
    rows = []
    for bwb in sorted(per_doc):
        fraud, finance = per_doc[bwb]
        # at most 3 fraud paragraphs and 1 finance paragraph a regulation, so no single act dominates
        for p in pick(fraud, 3, "laws") + pick(finance, 1, "laws-fin"):
            rows.append(row("nl_laws", p, "other_legit", "nl", "web", "bwb:" + bwb))
    return rows



_FILL = {
    "%(site_name)s": "Fietsdeel", "%(site_domain)s": "fietsdeel.nl", "%(email)s": "sanne.devries@example.nl",
    "%(password_reset_url)s": "https://fietsdeel.nl/accounts/password/reset/key/4-c8n2/",
    "%(activate_url)s": "https://fietsdeel.nl/accounts/confirm-email/MjQ:1u9xk/",
    "%(signup_url)s": "https://fietsdeel.nl/accounts/signup/", "%(user_display)s": "Sanne",
    "%(username)s": "sanne_dv", "%(code)s": "482913", "%(recipient)s": "sanne.devries@example.nl",
    "%(provider)s": "Google", "%(ip)s": "145.53.12.7", "%(user_agent)s": "Firefox op Windows",
    "%(timestamp)s": "12-03-2025 14:05", "%(from_email)s": "sanne.devries@example.nl",
    "%(to_email)s": "s.devries@example.com", "%(phone)s": "+31 6 12345678",
}


def _fill(t: str) -> str:
    for k, v in _FILL.items():
        t = t.replace(k, v)
    return t


_ALLAUTH_EMAIL = re.compile(r"receiving this (?:e-?mail|message)|Hello from|sign-?in code|verification code|"
                            r"password (?:has been|was) (?:changed|reset|set)|security|new sign|has been (?:added|"
                            r"removed|confirmed|disabled|activated|deactivated)|recovery codes|code is|"
                            r"login code|please enter", re.I)


def _po_field(block: str, tag: str) -> str:
    """The (possibly multi-line) string of `msgid`/`msgstr` in one .po entry, escapes left as written."""
    m = re.search(r"^" + tag + r" ((?:\".*\"\n?)+)", block, re.M)
    return "".join(re.findall(r"\"(.*)\"", m.group(1))) if m else ""


def notifications(mirror: Path, check: bool) -> list[dict]:
    """Genuine account/security e-mail texts shipped by MIT-licensed software, Dutch translation and English."""
    rows = []
    repo = Repo(mirror, "pennersr/django-allauth", check)
    po = repo.show("allauth/locale/nl/LC_MESSAGES/django.po")
    for block in re.split(r"\n\s*\n", po):  # read msgstr as raw UTF-8 (the .po is UTF-8 encoded)
        if "msgstr" not in block or "#, fuzzy" in block or block.lstrip().startswith("#~"):
            continue
        en, nl = _po_field(block, "msgid"), _po_field(block, "msgstr")
        if not en or not nl or not _ALLAUTH_EMAIL.search(en) or len(en) < 50:
            continue
        for lang, t in (("en", en), ("nl", nl)):
            t = _fill(t.replace("\\n", "\n").replace('\\"', '"')).strip()
            t = re.sub(r"\n{3,}", "\n\n", t)
            if MIN_LEN <= len(t) <= MAX_LEN and "%(" not in t and "{" not in t:
                kind = "otp_message" if re.search(r"\bcode\b", en, re.I) else "other_legit"
                rows.append(row("allauth", t, kind, lang, "email", "allauth:" + h(en)))
    repo = Repo(mirror, "tigrish/devise-i18n", check)
    for lang in ("nl", "en"):
        text = repo.show(f"rails/locales/{lang}.yml")
        m = re.search(r"\n    mailer:\n(.*?)\n    [a-z_]+:\n", text, re.S)
        if not m:
            continue
        mails: dict[str, dict[str, str]] = defaultdict(dict)
        cur = None
        for line in m.group(1).splitlines():
            if re.match(r"^      [a-z_]+:\s*$", line):
                cur = line.strip()[:-1]
            elif cur and re.match(r"^        [a-z_0-9]+: ", line):
                k, v = line.strip().split(": ", 1)
                mails[cur][k] = v.strip().strip("'\"")
        for mail, parts in sorted(mails.items()):
            body = [parts.get("greeting", ""), parts.get("message", ""), parts.get("message_unconfirmed", ""),
                    parts.get("instruction", ""), parts.get("action", "") and f"[{parts['action']}]",
                    parts.get("instruction_2", ""), parts.get("instruction_3", "")]
            t = "\n".join(b for b in body if b)
            t = t.replace("%{recipient}", "Sanne").replace("%{email}", "sanne.devries@example.nl")
            if len(t) >= MIN_LEN:
                rows.append(row("devise_i18n", t, "other_legit", lang, "email", "devise:" + mail))
    return rows


SOURCES = {  # output file -> extractor
    "en_ftc_gov.jsonl": ftc,
    "en_fdic_oig.jsonl": fdic_oig,
    "en_banking77.jsonl": banking77,
    "nl_xsid.jsonl": xsid_nl,
    "nl_ud_treebanks.jsonl": ud_dutch,
    "nl_laws_fraud.jsonl": nl_laws,
    "nlen_account_notifications.jsonl": notifications,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mirror", type=Path, help="folder holding <owner>+<name>/repo bare git snapshots")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--check", action="store_true", help="fail unless every snapshot HEAD is the pinned commit")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()  # normalised text, across all files: the first file keeps a text
    stats: Counter = Counter()
    for fname, fn in SOURCES.items():
        rows, kept = fn(args.mirror, args.check), []
        for r in rows:
            key = normalise(r["text"])
            if not (MIN_LEN <= len(r["text"]) <= MAX_LEN) or len(key) < 10 or key in seen:
                stats["dropped"] += 1
                continue
            seen.add(key)
            kept.append(r)
        with (args.out / fname).open("w", encoding="utf-8") as f:
            for i, r in enumerate(kept, 1):
                r = {"id": f"{fname.rsplit('.', 1)[0]}-{i:05d}", **r}
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                stats[(r["lang"], r["kind"], r["label"])] += 1
        print(f"{fname}: {len(kept)} rows ({len(rows) - len(kept)} dropped as duplicate/out of range)")
    for k, v in sorted((k, v) for k, v in stats.items() if isinstance(k, tuple)):
        print("\t".join(k), v, sep="\t")


if __name__ == "__main__":
    main()
