"""The minimal NLTK data the CHAIR/AMBER tests run on loads and runs NLTK's real code paths offline."""

from __future__ import annotations


def test_minimal_nltk_data_runs_tokenizer_tagger_and_lemmatizer(nltk_data):
    import nltk
    from nltk.stem import WordNetLemmatizer

    words = nltk.word_tokenize("Two dogs and the mice sat on benches.".lower())
    assert words == ["two", "dogs", "and", "the", "mice", "sat", "on", "benches", "."]
    assert {tag for _, tag in nltk.pos_tag(words)} == {"NN"}  # the minimal tagger's only class
    lemmatize = WordNetLemmatizer().lemmatize
    assert [lemmatize(w) for w in ("dogs", "mice", "benches")] == ["dog", "mouse", "bench"]  # WordNet 3.0 noun.exc
    assert lemmatize("sat", "v") == "sit"
