import json

import pytest
from click.testing import CliRunner

from helpers import FIXTURES, ICECAT_SLICE
from shopsearch.cli.main import cli
from shopsearch.eval.evaluator import METRICS, evaluate, parse_sweeps, wins_and_losses
from shopsearch.eval.judgments import InvalidJudgments, load_judgments

RATINGS = FIXTURES / "icecat_slice_ratings.csv"


def test_csv_judgments():
    judged = load_judgments(RATINGS)
    assert set(judged) == {"laptop bag", "aa battery", "bluetooth speaker", "usb stick", "camera bag"}
    assert all(0 <= g <= 3 for docs in judged.values() for g in docs.values())


def test_trec_qrels_with_a_queries_file(tmp_path):
    (tmp_path / "q.tsv").write_text("q1\tlaptop bag\nq2\tcamera bag\n")
    (tmp_path / "qrels").write_text("q1 0 3149234 3\nq1 0 1996693 0\nq2 0 12 1\n")
    assert load_judgments(tmp_path / "qrels", tmp_path / "q.tsv") == {
        "laptop bag": {"3149234": 3.0, "1996693": 0.0}, "camera bag": {"12": 1.0}}


@pytest.mark.parametrize("content,message", [
    ("q,d,r\nx,1,2\n", "header"),
    ("query,docid,rating\nx,1,good\n", ":2: rating 'good'"),
    ("query,docid,rating\nx,1,-1\n", "negative"),
    ("query,docid,rating\n", "no judgments"),
])
def test_bad_judgment_files(tmp_path, content, message):
    path = tmp_path / "j.csv"
    path.write_text(content)
    with pytest.raises(InvalidJudgments, match=message):
        load_judgments(path)


def test_trec_errors(tmp_path):
    (tmp_path / "q.tsv").write_text("q1\tlaptop bag\n")
    (tmp_path / "qrels").write_text("q9 0 1 1\n")
    with pytest.raises(InvalidJudgments, match="'q9' is not in"):
        load_judgments(tmp_path / "qrels", tmp_path / "q.tsv")


def test_sweeps_are_a_cartesian_product():
    configs = parse_sweeps(["mode=keyword,hybrid", "vector_weight=0.2,0.5"], {"fusion": "rrf"})
    assert len(configs) == 4 and {"fusion": "rrf", "mode": "hybrid", "vector_weight": 0.5} in configs
    assert parse_sweeps([]) == [{}]
    for bad in (["mode"], ["colour=red"], ["rrf_k=abc"], ["dims=64,128"]):
        with pytest.raises(ValueError):
            parse_sweeps(bad)


def test_evaluate_scores_the_engine_and_finds_wins(icecat_engine):
    judged = load_judgments(RATINGS)
    keyword = evaluate(icecat_engine, judged, {"mode": "keyword"})
    vector = evaluate(icecat_engine, judged, {"mode": "vector"})
    summary = keyword.summary()
    assert list(summary) == ["queries", "uninformative_queries", "gain", *METRICS] and summary["queries"] == 5
    assert summary["uninformative_queries"] == 0 and summary["gain"] == "exponential"
    assert summary["ndcg@10"] > 0.5  # the slice holds the judged products: keyword search finds them
    wins, losses = wins_and_losses(vector, keyword)
    assert all(d > 0 for _, d in wins) and all(d < 0 for _, d in losses)


def test_eval_cli_json_and_report(tmp_path):
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(cli, ["index", str(ICECAT_SLICE), "--data-dir", str(data), "--map", "brand=supplier"]).exit_code == 0
    result = runner.invoke(cli, ["eval", "--data-dir", str(data), "--judgments", str(RATINGS), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {"queries", "uninformative_queries", "gain", "ndcg@10", "mrr@10", "recall@100", "map@100",
                            "judged@10"}
    assert summary["gain"] == "exponential"
    # A query whose every judgment is 0 is left out of the averages and counted; the gain is named.
    extra = tmp_path / "ratings.csv"
    extra.write_text(RATINGS.read_text() + "nothing relevant here,1993197,0\n")
    linear = runner.invoke(cli, ["eval", "--data-dir", str(data), "--judgments", str(extra), "--json", "--gain", "linear"])
    assert linear.exit_code == 0, linear.output
    counted = json.loads(linear.output.strip().splitlines()[-1])
    assert counted["queries"] == 5 and counted["uninformative_queries"] == 1 and counted["gain"] == "linear"
    assert counted["mrr@10"] == summary["mrr@10"]  # the uninformative query does not pull the mean down
    text_out = runner.invoke(cli, ["eval", "--data-dir", str(data), "--judgments", str(extra)]).output
    assert "5 judged queries with a relevant judgment; 1 with none, left out of the averages; nDCG gain exponential" in text_out
    report = tmp_path / "report"
    result = runner.invoke(cli, ["eval", "--data-dir", str(data), "--judgments", str(RATINGS),
                                 "--sweep", "mode=keyword,vector,hybrid", "--report", str(report)])
    assert result.exit_code == 0, result.output
    text = (report / "report.md").read_text()
    assert "nDCG gain: exponential." in text and "| mode=keyword | 5 |" in text and "mode=vector: per-query nDCG@10 against mode=keyword" in text
    assert (report / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads((report / "results.json").read_text())) == 3
    bad = runner.invoke(cli, ["eval", "--data-dir", str(data), "--judgments", str(RATINGS), "--sweep", "colour=red"])
    assert bad.exit_code == 2 and "colour" in bad.output


def test_train_ranker_cross_validates_saves_and_search_uses_it(tmp_path):
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(cli, ["index", str(ICECAT_SLICE), "--data-dir", str(data), "--map", "brand=supplier",
                               "--map", "description=name,short_description"]).exit_code == 0
    dry = runner.invoke(cli, ["train-ranker", "--data-dir", str(data), "--judgments", str(RATINGS), "--folds", "2", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "learned ranker (cross-validated)" in dry.output and not (data / "ranker.txt").exists()
    result = runner.invoke(cli, ["train-ranker", "--data-dir", str(data), "--judgments", str(RATINGS), "--folds", "2"])
    assert result.exit_code == 0, result.output
    assert (data / "ranker.txt").exists() and "saved the ranker" in result.output
    response = json.loads(runner.invoke(cli, ["search", "camera bag", "--data-dir", str(data), "--json"]).output)
    scores = [hit["explanation"]["ranker_score"] for hit in response["results"]]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    keyword = json.loads(runner.invoke(cli, ["search", "camera bag", "--data-dir", str(data), "--json", "--mode", "keyword"]).output)
    assert all(hit["explanation"]["ranker_score"] is None for hit in keyword["results"])
    stats = json.loads(runner.invoke(cli, ["stats", "--data-dir", str(data), "--json"]).output)
    assert set(stats["ranker"]) == {"keyword", "hybrid", "ranker"}


def test_ranker_without_a_trained_one_is_a_clear_error(icecat_engine):
    from shopsearch import InvalidRequest

    with pytest.raises(InvalidRequest, match="train-ranker") as err:
        icecat_engine.search("bag", ranker=True)
    assert err.value.param == "ranker"


def test_a_ranker_trained_on_other_features_is_not_used(tmp_path, open_engine, icecat_items):
    engine = open_engine(tmp_path / "d")
    engine.upsert(icecat_items[:30])
    engine.close()
    (tmp_path / "d" / "ranker.txt").write_text("tree\n")
    (tmp_path / "d" / "ranker.json").write_text(json.dumps({"features": ["old_feature"]}))
    again = open_engine(tmp_path / "d")
    assert "other features" in again.ranker_problem
    assert again.search("battery", k=3).hits  # search still works, by fusion
