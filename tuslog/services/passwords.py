"""Staff passwords: the policy, argon2id hashing (argon2-cffi defaults) and verification.

Hashing runs in a thread, never on the event loop, and at most :data:`HASH_SLOTS` at a
time per process: each argon2 run with the library's defaults takes 64 MiB and ~0.15 s
of CPU, so a burst of sign-ins must queue instead of growing memory without bound.

Passwords are NFKC-normalised first, so the same password typed on another keyboard or
system (composed or decomposed accents, full-width digits) still matches.
"""

import asyncio
import re
import threading
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tuslog import errors

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the hashing work one request can ask for
HASH_SLOTS = 2

HASHER = PasswordHasher()  # the library's defaults (RFC 9106 low-memory profile)
_slots = threading.BoundedSemaphore(HASH_SLOTS)
_dummy: dict[tuple[int, int, int], str] = {}


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _hash_sync(password: str) -> str:
    with _slots:
        return HASHER.hash(password)


def _verify_sync(stored: str, password: str) -> bool:
    with _slots:
        try:
            return HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hash_sync, normalise(password))


async def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``. With ``stored=None`` (no such user) a
    dummy hash with the same parameters is checked, so the answer takes as long as for
    a real account and an unknown email cannot be told from a wrong password."""
    candidate = normalise(password)
    if stored is None or len(candidate) > MAX_LENGTH:  # no password that long was accepted
        await asyncio.to_thread(_verify_sync, await _dummy_hash(), candidate[:MAX_LENGTH])
        return False
    return await asyncio.to_thread(_verify_sync, stored, candidate)


async def _dummy_hash() -> str:
    params = (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
    if params not in _dummy:
        _dummy[params] = await asyncio.to_thread(_hash_sync, "no such user, no such password")
    return _dummy[params]


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other argon2 parameters than today's."""
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


# --- policy -------------------------------------------------------------------------------
# No breach list is shipped. Instead the parts anyone guesses first are taken away (very
# common base words, also in l33t spelling; the person's own email parts; years; runs
# along the alphabet, digits or keyboard rows; repeated characters) and what remains must
# still be :data:`MIN_UNGUESSABLE` characters long.
MIN_UNGUESSABLE = 6
MIN_DISTINCT = 5
_COMMON = """password passwort passwd qwerty azerty qwertz letmein welcome admin administrator
    root login iloveyou monkey dragon football baseball soccer hockey master shadow
    sunshine princess superman batman starwars trustno secret changeme default hello
    whatever freedom computer internet summer winter spring autumn tuslog support company
    guest michael jennifer jordan hunter ranger buster thomas robert charlie daniel
    jessica ashley pepper ginger cookie cheese flower killer matrix mustang access samsung
    apple google microsoft linux windows server backup love test user pass"""
COMMON_WORDS = frozenset(_COMMON.split())
_LEET = str.maketrans("0134578@$!|", "oieastbasil")
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "azertyuiop",
    "yxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_ALL_RUNS = _RUNS + tuple(run[::-1] for run in _RUNS)
_YEAR = re.compile(r"(19|20)\d\d")


def check_policy(password: str, *, email: str = "") -> None:
    """Raise WEAK_PASSWORD, saying what to change, unless ``password`` is acceptable."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        raise errors.WEAK_PASSWORD(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise errors.WEAK_PASSWORD(f"Use at most {MAX_LENGTH} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise errors.WEAK_PASSWORD("A password cannot contain control characters (tabs, newlines).")
    if (
        len(set(password)) < MIN_DISTINCT
        or len(_unguessable_part(password, email)) < MIN_UNGUESSABLE
    ):
        raise errors.WEAK_PASSWORD(
            "This password is too easy to guess: common words, your email, years, keyboard "
            "or number sequences and repeats hardly count. Add a few unrelated words."
        )


def _unguessable_part(password: str, email: str) -> str:
    lowered = password.lower()
    leet = lowered.translate(_LEET)
    personal = {part for part in re.split(r"[^\w]+|_", email.lower()) if len(part) >= 3}
    kept = [True] * len(lowered)
    for word in COMMON_WORDS | personal:
        for match in re.finditer(re.escape(word), leet):
            kept[match.start() : match.end()] = [False] * len(word)
    rest = "".join(ch for ch, keep in zip(lowered, kept, strict=True) if keep)
    rest = _YEAR.sub("", rest)
    rest = _without_runs(rest)
    return re.sub(r"(.)\1+", r"\1", rest).replace(" ", "")


def _without_runs(text: str) -> str:
    """``text`` without stretches of 3+ characters that run along :data:`_RUNS`."""
    out = []
    i = 0
    while i < len(text):
        length = 3
        while i + length <= len(text) and any(text[i : i + length] in run for run in _ALL_RUNS):
            length += 1
        if length > 3:
            i += length - 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
