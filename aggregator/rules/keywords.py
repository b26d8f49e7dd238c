"""Is an MO a keyword? The one home of keyword matching for R1 (STOP) and R11 (CONTACT).

Subscribers do not type keywords the way a contract writes them: "Stop", "STOP!!",
"stop sms au 36180", "Désabo STOP", "S T O P" (seed 004 lists the variants seen in the wild).
So the text and the keywords are compared *folded*: :func:`fold` takes the text to
compatibility form (NFKD: "ＳＴＯＰ" full width is "STOP", "é" is "e" plus an accent), drops
the accents, upper-cases (``casefold`` then ``upper``: "ß" is "SS"), turns every run of
anything that is not a letter or a digit (punctuation, emoji, spaces, line breaks) into one
space, and trims.

:func:`keyword_in` then says an MO *is* a keyword only when the whole message is about it,
strict enough that "Don't stop the music" or "STOP the spam and call me" never opt anyone out:

1. a trailing reference to a number is dropped: "... au 36180", "... a 36180", "... 36180"
   (the mention the MT carried, "STOP SMS au 36180", copied back; any number of 1 to 20
   digits, not only the short code the MO went to);
2. what is left, with its spaces removed, equals a folded keyword with its spaces removed:
   "STOP", "Stop sms", "STOPSMS", "  s t o p ", "Désinscrire." (spacing never matters);
3. or else every word left is a word of some keyword or a filler (:data:`FILLERS`: "SMS",
   "SVP", "STP", "MERCI", "PLEASE"), and at least one keyword occurs whole, as consecutive
   words: "Désabo STOP", "STOP STOP", "Stop merci", "ARRET SMS svp" (the keyword returned is
   the one of most words that occurs, then the first in the settings' order).

Anything else is not the keyword: an empty MO, an MO of only punctuation or only a number,
a filler alone ("SMS"), an MO of more than 200 characters, and a message mixing two rules'
keywords ("STOP CONTACT": neither an opt-out nor a request for the sender's identity; a
subscriber who means one sends it alone).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["FILLERS", "fold", "keyword_in"]

# Words that may stand beside a keyword without changing what the MO asks.
FILLERS = frozenset({"SMS", "SVP", "STP", "MERCI", "PLEASE"})
# The longest MO text worth folding: keywords are short, and a long MO is never one of them.
_MAX_TEXT = 200
_NOT_WORD = re.compile(r"[\W_]+")  # not a letter or a digit, of any script
# "... AU 36180", "... A 36180", "... 36180" at the end of the folded text.
_NUMBER_TAIL = re.compile(r"(?:^|\s)(?:(?:AU|A)\s?)?[0-9]{1,20}$")


def fold(text: str) -> str:
    """``text`` without case, accents, punctuation or spacing differences: upper-case ASCII
    letters and digits (and other letters, accent-free), single spaces between words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    # Letters beyond ASCII (Greek, Cyrillic...) stay letters: never part of a keyword, they
    # make the word they are in (and so the MO) not a keyword.
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def keyword_in(text: str, keywords: Iterable[str]) -> str | None:
    """The keyword (as written in the settings) that the MO ``text`` is, or None when it is
    none of them (the module's docstring says exactly when)."""
    if len(text) > _MAX_TEXT:
        return None
    body = _NUMBER_TAIL.sub("", fold(text)).strip()
    if not body:
        return None
    folded = [(keyword, fold(keyword)) for keyword in keywords]
    compact = body.replace(" ", "")
    for keyword, form in folded:
        if form and compact == form.replace(" ", ""):
            return keyword
    words = body.split()
    vocabulary = FILLERS.union(*(form.split() for _, form in folded))
    if not all(word in vocabulary for word in words):
        return None
    padded = f" {body} "
    found = [(form.count(" "), keyword) for keyword, form in folded if form and f" {form} " in padded]
    return max(found, key=lambda f: f[0])[1] if found else None       # most words: "ARRET SMS", not "ARRET"
