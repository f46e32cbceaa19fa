"""Tasks.

Texts, labels and splits (task); label encoding (labels); readers for user data (readers); the catalog of
named tasks (catalog) and the readers of its packaged files (packaged); binary subtasks (subtasks); data
fingerprints (provenance); tasks whose texts stay on disk (streaming, stream_sources).
"""

from skillneuron_lens.tasks.catalog import (
    TASKS,
    HubSource,
    PackagedSource,
    TaskSpec,
    list_tasks,
    load_task,
    packaged_data_record,
)
from skillneuron_lens.tasks.labelled import (
    LabelledSplit,
    label_id,
    labelled_split,
    labelled_splits,
    split_label_ids,
    split_texts,
)
from skillneuron_lens.tasks.labels import (
    encode_labels,
)
from skillneuron_lens.tasks.packaged import (
    Rows,
    read_bbc_news,
    read_rotten_tomatoes,
    read_subjectivity,
    read_tweets,
    split_sentences,
)
from skillneuron_lens.tasks.provenance import (
    FILE_ROLES,
    check_data,
    data_record,
    file_record,
    task_fingerprint,
)
from skillneuron_lens.tasks.readers import (
    TEXT_JOINER,
    hf_split_parts,
    infer_split_roles,
    is_hf_dataset,
    task_from_dataframe,
    task_from_files,
    task_from_hf_dataset,
    task_from_lists,
)
from skillneuron_lens.tasks.stream_sources import (
    STREAM_FILE_FORMATS,
    DatasetRows,
    FileRows,
    RowSource,
)
from skillneuron_lens.tasks.streaming import (
    READ_WINDOW,
    SAMPLE_EXAMPLES,
    HashSplitRule,
    StreamedSplit,
    StreamedTask,
    StreamedTexts,
    stream_task_from_dataset,
    stream_task_from_files,
)
from skillneuron_lens.tasks.subtasks import (
    SCHEMES,
    Subtask,
    describe_subtasks,
    subtask_targets,
    subtasks_for,
)
from skillneuron_lens.tasks.task import (
    DEFAULT_DEV_FRACTION,
    DEFAULT_TEST_FRACTION,
    SPLIT_NAMES,
    Split,
    Task,
    make_splits,
    split_pool,
)

__all__ = [
    "DEFAULT_DEV_FRACTION",
    "DEFAULT_TEST_FRACTION",
    "DatasetRows",
    "FILE_ROLES",
    "FileRows",
    "HashSplitRule",
    "HubSource",
    "LabelledSplit",
    "PackagedSource",
    "READ_WINDOW",
    "RowSource",
    "Rows",
    "SAMPLE_EXAMPLES",
    "SCHEMES",
    "SPLIT_NAMES",
    "STREAM_FILE_FORMATS",
    "Split",
    "StreamedSplit",
    "StreamedTask",
    "StreamedTexts",
    "Subtask",
    "TASKS",
    "TEXT_JOINER",
    "Task",
    "TaskSpec",
    "check_data",
    "data_record",
    "describe_subtasks",
    "encode_labels",
    "file_record",
    "hf_split_parts",
    "infer_split_roles",
    "is_hf_dataset",
    "list_tasks",
    "load_task",
    "make_splits",
    "packaged_data_record",
    "read_bbc_news",
    "read_rotten_tomatoes",
    "read_subjectivity",
    "read_tweets",
    "split_label_ids",
    "split_pool",
    "split_sentences",
    "split_texts",
    "stream_task_from_dataset",
    "stream_task_from_files",
    "subtask_targets",
    "subtasks_for",
    "task_from_dataframe",
    "task_from_files",
    "task_from_hf_dataset",
    "task_fingerprint",
    "task_from_lists",
    "label_id",
    "labelled_split",
    "labelled_splits",
]
