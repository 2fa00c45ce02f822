"""A synthetic but realistic crawl for the demo: the cases a FineWeb pipeline must get right.

Pages carry boilerplate (navigation, cookie banners, footers); most are English articles, some are in
German, French, Spanish and Japanese (one in Shift_JIS); some are exact or near duplicates served from
other hosts; some sit on spam hosts or URLs; some are low quality (link farms, lorem ipsum, repeated
lines, keyword lists); some contain emails, phone numbers and IP addresses. Around them are the records
a real WARC has that are not documents: requests, metadata, images, robots.txt, a revisit, a redirect.
"""

from __future__ import annotations

import gzip
import html
import os
import random
import uuid
from dataclasses import dataclass

from fineweb_pipe.sample.prose import OTHER_LANGUAGES, TOPICS, english_article, foreign_article, title_for

HOSTS = ["www.greenfingers-journal.org", "kitchen-notes.net", "stargazers-club.org", "roadcycling-diary.com",
         "townhistory.example.org", "blog.riverside-allotments.co.uk", "magazin.gartenfreunde.de",
         "www.cuisine-maison.fr", "revista-del-pueblo.es", "machi-news.jp"]
MIRROR_HOSTS = ["content-mirror.biz", "free-articles-hub.info", "reprint-daily.net"]
SPAM_URLS = ["http://free-casino-bonus.xxx/win-now", "http://www.hot-porn-videos.example.com/watch",
             "http://cheap-viagra-pills.biz/order?ref=spam", "http://sexy-singles-dating.example.net/join"]
PII_SNIPPETS = [
    "Questions? Write to {name}@{host} or call us on +1 415-555-{d4}.",
    "For press enquiries contact {name}.press@{host}, phone (020) 7946 {d4}.",
    "Our server at {ip} was down for maintenance last weekend; email {name}@{host} if you saw errors.",
]
NAMES = ["maria.lopez", "j.smith", "editor", "peter.schmidt", "anna.k", "info"]


@dataclass
class Page:
    url: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: str = "200 OK"


def _boilerplate(rng: random.Random, host: str, title: str, paragraphs: list[str], lang: str = "en") -> str:
    nav = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in ["Home", "Archive", "About", "Contact", "Shop"])
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    related = "".join(f'<li><a href="/post/{rng.randint(100, 999)}">Related post {i}</a></li>' for i in range(5))
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)} | {host}</title>
<script>window.dataLayer=[];function track(e){{dataLayer.push(e)}}</script>
<style>body{{font-family:serif}}</style></head>
<body>
<div class="cookie-banner">We use cookies to improve your experience. By using this site you accept our cookie policy. <button>OK</button></div>
<header><div class="logo">{host}</div><nav><ul>{nav}</ul></nav></header>
<main><article><h1>{html.escape(title)}</h1>
<p class="byline">Posted on {rng.randint(1, 28)} March 2024 by the editors</p>
{body}</article>
<aside><h3>Related</h3><ul>{related}</ul><div class="newsletter">Subscribe to our newsletter!</div></aside></main>
<footer><p>&copy; 2024 {host}. All rights reserved. <a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a></p></footer>
</body></html>"""


def _pii(rng: random.Random, host: str) -> str:
    ip = f"{rng.choice([81, 93, 145, 203])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    return rng.choice(PII_SNIPPETS).format(name=rng.choice(NAMES), host=host, ip=ip, d4=rng.randint(1000, 9999))


def _edit(rng: random.Random, paragraphs: list[str]) -> list[str]:
    """A near duplicate: a few words changed, a sentence dropped, a line of boilerplate added."""
    out = []
    for p in paragraphs:
        words = p.split()
        for _ in range(max(1, len(words) // 60) if words else 0):  # a paragraph may have no word
            words[rng.randrange(len(words))] = rng.choice(["really", "often", "simply", "also"])
        out.append(" ".join(words))
    return out + ["This article first appeared on our partner site and is reprinted with permission."]


def build_pages(pages: int, seed: int) -> list[Page]:
    rng = random.Random(seed)
    result: list[Page] = []
    originals: list[tuple[str, list[str]]] = []
    languages = [lang for lang in OTHER_LANGUAGES]
    for i in range(pages):
        roll = rng.random()
        if roll < 0.55 or not originals:
            topic = rng.choice(list(TOPICS))
            host = rng.choice(HOSTS[:6])
            title = title_for(rng, topic)
            paragraphs = english_article(rng, topic, rng.randint(3, 7))
            if rng.random() < 0.2:
                paragraphs.append(_pii(rng, host))
            originals.append((title, paragraphs))
            result.append(Page(f"https://{host}/{topic}/{i}-{title.lower().replace(' ', '-')}",
                               _boilerplate(rng, host, title, paragraphs).encode()))
        elif roll < 0.70:
            language = rng.choice(languages)
            host = {"de": HOSTS[6], "fr": HOSTS[7], "es": HOSTS[8], "ja": HOSTS[9]}[language]
            paragraphs = foreign_article(rng, language, rng.randint(3, 6))
            doc = _boilerplate(rng, host, paragraphs[0][:40], paragraphs, language)
            if language == "ja" and rng.random() < 0.5:
                doc = doc.replace('<meta charset="utf-8">', '<meta charset="shift_jis">')
                result.append(Page(f"https://{host}/article/{i}", doc.encode("shift_jis", "replace"),
                                   content_type="text/html"))
            else:
                result.append(Page(f"https://{host}/article/{i}", doc.encode()))
        elif roll < 0.80:
            title, paragraphs = rng.choice(originals)
            host = rng.choice(MIRROR_HOSTS)
            text = paragraphs if rng.random() < 0.3 else _edit(rng, paragraphs)
            result.append(Page(f"http://{host}/copy/{i}", _boilerplate(rng, host, title, text).encode()))
        elif roll < 0.85:
            title, paragraphs = rng.choice(originals)
            result.append(Page(rng.choice(SPAM_URLS) + f"&p={i}", _boilerplate(rng, "spam", title, paragraphs).encode()))
        else:
            result.append(_low_quality(rng, i))
    return result


def _low_quality(rng: random.Random, i: int) -> Page:
    host = rng.choice(HOSTS[:6])
    topic = rng.choice(list(TOPICS))
    kind = rng.randrange(7)
    if kind == 4:  # too short to be an article
        lines = english_article(rng, topic, 1)[:1]
        lines = [" ".join(lines[0].split()[:30])]
    elif kind == 5:  # an article with a code sample (C4 drops pages with curly brackets)
        lines = english_article(rng, topic, 3) + ['Use this config: {"mode": "auto", "retries": 3} and restart.']
    elif kind == 6:  # mostly short list lines without punctuation (FineWeb's line rules)
        lines = english_article(rng, topic, 1) + [w.capitalize() for t in TOPICS.values() for w in t["noun"]]
    elif kind == 0:
        lines = [f"Click here for deal number {n}" for n in range(40)]
    elif kind == 1:
        lines = ["Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."] * 6
    elif kind == 2:
        lines = ["Buy cheap shoes online today. Best prices guaranteed."] * 25
    else:
        lines = ["shoes boots sandals sneakers trainers heels loafers slippers"] * 3
    return Page(f"https://{host}/page/{i}", _boilerplate(rng, host, "Offers", lines).encode())


def _record(warc_type: str, url: str, block: bytes, content_type: str, extra: str = "") -> bytes:
    header = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {url}\r\n"
              f"WARC-Date: 2024-03-{random.Random(url).randint(1, 28):02d}T12:00:00Z\r\n"
              f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=random.Random(url + warc_type).getrandbits(128))}>\r\n"
              f"Content-Type: {content_type}\r\n{extra}Content-Length: {len(block)}\r\n\r\n")
    return gzip.compress(header.encode() + block + b"\r\n\r\n", mtime=0)


def _http(status: str, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Server: nginx\r\n\r\n").encode() + body


def write_sample_warc(path: str, pages: int = 600, seed: int = 0) -> str:
    """Write the sample crawl as a per-record gzipped WARC at ``path``; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    records = [_record("warcinfo", "", b"software: fineweb-pipe sample generator\r\n", "application/warc-fields")]
    png = b"\x89PNG\r\n\x1a\n" + bytes(random.Random(seed).getrandbits(8) for _ in range(256))
    for n, page in enumerate(build_pages(pages, seed)):
        records.append(_record("request", page.url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                               "application/http; msgtype=request"))
        records.append(_record("response", page.url, _http(page.status, page.content_type, page.body),
                               "application/http; msgtype=response"))
        if n % 50 == 0:
            records.append(_record("response", page.url.rsplit("/", 1)[0] + "/logo.png",
                                   _http("200 OK", "image/png", png), "application/http; msgtype=response"))
            records.append(_record("metadata", page.url, b"fetchTimeMs: 120\r\n", "application/warc-fields"))
    records.append(_record("response", "https://kitchen-notes.net/robots.txt",
                           _http("200 OK", "text/plain", b"User-agent: *\nDisallow: /admin\n"),
                           "application/http; msgtype=response"))
    records.append(_record("revisit", "https://kitchen-notes.net/", b"", "application/http",
                           "WARC-Profile: http://netpreserve.org/warc/1.1/revisit/identical-payload-digest\r\n"))
    with open(path, "wb") as f:
        f.writelines(records)
    return path
