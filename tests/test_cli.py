import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from helpers import ICECAT_SLICE
from shopsearch.cli.main import cli


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli") / "data"
    result = CliRunner().invoke(
        cli, ["index", str(ICECAT_SLICE), "--data-dir", str(data), "--map", "brand=supplier",
              "--map", "description=name,short_description", "--price-scale", "0.01", "--batch-size", "100"]
    )
    assert result.exit_code == 0, result.output
    assert "committed batch 3: 13 items (213 so far, " in result.output and " items/s)" in result.output
    return data


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_search_prints_ranked_explained_results(indexed):
    result = run("search", "aa battery", "--data-dir", indexed, "--k", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("3 results for 'aa battery' (hybrid")
    assert "keyword #1" in result.output and "matched title:" in result.output


def test_search_json_with_filters(indexed):
    result = run("search", "bag", "--data-dir", indexed, "--json", "--mode", "keyword",
                 "--filter", "price<=40", "--filter", "brand=Case Logic,Targus")
    assert result.exit_code == 0, result.output
    response = json.loads(result.output)
    assert response["mode"] == "keyword" and response["results"]
    for hit in response["results"]:
        assert hit["item"]["price"] <= 40 and hit["item"]["brand"] in ("Case Logic", "Targus")
        assert hit["explanation"]["keyword_rank"] >= 1


def test_batch_queries_keep_file_order(indexed, tmp_path):
    queries = ["usb stick", "camera bag", "bluetooth speaker", "usb stick"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(queries) + "\n")
    result = run("search", "--queries", path, "--data-dir", indexed, "--k", "2")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["query"] for line in lines] == queries
    assert all(len(line["results"]) == 2 and {"id", "score"} <= set(line["results"][0]) for line in lines)
    assert lines[0]["results"] == lines[3]["results"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["search", "x", "--filter", "price<=cheap"], "not a number"),
        (["search", "x", "--mode", "fuzzy"], "fuzzy"),
        (["search"], "either a QUERY or --queries"),
        (["search", "x", "--k", "0"], "0"),
    ],
)
def test_search_usage_errors(indexed, args, message):
    result = run(*args, "--data-dir", indexed)
    assert result.exit_code == 2 and message in result.output


def test_search_on_a_missing_directory(tmp_path):
    result = run("search", "x", "--data-dir", tmp_path / "none")
    assert result.exit_code == 1 and "no shopsearch index" in result.output


def test_stats(indexed):
    result = run("stats", "--data-dir", indexed, "--json")
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["items"] == 213 and stats["model"]["dim"] == 384
    assert "items          213" in run("stats", "--data-dir", indexed).output


def test_index_reports_bad_records_and_exit_code(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "title": "ok"}\n{"id": "2"}\nnot json\n{"id": "3", "title": "fine", "price": "x"}\n{"id": "4", "title": "ok too"}\n')
    result = run("index", path, "--data-dir", tmp_path / "d")
    assert result.exit_code == 1
    assert f"skipped {path}:2: missing title" in result.output
    assert f"skipped {path}:3: not JSON" in result.output
    assert f"skipped {path}:4: unparsable price 'x'" in result.output
    assert "indexed 2 items" in result.output and "skipped 3 bad records" in result.output


def test_index_usage_and_file_errors(tmp_path):
    assert run("index", tmp_path / "nope.jsonl", "--data-dir", tmp_path / "d").exit_code == 1
    result = run("index", ICECAT_SLICE, "--data-dir", tmp_path / "d", "--map", "colour=x")
    assert result.exit_code == 2 and "not one of" in result.output


def test_delete_then_upsert_again(tmp_path):
    data = tmp_path / "d"
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "title": "walnut desk"}\n{"id": "2", "title": "oak chair"}\n')
    assert run("index", path, "--data-dir", data).exit_code == 0
    result = run("delete", "1", "missing", "--data-dir", data)
    assert result.exit_code == 1 and "deleted 1 items" in result.output and "not found: missing" in result.output
    search = json.loads(run("search", "walnut desk", "--data-dir", data, "--json").output)
    assert [h["id"] for h in search["results"]] == ["2"]
    assert run("index", path, "--data-dir", data).exit_code == 0  # upsert by id: no duplicates
    assert json.loads(run("stats", "--data-dir", data, "--json").output)["items"] == 2


def test_demo_runs_end_to_end_as_installed():
    result = subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "demo", "--no-serve"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "indexed 400 sample products" in result.stdout
    assert "results for 'wireless mouse'" in result.stdout and "results for '蓝牙音箱'" in result.stdout


def test_errors_name_the_option_at_fault(tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("laptop\n")
    # `--data-dir $EMPTY --queries FILE`: the directory option must not swallow the next option.
    swallowed = run("search", "--data-dir", "--queries", queries)
    assert swallowed.exit_code == 2 and "--data-dir" in swallowed.output and "--queries holds" not in swallowed.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run("search", "--data-dir", empty, "--queries", queries)
    assert missing.exit_code == 1 and f"{empty} holds no shopsearch index" in missing.output


def test_a_bad_setting_is_a_one_line_error(indexed, monkeypatch):
    monkeypatch.setenv("SHOPSEARCH_SEARCH__FUSION", "borda")
    result = run("search", "bag", "--data-dir", indexed)
    assert result.exit_code == 1 and "SHOPSEARCH_SEARCH__FUSION='borda'" in result.output and "Traceback" not in result.output


def test_search_reads_price_wording_and_sorts(indexed):
    result = run("search", "bag under 30", "--data-dir", indexed, "--json", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    response = json.loads(result.output)
    assert response["understood"]["text"] == "bag" and response["understood"]["filters"] == {"price": {"lt": 30.0}}
    assert response["results"] and all(hit["item"]["price"] < 30 for hit in response["results"])
    text = run("search", "bag under 30", "--data-dir", indexed, "--mode", "keyword")
    assert "understood: 'bag'; price lt 30" in text.output
    plain = json.loads(run("search", "bag under 30", "--data-dir", indexed, "--json", "--no-understand").output)
    assert "understood" not in plain
    cheap = json.loads(run("search", "bag", "--data-dir", indexed, "--json", "--sort", "price:asc").output)
    prices = [hit["item"]["price"] for hit in cheap["results"]]
    assert prices == sorted(prices)
    bad = run("search", "bag", "--data-dir", indexed, "--sort", "colour:asc")
    assert bad.exit_code != 0 and "unknown sort field 'colour'" in bad.output


def test_synonyms_set_list_clear_and_a_bad_file_applies_nothing(indexed, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(indexed, data)
    (data / "LOCK").unlink(missing_ok=True)
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("# ours\nlaptop => notebook\ntv, television\n")
    bad.write_text("tv, television\nlaptop\n")
    assert run("synonyms", "set", good, "--data-dir", data).output.startswith("2 synonym entries set")
    refused = run("synonyms", "set", bad, "--data-dir", data)
    assert refused.exit_code == 1 and "line 2:" in refused.output and "nothing was applied" in refused.output
    assert run("synonyms", "list", "--data-dir", data).output == "laptop => notebook\ntv, television\n"
    assert run("synonyms", "--data-dir", data, "list").output == "laptop => notebook\ntv, television\n"  # as the issue writes it
    assert run("synonyms", "list").exit_code == 2 and "give --data-dir DIR" in run("synonyms", "list").output
    searched = json.loads(run("search", "laptop", "--data-dir", data, "--json", "--mode", "keyword").output)
    assert searched["understood"]["synonyms"] == [{"phrase": "laptop", "alternatives": ["notebook"]}]
    assert run("synonyms", "clear", "--data-dir", data).exit_code == 0
    assert run("synonyms", "list", "--data-dir", data).output == ""


def test_rules_set_list_delete_clear_and_a_bad_file_applies_nothing(indexed, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(indexed, data)
    (data / "LOCK").unlink(missing_ok=True)
    plain = json.loads(run("search", "aa battery", "--data-dir", data, "--json", "--mode", "keyword").output)["results"]
    last = plain[-1]["id"]
    good, bad = tmp_path / "rules.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"rules": [{"id": "pin", "when": {"contains": "battery"}, "actions": [{"pin": last}]},
                                          {"id": "other", "when": {"always": True}, "actions": [{"hide": "nothing-like-it"}]}]}))
    refused = run("rules", "set", good, "--data-dir", data)
    assert refused.exit_code == 1 and "'nothing-like-it'" in refused.output and "nothing was applied" in refused.output
    rules = json.loads(good.read_text())["rules"][:1]
    good.write_text(json.dumps(rules))
    bad.write_text("[{")
    assert run("rules", "--data-dir", data, "set", good).output.startswith("1 rules set")
    assert "not JSON" in run("rules", "set", bad, "--data-dir", data).output
    assert json.loads(run("rules", "list", "--data-dir", data).output) == {"rules": rules}
    printed = run("search", "aa battery", "--data-dir", data, "--mode", "keyword")
    assert "rules fired: pin" in printed.output and f"{last}" in printed.output.splitlines()[2]
    assert run("rules", "delete", "ghost", "--data-dir", data).exit_code == 1
    assert run("rules", "delete", "pin", "--data-dir", data).exit_code == 0
    assert json.loads(run("rules", "list", "--data-dir", data).output) == {"rules": []}
    assert run("rules", "clear", "--data-dir", data).exit_code == 0


def test_similar_lists_the_nearest_items_but_the_item(indexed):
    first = json.loads(run("search", "aa battery", "--data-dir", indexed, "--json", "--k", "1").output)["results"][0]
    found = json.loads(run("similar", first["id"], "--data-dir", indexed, "--json", "--k", "5").output)["results"]
    assert len(found) == 5 and first["id"] not in [h["id"] for h in found]
    assert run("similar", "ghost", "--data-dir", indexed).exit_code == 1


def test_snapshot_then_restore_answers_the_same(indexed, tmp_path):
    def answers(data):
        return [json.loads(run("search", q, "--data-dir", data, "--json").output)["results"] for q in ("aa battery", "bag")]

    taken = run("snapshot", tmp_path / "snap", "--data-dir", indexed)
    assert taken.exit_code == 0 and "213 items" in taken.output and "last saved" not in taken.output, taken.output
    restored = run("restore", tmp_path / "snap", "--data-dir", tmp_path / "restored")
    assert restored.exit_code == 0 and "restored 213 items" in restored.output, restored.output
    assert answers(tmp_path / "restored") == answers(indexed)
    again = run("restore", tmp_path / "snap", "--data-dir", tmp_path / "restored")
    assert again.exit_code == 1 and "not empty" in again.output


def test_suggest_completes_a_prefix_from_the_catalogue(indexed):
    result = run("suggest", "blueto", "--data-dir", indexed, "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert found and all(s["text"].lower().startswith("blueto") or " blueto" in s["text"].lower() for s in found)


def test_train_ranker_from_events_installs_only_a_ranker_that_beats_fusion(indexed, tmp_path):
    import random
    import shutil
    import time

    from helpers import FIXTURES
    from shopsearch.behaviour import Event, SearchRecord, SqliteEventStore

    data = tmp_path / "data"
    shutil.copytree(indexed, data)
    (data / "LOCK").unlink(missing_ok=True)
    grades: dict[str, dict[str, float]] = {}
    for line in (FIXTURES / "icecat_slice_ratings.csv").read_text().splitlines()[1:]:
        query, doc, rating = line.rsplit(",", 2)
        grades.setdefault(query, {})[doc] = float(rating)
    rng = random.Random(0)
    with SqliteEventStore(data / "events.sqlite") as store:  # simulated shoppers: clicks by grade, fewer further down
        for query, judged in grades.items():
            for n in range(12):
                shown = list(judged)
                rng.shuffle(shown)
                query_id = f"{query}-{n}"
                store.log_search(SearchRecord(query_id, query, None, None, tuple(shown[:10]), len(shown), time.time()))
                store.add_events([Event("click", query_id, doc, i + 1, None, time.time()) for i, doc in enumerate(shown[:10])
                                  if rng.random() < judged[doc] / 3 / (i + 1) ** 0.5])
    usage = run("train-ranker", "--data-dir", data)
    assert usage.exit_code == 2 and "either --judgments FILE or --from-events" in usage.output
    result = run("train-ranker", "--data-dir", data, "--from-events", "--folds", "2")
    assert result.exit_code == 0, result.output
    assert "learned ranker (cross-validated)" in result.output and "hybrid (fusion)" in result.output
    installed = (data / "ranker.txt").exists()
    assert installed == ("saved the ranker" in result.output) and installed != ("not installed" in result.output)
