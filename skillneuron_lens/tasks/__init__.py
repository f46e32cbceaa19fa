"""Tasks.

Texts, labels and splits; readers for user data; the catalog of named tasks; binary subtasks; data
fingerprints.
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
from skillneuron_lens.tasks.labelled import LabelledSplit, label_id, labelled_split
from skillneuron_lens.tasks.provenance import (
    FILE_ROLES,
    check_data,
    data_record,
    file_record,
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
    infer_split_roles,
    make_splits,
    split_pool,
    task_from_dataframe,
    task_from_files,
    task_from_hf_dataset,
    task_from_lists,
)

__all__ = [
    "DEFAULT_DEV_FRACTION",
    "DEFAULT_TEST_FRACTION",
    "FILE_ROLES",
    "HubSource",
    "LabelledSplit",
    "PackagedSource",
    "SCHEMES",
    "SPLIT_NAMES",
    "Split",
    "Subtask",
    "TASKS",
    "Task",
    "TaskSpec",
    "check_data",
    "data_record",
    "describe_subtasks",
    "file_record",
    "infer_split_roles",
    "list_tasks",
    "load_task",
    "make_splits",
    "packaged_data_record",
    "split_pool",
    "subtask_targets",
    "subtasks_for",
    "task_from_dataframe",
    "task_from_files",
    "task_from_hf_dataset",
    "task_from_lists",
    "label_id",
    "labelled_split",
]
