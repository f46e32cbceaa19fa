"""Data as users have it: named columns (SST-2's ``sentence``) and TSV files read as GLUE writes them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.readers import task_from_dataframe, task_from_files

USER = Path(__file__).parents[1] / "fixtures" / "tasks" / "user"
SST2_STYLE = USER / "sst2_style.tsv"


def rows_of(task):
    return {
        text: task.label_names[label]
        for split in task.splits.values()
        for text, label in zip(split.texts, split.labels, strict=True)
    }


def test_a_tsv_is_read_verbatim_without_quoting():
    """Every quote stays in its text; a text that is one quote does not swallow the rest of the file."""
    task = task_from_files(SST2_STYLE, text_column="sentence")
    expected = {
        "\"the emperor's club\" is a pleasant surprise ": "1",
        'a " wretched " waste of time ': "0",
        "it 's not bad , but \" not good \" either ": "0",
        'an unflinching , "honest" look ': "1",
        '"': "0",
        "warm , funny and wise ": "1",
        "smug and empty ": "0",
    }
    assert rows_of(task) == expected
    assert task.label_names == ["0", "1"]


def test_named_columns_for_text_label_and_pairs(tmp_path):
    path = tmp_path / "nli.csv"
    path.write_text(
        "premise,hypothesis,gold,id\n"
        + "".join(f"p{k},h{k},{('yes', 'no')[k % 2]},{k}\n" for k in range(10)),
        encoding="utf-8",
    )
    task = task_from_files(path, text_column="premise", pair_column="hypothesis", label_column="gold")
    assert task.label_names == ["no", "yes"] and task.is_pair
    pairs = {
        (text, pair): task.label_names[label]
        for split in task.splits.values()
        for text, pair, label in zip(split.texts, split.text_pairs, split.labels, strict=True)
    }
    assert pairs == {(f"p{k}", f"h{k}"): ("yes", "no")[k % 2] for k in range(10)}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, r"no 'text' column .*columns found: \['sentence', 'label'\].*--text-column"),
        ({"text_column": "text"}, r"no column\(s\) \['text'\]; columns found: \['sentence', 'label'\]"),
        ({"text_column": "sentence", "label_column": "gold"}, r"no column\(s\) \['gold'\].*--label-column"),
        ({"text_column": "sentence", "label_column": "sentence"}, "named for more than one role"),
        ({"pair_column": "label"}, "pair_column needs text_column"),
    ],
)
def test_a_missing_column_lists_the_columns_the_file_has(options, message):
    with pytest.raises(SkillNeuronError, match=message):
        task_from_files(SST2_STYLE, **options)


def test_a_tab_inside_a_text_is_refused_with_its_line(tmp_path):
    path = tmp_path / "tabs.tsv"
    path.write_text("text\tlabel\ngood\t1\nbad\tvery bad\t0\n", encoding="utf-8")
    with pytest.raises(SkillNeuronError, match=r"tabs.tsv line 3 has more fields than the header's 2.*tab"):
        task_from_files(path)


def test_a_csv_row_with_an_extra_field_is_refused(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text("text,label\ngood,1\nbad, very bad,0\n", encoding="utf-8")
    with pytest.raises(SkillNeuronError, match=r"commas.csv line 3 has more fields.*quote fields"):
        task_from_files(path)


def test_a_tsv_with_quoted_fields_warns_that_the_quotes_stay(tmp_path, caplog):
    path = tmp_path / "quoted.tsv"
    path.write_text('text\tlabel\n"good"\t1\n"bad"\t0\nplain\t1\nalso plain\t0\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="skillneuron_lens.tasks.readers"):
        task = task_from_files(path, dev_file=path)
    assert '"good"' in task.train.texts
    assert "2 row(s) have fields wrapped in double quotes (first at " in caplog.text
    assert "quoted.tsv line 2" in caplog.text


def test_the_dataframe_reader_takes_the_same_column_names():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"sentence": [f"s{k}" for k in range(10)], "gold": ["a", "b"] * 5})
    task = task_from_dataframe(frame, text_column="sentence", label_column="gold")
    assert rows_of(task) == {f"s{k}": "ab"[k % 2] for k in range(10)}
    found = r"no column\(s\) \['text'\]; columns found: \['sentence', 'gold'\]"
    with pytest.raises(SkillNeuronError, match=found):
        task_from_dataframe(frame, label_column="gold")
