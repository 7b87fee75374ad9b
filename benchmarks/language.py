"""Benchmark: what detecting the documents' languages (bonito_hub.language) costs a run, against
the same steps without it in the same run.

1. One document, by length: `language.detect` (a sample of SAMPLE_CHARS characters in windows)
   against py3langid on the whole text, the baseline a plain call would be.
2. The chunks of a run: `GenerationRun.chunk_passages` over every chunk of --documents documents
   (cut into passages with the benchmarks' BPE tokenizer), with detection, and with `detect`
   replaced by a constant (the run as it was before detection).
3. The survey before the model loads: `language.survey` on a corpus of --survey-documents.

The documents are made-up words (benchmarks/generate.py), of 200 to 2,000 words: the cost does
not depend on which language the text is in, only on its length.

    python benchmarks/language.py [--documents 20000] [--survey-documents 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def documents(n: int, seed: int = 0) -> list[str]:
    from generate import made_up_words

    rng, vocab = random.Random(seed), made_up_words()
    out = []
    for _ in range(n):
        words = rng.choices(vocab, k=rng.randint(200, 2000))
        for i in range(rng.randint(8, 20), len(words), rng.randint(8, 20)):
            words[i] += "."
        out.append(" ".join(words))
    return out


def per_document() -> None:
    from bonito_hub import language

    identifier = language._identifier()
    text = " ".join(documents(60, seed=1))
    for size in (1_000, 10_000, 100_000):
        piece = text[:size]
        reps = max(3, 200_000 // size)
        began = time.perf_counter()
        for _ in range(reps):
            language.detect(piece)
        ours = (time.perf_counter() - began) / reps
        began = time.perf_counter()
        for _ in range(reps):
            identifier.classify(piece)
        whole = (time.perf_counter() - began) / reps
        print(f"one document of {size:>7,} characters: detect {1000 * ours:6.2f} ms; py3langid on all of it "
              f"{1000 * whole:6.2f} ms")


def chunks(n: int) -> None:
    import datasets

    from bonito_hub import language
    from bonito_hub.generate.config import RunConfig
    from bonito_hub.generate.run import GenerationRun
    from bonito_hub.testing.engines import ScriptedEngine
    from generate import bpe_tokenizer

    docs = documents(n)
    texts = datasets.Dataset.from_dict({"text": docs})
    engine = ScriptedEngine(tokenizer=bpe_tokenizer(docs[:2000]), max_context=2048)
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        run = GenerationRun(engine, texts, Path(out) / "run", RunConfig(task_type="exqa", max_passage_tokens=400))

        def all_chunks() -> tuple[float, int]:
            began, passages = time.perf_counter(), 0
            for k in range(run.folder.n_chunks):
                passages += len(run.chunk_passages(k)[0])
            return time.perf_counter() - began, passages

        original = language.detect
        language.detect = lambda text: "en"
        try:
            baseline, passages = all_chunks()
        finally:
            language.detect = original
        ours, again = all_chunks()
    assert again == passages
    print(f"{n:,} documents ({passages:,} passages, {run.folder.n_chunks} chunks) cut: {baseline:.1f} s without "
          f"detection, {ours:.1f} s with it (+{ours - baseline:.1f} s, {100 * (ours - baseline) / baseline:.0f}%, "
          f"{1000 * (ours - baseline) / n:.2f} ms a document)")


def survey(n: int) -> None:
    import datasets

    from bonito_hub import language

    base = documents(1000, seed=2)
    texts = datasets.Dataset.from_dict({"text": [base[i % len(base)] for i in range(n)]})
    began = time.perf_counter()
    counts = language.survey(texts, "text", ("en",), "bonito-v1's", None)
    print(f"survey of {n:,} documents before the model loads: {time.perf_counter() - began:.2f} s "
          f"({sum(counts.values())} judged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--survey-documents", type=int, default=100_000)
    args = parser.parse_args()
    per_document()
    chunks(args.documents)
    survey(args.survey_documents)


if __name__ == "__main__":
    main()
