"""Search-as-you-type completions from the catalogue's titles, brands and categories.

Phrases
-------
Brands, categories and popular queries are suggested as whole values. Titles
are not: they are long ("HP 15-dw1000na Laptop 15.6\\" Intel Core i3 ...") and
nobody types one whole, so each title gives the short phrases a shopper types:

- word n-grams of 1 to 3 tokens starting at every token, each scored by how
  many products carry it ("laptop", "laptop bag", "gaming laptop");
- an n-gram starts with a word (letters, any script; Chinese words are jieba's
  segments) that is not a stopword nor a lone Latin letter, and does not end
  with one ("case for iphone", never "for iphone" or "case for");
- a token with digits may only end an n-gram, and then only when it is a model
  name ("iphone 15", "core i7", "galaxy s23": a plain number of 1-3 digits,
  or a token starting with a letter), because quantities such as "15.6",
  "512gb" or "65w" make phrases nobody searches for; a code with letters is
  also a phrase of its own ("dv7-1211ea", "rtx2060"), so typing a model code
  completes it;
- a phrase does not run across punctuation ("Bag, Black"), but does across
  the marks of "Intel® Core™ i7";
- only a title's first 32 tokens are used: what follows is specs.

Memory: n-grams of model codes are mostly carried by one product each. While
the index holds fewer than ``singleton_limit`` distinct title phrases (100,000
by default) every phrase is suggestible; past that, title phrases carried by
a single product are dropped from the suggestible set (one pass) and from then
on a title phrase becomes suggestible when a second product carries it. The
count of every title phrase is still kept (a dict of phrase -> count, about
100 bytes each) so that the second product can be recognised; a phrase
admitted that way takes its earlier products' weight as equal to the current
one, because a phrase below the threshold keeps no weight of its own.

Matching
--------
Everything is compared in normalised form (analyzer.normalize + fold_accents,
so case, width and accents do not matter), tokens joined by one space, except
between two CJK tokens, which are joined with nothing: "蓝牙" completes
"蓝牙耳机" and a typed "蓝牙 耳" means the same as "蓝牙耳".

A prefix matches a phrase when the phrase starts with it; for whole values
(brands, categories, queries) also when any of their words does, so "lap"
finds the category "Gaming Laptops" and "耳机" finds "蓝牙耳机". Title n-grams
do not need this: the n-grams starting at every later word are phrases too.
Multi-word prefixes work the same way ("laptop ba" -> "laptop bag"). A prefix
ending in whitespace means its last word is complete: "laptop " finds
"laptop" and "laptop bag", not "laptops". An empty or all-whitespace (or
all-punctuation) prefix returns [] rather than an error: a search box sends it
whenever the user clears it.

Typos (only when exact completions do not fill k, and never ranked above them):

- the prefix's complete words (all but the last, and the last when it is
  followed by whitespace or has 5+ letters and nothing completes it) go
  through the TypoCorrector, if one was given; a word it corrects is replaced
  and the corrected prefix is completed ("headphnes" -> "headphones ...");
- when nothing completes the prefix at all and its last word has 4+ letters,
  variants of that word at one edit (deletion, adjacent transposition,
  substitution, insertion) are tried as prefixes. Only edits at or before the
  point where the typed prefix stops matching are tried, with substituted or
  inserted letters taken from what the index really has after the preceding
  letters, so the search is a few dozen probes, not |alphabet| x length.

Ranking: exact completions first, then fuzzy ones (``Suggestion.fuzzy`` says
which, so a UI can mark them; a fuzzy one may carry a higher score than the
exact ones above it); within each, by score,
then by normalised text. A phrase's score is, over the kinds it is (one phrase
can be a brand and a title phrase), the largest of the summed weights of the
values that carry it (products, by default 1 each) times the kind's weight:
brands and categories 1.25, popular queries 1.1, title phrases 1. Results are
deduplicated by normalised text; the text shown is the phrase's most frequent
original form (ties: the form that sorts first, so "HP" over "hp").

Speed
-----
Phrases (and, for whole values, their word suffixes as "suffix\\0phrase") live
in one sorted list (sortedcontainers); a prefix is a range of it found by
bisection. A range of up to ``_SCAN_LIMIT`` entries is scanned (well under a
millisecond); a larger one (1-2 letter prefixes, "samsung ") has its top
completions cached. A write keeps every cached list current instead of
invalidating it: an entry that rises is inserted, one that falls below the
cached list's floor (the best entry the list left out) drops out of it, and a
list is recomputed only when drops leave it shorter than a request's k.
``warm()`` computes the caches of the 1-3 character prefixes (one pass over
the index per length), so that a fresh index does not pay for them on its
first queries.

Thread safety: one lock around every read and write. A completion takes tens
of microseconds, and Python runs one thread at a time anyway, so readers lose
little by queueing; the caches that reads fill in need the lock regardless.

Modules: ``phrases`` (tokens, normalised keys, title phrases), ``entries``
(the kinds and the record kept per phrase), ``index`` (SuggestIndex: the
sorted list, counts, writes and reads), ``ranking`` (the cached top lists),
``fuzzy`` (the typo fallback), ``popular`` (which logged queries may be
suggested, and how their completions join the catalogue's).
"""

from .entries import KIND_WEIGHTS, KINDS, Suggestion
from .index import SuggestIndex
from .phrases import title_phrases

__all__ = ["KIND_WEIGHTS", "KINDS", "SuggestIndex", "Suggestion", "title_phrases"]
