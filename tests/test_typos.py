import threading

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.text.typos import TypoCorrector, is_correctable, is_letter_word, max_edits


def osa_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance, optimal-string-alignment form (an adjacent
    transposition is one edit). symspellpy measures this; it is never below the
    unrestricted Damerau-Levenshtein distance, so a bound on it bounds both."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_reference_distance():
    assert osa_distance("keybaord", "keyboard") == 1  # a transposition is one edit
    assert osa_distance("headphnoes", "headphones") == 1
    assert osa_distance("kitten", "sitting") == 3
    assert osa_distance("", "abc") == 3


def corrector(counts: dict[str, int] | None = None, **more: int) -> TypoCorrector:
    tc = TypoCorrector()
    for word, count in {**(counts or {}), **more}.items():
        tc.add(word, count)
    return tc


def test_corrects_typos_to_catalogue_words():
    tc = corrector(headphones=40, keyboard=25, mouse=30, wireless=50)
    assert tc.correct("headphnoes") == "headphones"
    assert tc.correct("keybaord") == "keyboard"
    assert tc.correct("wireles") == "wireless"
    assert tc.correct("mouse") is None  # in the vocabulary, nothing far more frequent nearby
    assert tc.correct("KEYBAORD") == "keyboard"  # normalised first
    assert tc.correct("kéybaord") == "keyboard"


def test_codes_numbers_and_short_words_are_never_corrected():
    tc = corrector({"dv7-1211ea": 1, "dv7-1211eb": 500, "rtx2060": 5, "rtx2070": 500, "ml": 100, "usb": 100, "mouse": 100})
    for word in ("dv7-1211ea", "rtx2060", "rtx2061", "350ml", "i7", "usb-c", "12345", "mous", "mose", "a"):
        assert tc.correct(word) is None, word


def test_edit_distance_depends_on_length():
    tc = corrector(keyboard=10, headphones=10)
    assert tc.correct("keybrd") is None  # 6 letters, two edits away
    assert tc.correct("keyboad") == "keyboard"  # one edit
    assert tc.correct("hedphnes") is None  # 8 letters, two edits away
    assert tc.correct("heaadphnoes") == "headphones"  # 11 letters, two edits away


def test_ties_go_to_the_more_frequent_then_alphabetical():
    tc = corrector(cable=10, table=3)
    assert tc.correct("gable") == "cable"
    tc.add("table", 20)
    assert tc.correct("gable") == "table"
    tc = corrector(cable=5, table=5)
    assert tc.correct("gable") == "cable"
    # Closer first, whatever the counts.
    tc = corrector(keyboards=1000, keyboard=2)
    assert tc.correct("keyboarx") == "keyboard"


def test_a_known_word_is_corrected_only_when_far_rarer():
    tc = corrector(headphones=100, headphnoes=3)
    assert tc.correct("headphnoes") is None  # 100 < 50 * 3
    tc.remove("headphnoes", 1)
    assert tc.count("headphnoes") == 2
    assert tc.correct("headphnoes") == "headphones"  # 100 >= 50 * 2
    assert corrector(cable=500, table=5).correct("table") == "cable"
    assert corrector(cable=500, table=11).correct("table") is None
    assert TypoCorrector(rarer_ratio=5).correct("x") is None
    with pytest.raises(ValueError):
        TypoCorrector(rarer_ratio=0.5)


def test_remove_takes_words_out():
    tc = corrector(keyboard=1, mouse=2)
    assert len(tc) == 2
    tc.remove("keyboard")
    assert tc.count("keyboard") == 0 and "keyboard" not in tc and len(tc) == 1
    assert tc.correct("keybaord") is None
    tc.remove("keyboard")  # unknown: ignored
    tc.remove("mouse", 5)  # more than it has: gone
    assert len(tc) == 0
    tc.add("keyboard", 3)
    assert tc.correct("keybaord") == "keyboard"
    with pytest.raises(ValueError):
        tc.add("keyboard", 0)
    with pytest.raises(ValueError):
        tc.remove("keyboard", -1)


def test_other_scripts():
    # The vocabulary holds normalised (accent-folded) words; queries are folded the same way.
    tc = corrector({"клавиатура": 10, "ακουστικα": 10, "auriculares": 10, "蓝牙耳机": 10})
    assert tc.correct("клавиатруа") == "клавиатура"
    assert tc.correct("ακουστκά") == "ακουστικα"
    assert tc.correct("Aurículraes") == "auriculares"
    assert tc.correct("蓝牙耳鸡") is None


def test_policy_examples():
    assert [max_edits(w) for w in ("mous", "mouse", "keyboard", "headphone", "headphones")] == [0, 1, 1, 2, 2]
    assert not is_correctable("rtx2060") and not is_correctable("usb-c") and not is_correctable("蓝牙耳机耳机")
    assert is_letter_word("ñandú") and is_letter_word("клавиатура") and not is_letter_word("a×b") and not is_letter_word("")


@given(st.text(max_size=20))
def test_max_edits_property(word):
    edits = max_edits(word)
    assert edits in (0, 1, 2)
    assert is_correctable(word) == (edits > 0)
    if any(not c.isalpha() for c in word) or len(word) < 5:
        assert edits == 0
    elif is_letter_word(word):
        assert edits == (1 if len(word) <= 8 else 2)


letters = st.sampled_from("abcde")
words = st.text(letters, min_size=3, max_size=11)
vocabularies = st.dictionaries(words, st.sampled_from([1, 1, 2, 3, 60, 200]), min_size=1, max_size=30)


def reference(vocab: dict[str, int], word: str, ratio: float = 50.0) -> str | None:
    k = max_edits(word)
    if not k:
        return None
    own = vocab.get(word, 0)
    candidates = [
        (osa_distance(word, w), -c, w)
        for w, c in vocab.items()
        if w != word and len(w) >= 4 and c >= own * ratio and osa_distance(word, w) <= k
    ]
    return min(candidates)[2] if candidates else None


@settings(max_examples=150, deadline=None)
@given(vocabularies, st.lists(words, max_size=10))
def test_corrections_match_a_brute_force_reference(vocab, queries):
    tc = TypoCorrector()
    for w, c in vocab.items():
        tc.add(w, c)
    for word in [*vocab, *queries]:
        got = tc.correct(word)
        assert got == reference(vocab, word), word
        if got is not None:
            # Any correction: a vocabulary word within the allowed distance.
            assert got in vocab and got != word
            assert osa_distance(word, got) <= max_edits(word)
            assert vocab[got] >= 50 * vocab.get(word, 0)
        elif word in vocab:
            # Left alone: no neighbour within reach is far more frequent.
            assert all(c < 50 * vocab[word] for w, c in vocab.items() if w != word and osa_distance(word, w) <= max_edits(word))


@settings(max_examples=100, deadline=None)
@given(vocabularies, st.data())
def test_removals_match_the_reference(vocab, data):
    tc = TypoCorrector()
    for w, c in vocab.items():
        tc.add(w, c)
    gone = data.draw(st.lists(st.sampled_from(sorted(vocab)), unique=True))
    left = dict(vocab)
    for w in gone:
        tc.remove(w, vocab[w])
        del left[w]
    assert len(tc) == len(left)
    for word in vocab:
        assert tc.correct(word) == reference(left, word)


@settings(max_examples=100, deadline=None)
@given(vocabularies, st.text(st.sampled_from("abcde0123456789-."), min_size=1, max_size=12))
def test_words_with_digits_are_never_corrected(vocab, code):
    tc = TypoCorrector()
    for w, c in vocab.items():
        tc.add(w, c)
        tc.add(w + "1", c)
    if any(not c.isalpha() for c in code):
        assert tc.correct(code) is None


def test_concurrent_corrections_while_writing():
    tc = corrector(headphones=100, keyboard=100, wireless=100)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                assert tc.correct("headphnoes") in ("headphones", None)
                tc.correct("keybaord")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(3000):
        word = f"word{'abcdefghij'[i % 10]}xyz{'klmnop'[i % 6]}"
        tc.add(word)
        if i % 3 == 0:
            tc.remove("headphones", 100)
            tc.add("headphones", 100)
        if i % 2:
            tc.remove(word)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
