"""ingest.sentences: sentence spans for passages."""


def test_a_block_longer_than_spacy_allows_is_split_in_pieces(monkeypatch):
    # a file with no paragraph breaks is one block; spaCy refuses texts over 1M characters
    import nordsearch.ingest.sentences as sentences

    text = "Kaupunki rakentaa pyöräteitä. Joukkoliikenne paranee vuosittain. " * 400
    whole = sentences.sentence_spans_many([text], "fi")[0]
    monkeypatch.setattr(sentences, "MAX_PIECE_CHARS", 1000)
    pieces = sentences.sentence_spans_many([text], "fi")[0]
    assert pieces == whole and len(whole) == 800
    assert [text[s:e] for s, e in pieces[:2]] == [
        "Kaupunki rakentaa pyöräteitä.",
        "Joukkoliikenne paranee vuosittain.",
    ]
